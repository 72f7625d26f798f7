from django.utils import timezone
from rest_framework import serializers

from tenants.models import ROLE_PERMISSIONS


class WorkspaceSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    organization_id = serializers.UUIDField()
    organization_name = serializers.CharField(source="organization.name")
    role = serializers.CharField()
    permissions = serializers.SerializerMethodField()

    def get_permissions(self, workspace) -> list[str]:
        return sorted(ROLE_PERMISSIONS[workspace.role])


class TokenSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="the token's first characters, to recognise it")
    status = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)

    def get_status(self, token) -> str:
        if token.revoked_at is not None:
            return "revoked"
        return "expired" if token.expires_at and token.expires_at <= timezone.now() else "active"


class NewTokenSerializer(TokenSerializer):
    token = serializers.CharField(help_text="shown once: only a hash is stored")


class TokenCreateRequest(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    expires_in_days = serializers.IntegerField(min_value=1, max_value=3650, required=False, allow_null=True)
