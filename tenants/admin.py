from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.template.response import TemplateResponse

from privexbot.admin_base import DeleteThroughService, ViewOnly
from privexbot.errors import ServiceError
from tenants.erasure import user_erase
from tenants.models import ApiToken, Invitation, Membership, Organization, UserSecurity, Workspace
from tenants.tokens import api_token_revoke
from tenants.workspaces import organization_delete, workspace_delete

User = get_user_model()


class WorkspaceInline(admin.TabularInline):
    model = Workspace
    extra = 0
    fields = ("name", "slug", "created_at")
    readonly_fields = ("created_at",)
    show_change_link = True
    can_delete = False  # a workspace is deleted on its own delete page, through workspace_delete


class ServiceOwnsTheCascade:
    """The delete service removes the KBs, documents, chunks, drafts, memberships and invitations itself (and
    checks who may); their own admins refusing deletes (view-only rows) must not block deleting the parent."""

    def get_deleted_objects(self, objs, request):
        to_delete, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        return to_delete, model_count, set(), protected


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
class OrganizationAdmin(DeleteThroughService, ServiceOwnsTheCascade, admin.ModelAdmin):
    """Deleting goes through tenants.workspaces.organization_delete: every KB with its receipt and shredded
    files, every draft, audited; a legal hold anywhere in the organization refuses it (nothing deleted)."""

    list_display = ("name", "slug", "mfa_required", "created_at")
    search_fields = ("name", "slug")
    # "MFA required" is switched by an owner on the workspace page (audited, tenants/identity/services.py).
    readonly_fields = ("id", "mfa_required", "created_at")
    inlines = [WorkspaceInline]

    def delete_one(self, request, obj):
        organization_delete(organization=obj, user=request.user, request=request, reason="admin")


@admin.register(Workspace)
class WorkspaceAdmin(DeleteThroughService, ServiceOwnsTheCascade, admin.ModelAdmin):
    """Deleting goes through tenants.workspaces.workspace_delete (KBs through kb.deletion with receipts and
    shredded files, drafts with their files, audited); a KB under legal hold refuses it."""

    list_display = ("name", "organization", "slug", "created_at")
    list_filter = ("organization",)
    list_select_related = ("organization",)
    search_fields = ("name", "slug", "organization__name")
    # The retention policy changes through tenants.retention (owners and admins, audited): the workspace page, the API.
    readonly_fields = ("id", "created_at", "retention_days", "retention_basis")
    inlines = [MembershipInline]
    delete_related = ("organization",)

    def delete_one(self, request, obj):
        workspace_delete(workspace=obj, user=request.user, request=request, reason="admin")


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


class EraseForm(forms.Form):
    content = forms.ChoiceField(
        choices=[("keep", "Keep what they created with its workspaces"),
                 ("delete", "Delete what they created (through the deletion service, with receipts)")],
        widget=forms.RadioSelect,
    )  # fmt: skip


admin.site.unregister(User)


@admin.register(User)
class UserAdmin(auth_admin.UserAdmin):
    """Django's User admin, with erasure (tenants.erasure) in place of a hard delete: a deleted row would cascade
    memberships past the grant cleanup and leave audit rows naming an id no pseudonym can be shown for."""

    actions = ["erase_users"]

    def has_delete_permission(self, request, obj=None):
        return False

    def has_erase_permission(self, request):
        return request.user.is_superuser

    @admin.action(description="Erase selected users (right to erasure)…", permissions=["erase"])
    def erase_users(self, request, queryset):
        users = list(queryset.order_by("username"))
        form = EraseForm(request.POST if "confirm" in request.POST else None)
        if form.is_bound and form.is_valid():
            content = form.cleaned_data["content"]
            try:
                with transaction.atomic():  # all or nothing, like the bulk delete
                    results = [
                        user_erase(user=user, actor=request.user, content=content, request=request, door="admin")
                        for user in users
                    ]
            except (ServiceError, PermissionDenied, ValidationError) as refused:
                message = getattr(refused, "message", None) or "; ".join(getattr(refused, "messages", [str(refused)]))
                self.message_user(request, f"Nobody was erased: {message}", messages.ERROR)
                return None
            names = ", ".join(r.pseudonym for r in results)
            self.message_user(request, f"{len(results)} account(s) erased, now {names}.", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Erase users",
            "users": users,
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/tenants/erase_users.html", context)
