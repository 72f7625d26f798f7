"""`represent`: what `Serializer(objects, many=True).data` gives for output-only serializers of plain fields, without
DRF's per-call cost. DRF deep-copies every declared field for each serializer instance and the caller usually
builds dicts first (`dataclasses.asdict` deep-copies again): for a search response of 10 hits that was about as much
CPU as the keyword search itself. The converters are read from the serializer's declared fields once, so a field
added there is represented here too; a field of a kind not listed falls back to the serializer itself, so the
output never differs (tests/api/test_search_queries.py compares both on real results)."""

from __future__ import annotations

from functools import cache

from rest_framework import serializers

_SCALARS = {
    serializers.IntegerField: int,
    serializers.FloatField: float,
    serializers.CharField: str,
    serializers.UUIDField: str,  # the default 'hex_verbose' format: str(value)
}


def _converter(field):
    """A function value -> representation for `field`, or None when only DRF knows how to represent it."""
    kind = type(field)
    if kind in _SCALARS and getattr(field, "uuid_format", "hex_verbose") == "hex_verbose":
        return _SCALARS[kind]
    if kind is serializers.DictField and type(field.child).__name__ == "_UnvalidatedField":
        return lambda value: {str(key): item for key, item in value.items()}
    if kind is serializers.ListField and (child := _converter(field.child)) is not None:
        return lambda value: [None if item is None else child(item) for item in value]
    if isinstance(field, serializers.ListSerializer) and isinstance(field.child, serializers.Serializer):
        plan = _plan(type(field.child))
        return (lambda value: [_row(plan, item) for item in value]) if plan is not None else None
    return None


@cache
def _plan(serializer_class) -> tuple | None:
    """((name, converter), ...) for every field of the serializer, or None when one needs DRF."""
    plan = []
    for name, field in serializer_class().fields.items():
        if field.source not in (name, None) or field.write_only:
            return None
        converter = _converter(field)
        if converter is None:
            return None
        plan.append((name, converter))
    return tuple(plan)


def _row(plan, obj) -> dict:
    get = obj.get if isinstance(obj, dict) else lambda name: getattr(obj, name)
    row = {}
    for name, converter in plan:
        value = get(name)
        row[name] = None if value is None else converter(value)
    return row


def represent(serializer_class, objects, *, to_dict=None) -> list:
    """`serializer_class(objects, many=True).data` for objects (or dicts) carrying every field by name.
    `to_dict`: how to make the serializer's input when falling back to it (e.g. a dataclass's asdict)."""
    plan = _plan(serializer_class)
    if plan is None:
        items = [to_dict(o) for o in objects] if to_dict is not None else objects
        return serializer_class(items, many=True).data
    return [_row(plan, obj) for obj in objects]
