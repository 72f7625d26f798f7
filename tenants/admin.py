from django.contrib import admin, messages

from privexbot.admin_base import ViewOnly
from tenants.models import ApiToken, Invitation, Membership, Organization, UserSecurity, Workspace
from tenants.tokens import api_token_revoke


class WorkspaceInline(admin.TabularInline):
    model = Workspace
    extra = 0
    fields = ("name", "slug", "created_at")
    readonly_fields = ("created_at",)
    show_change_link = True


class MembershipInline(ViewOnly, admin.TabularInline):
    """Read-only: members are invited, re-roled and removed on the workspace page or through the API, where the
    rules (the last owner stays, only owners make owners) and the audit trail live (tenants/members.py)."""

    model = Membership
    extra = 0
    fields = ("user", "role", "created_at")
    readonly_fields = fields

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "mfa_required", "created_at")
    search_fields = ("name", "slug")
    # "MFA required" is switched by an owner on the workspace page (audited, tenants/identity/services.py).
    readonly_fields = ("id", "mfa_required", "created_at")
    inlines = [WorkspaceInline]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "slug", "created_at")
    list_filter = ("organization",)
    list_select_related = ("organization",)
    search_fields = ("name", "slug", "organization__name")
    # The retention policy changes through tenants.retention (owners and admins, audited): the workspace page, the API.
    readonly_fields = ("id", "created_at", "retention_days", "retention_basis")
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(ViewOnly, admin.ModelAdmin):
    """Read-only for the reason given on MembershipInline."""

    list_display = ("user", "workspace", "role", "created_at")
    list_filter = ("role", "workspace__organization")
    list_select_related = ("user", "workspace__organization")
    search_fields = ("user__username", "user__email", "workspace__name", "workspace__organization__name")

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created with `manage.py create_api_token` or in the UI (shown once); here they are reviewed
    and revoked. Only the hash is stored, so nothing secret is displayed."""

    list_display = ("prefix", "user", "name", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at", "expires_at")
    list_select_related = ("user",)
    search_fields = ("prefix", "name", "user__username")
    readonly_fields = (
        "id", "user", "prefix", "token_hash", "scopes", "kb_ids", "created_by_token", "created_at", "expires_at",
        "last_used_at", "revoked_at",
    )  # fmt: skip
    fields = ("name", *readonly_fields)
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        tokens = list(queryset.filter(revoked_at__isnull=True))
        for token in tokens:
            api_token_revoke(token=token, user=request.user, request=request)
        self.message_user(request, f"{len(tokens)} token(s) revoked.", messages.SUCCESS)


@admin.register(Invitation)
class InvitationAdmin(ViewOnly, admin.ModelAdmin):
    """Invitations are sent, resent and revoked on the workspace page (tenants/invitations.py); only the
    token's hash is stored, so nothing here lets anyone accept one."""

    list_display = ("email", "workspace", "role", "created_at", "expires_at", "accepted_at", "revoked_at")
    list_filter = ("role", "accepted_at", "revoked_at")
    list_select_related = ("workspace__organization",)
    search_fields = ("email", "workspace__name")
    exclude = ("token_hash",)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UserSecurity)
class UserSecurityAdmin(ViewOnly, admin.ModelAdmin):
    list_display = ("user", "sessions_valid_after")
    search_fields = ("user__username",)

    def has_delete_permission(self, request, obj=None):
        return False
