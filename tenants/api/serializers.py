from django.utils import timezone
from rest_framework import serializers

from tenants.models import ROLE_PERMISSIONS, Scope
from tenants.tokens import effective_scope


class WorkspaceSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    organization_id = serializers.UUIDField()
    organization_name = serializers.CharField(source="organization.name")
    role = serializers.CharField()
    permissions = serializers.SerializerMethodField()
    retention_days = serializers.IntegerField(allow_null=True, help_text="the KBs' default policy; null: forever")
    retention_basis = serializers.CharField(help_text="uploaded | updated: what retention_days counts from")

    def get_permissions(self, workspace) -> list[str]:
        return sorted(ROLE_PERMISSIONS[workspace.role])


class TokenSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="the token's first characters, to recognise it")
    status = serializers.SerializerMethodField()
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices))
    scope = serializers.SerializerMethodField(help_text="the effective scope: the highest of `scopes`")
    kb_ids = serializers.ListField(
        child=serializers.UUIDField(), help_text="the knowledge bases it is limited to; empty: all its user may read"
    )
    created_by_token_id = serializers.UUIDField(allow_null=True, help_text="the key that created it, if any")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)

    def get_status(self, token) -> str:
        if token.revoked_at is not None:
            return "revoked"
        return "expired" if token.expires_at and token.expires_at <= timezone.now() else "active"

    def get_scope(self, token) -> str:
        return effective_scope(token.scopes)


class NewTokenSerializer(TokenSerializer):
    token = serializers.CharField(help_text="shown once: only a hash is stored")


class TokenCreateRequest(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=Scope.choices), min_length=1, max_length=len(Scope.values),
        required=False,
        help_text="search < read < write < admin; the highest counts. Default: read (never wider than the calling "
        "key).",
    )  # fmt: skip
    kb_ids = serializers.ListField(
        child=serializers.UUIDField(), max_length=200, required=False,
        help_text="limit the key to these knowledge bases. Default: none (all), or the calling key's list.",
    )  # fmt: skip
    expires_in_days = serializers.IntegerField(
        min_value=1, max_value=3650, required=False, allow_null=True,
        help_text="at most API_TOKEN_MAX_DAYS, which is also the default (never past the calling key's expiry)",
    )  # fmt: skip
    never_expires = serializers.BooleanField(
        required=False, default=False, help_text="only when API_TOKEN_ALLOW_NEVER_EXPIRES is on"
    )
