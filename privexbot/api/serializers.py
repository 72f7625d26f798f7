"""Shared request-parsing pieces for the API's serializers."""

from __future__ import annotations

import json

from rest_framework import serializers

MAX_METADATA_CHARS = 10_000


def validated(serializer_class, data, **context) -> dict:
    """Validate request data with a serializer; a bad field raises a 400 that names it."""
    serializer = serializer_class(data=data, context=context)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _check_size(value: dict) -> dict:
    text = json.dumps(value, default=str)
    if len(text) > MAX_METADATA_CHARS:
        raise serializers.ValidationError(f"must be at most {MAX_METADATA_CHARS} characters as JSON")
    if "\\u0000" in text:  # PostgreSQL cannot store NUL in text or jsonb
        raise serializers.ValidationError("must not contain NUL characters")
    return value


class JSONObjectField(serializers.DictField):
    """A JSON object of at most MAX_METADATA_CHARS characters (metadata, configs, filters)."""

    def to_internal_value(self, data):
        return _check_size(super().to_internal_value(data))


class JSONStringObjectField(serializers.CharField):
    """A JSON object sent as a string in a multipart form (the upload's `metadata`)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_METADATA_CHARS)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        if not text.strip():
            return {}
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise serializers.ValidationError(f"must be a JSON object: {exc}") from None
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be a JSON object")
        return _check_size(value)
