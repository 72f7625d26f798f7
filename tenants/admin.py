from django.contrib import admin, messages

from tenants.models import ApiToken, Membership, Organization, Workspace
from tenants.services import api_token_revoke


class WorkspaceInline(admin.TabularInline):
    model = Workspace
    extra = 0
    fields = ("name", "slug", "created_at")
    readonly_fields = ("created_at",)
    show_change_link = True


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    readonly_fields = ("id", "created_at")
    inlines = [WorkspaceInline]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "slug", "created_at")
    list_filter = ("organization",)
    list_select_related = ("organization",)
    search_fields = ("name", "slug", "organization__name")
    readonly_fields = ("id", "created_at")
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "workspace", "role", "created_at")
    list_filter = ("role", "workspace__organization")
    list_select_related = ("user", "workspace__organization")
    search_fields = ("user__username", "user__email", "workspace__name", "workspace__organization__name")
    autocomplete_fields = ("user", "workspace")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created with `manage.py create_api_token` or in the UI (shown once); here they are reviewed
    and revoked. Only the hash is stored, so nothing secret is displayed."""

    list_display = ("prefix", "user", "name", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at", "expires_at")
    list_select_related = ("user",)
    search_fields = ("prefix", "name", "user__username")
    readonly_fields = ("id", "user", "prefix", "token_hash", "created_at", "expires_at", "last_used_at", "revoked_at")
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
