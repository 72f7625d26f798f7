"""Workspace pages: my workspaces (create), one workspace's settings and members (roles, removal, ownership,
invitations, MFA), and the invitation accept page. Views parse input and call tenants.members /
tenants.invitations; the rules and the access checks live there (404 when not a member, 403 when the role does
not allow it). The members and invitations panels are HTMX partials of the workspace page."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from privexbot.errors import ServiceError
from privexbot.forms import attach_errors
from tenants import invitations as inv
from tenants import members, retention
from tenants.forms_members import InviteForm, SignupForm, WorkspaceCreateForm, WorkspaceRenameForm
from tenants.forms_retention import RetentionPolicyForm
from tenants.models import ROLE_PERMISSIONS, Perm, Role
from tenants.retention import retention_state
from tenants.selectors import workspace_get_for_user, workspaces_for_user

PAGE = "tenants/workspace.html"


def _message(exc: Exception) -> str:
    if isinstance(exc, ServiceError):
        return exc.message
    return " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


def _context(request, workspace, **extra) -> dict:
    perms = ROLE_PERMISSIONS[workspace.role]
    manage = Perm.WORKSPACE_MANAGE in perms
    is_owner = workspace.role == Role.OWNER
    context = {
        "workspace": workspace,
        "members": members.workspace_members(workspace=workspace),
        "can_manage": manage,
        "is_owner": is_owner,
        "roles": Role.choices if is_owner else [c for c in Role.choices if c[0] != Role.OWNER],
        "mfa": members.identity_services() is not None and is_owner,
        "mfa_required": workspace.organization.mfa_required,
    }
    if manage:
        context["invitations"] = inv.invitations_for_workspace(user=request.user, workspace_id=workspace.pk)
        context.setdefault("invite_form", InviteForm(can_invite_owner=is_owner))
        context.setdefault("rename_form", WorkspaceRenameForm(initial={"name": workspace.name}))
        context.setdefault("retention_form", RetentionPolicyForm(initial=retention_state(workspace)))
    context.update(extra)
    return context


def _done(request, workspace_id, *, partial: str, ok: str | None = None, error: Exception | None = None, **extra):
    """After a write: an HTMX request gets the refreshed panel (with the outcome in it), a plain form a redirect
    with a message. A member who just lost access (left) goes to the workspace list."""
    try:
        workspace = workspace_get_for_user(user=request.user, workspace_id=workspace_id)
    except Http404:
        if ok:
            messages.success(request, ok)
        return redirect("workspaces:list")
    if request.htmx:
        notice = {"ok": ok, "error": _message(error) if error else None}
        return render(request, f"{PAGE}#{partial}", _context(request, workspace, notice=notice, **extra))
    if error is not None:
        messages.error(request, _message(error))
    elif ok:
        messages.success(request, ok)
    return redirect("workspaces:detail", workspace_id=workspace.pk)


@login_required
@require_http_methods(["GET", "POST"])
def workspace_list(request):
    organizations = list(members.organizations_for_creator(user=request.user))
    form = WorkspaceCreateForm(request.POST or None, organizations=organizations)
    if request.method == "POST" and form.is_valid():
        try:
            workspace = members.workspace_create(
                user=request.user, organization_id=form.cleaned_data["organization"], name=form.cleaned_data["name"],
                request=request,
            )  # fmt: skip
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            messages.success(request, f"Workspace “{workspace.name}” created; you are its owner.")
            return redirect("workspaces:detail", workspace_id=workspace.pk)
    workspaces = workspaces_for_user(user=request.user).order_by("organization__name", "name")
    context = {"workspaces": workspaces, "form": form if organizations else None}
    return render(request, "tenants/workspaces.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def workspace_detail(request, workspace_id):
    workspace = workspace_get_for_user(user=request.user, workspace_id=workspace_id)
    if request.method == "GET":
        return render(request, PAGE, _context(request, workspace))
    form = WorkspaceRenameForm(request.POST)
    if form.is_valid():
        try:
            members.workspace_rename(
                user=request.user, workspace_id=workspace.pk, name=form.cleaned_data["name"], request=request
            )
            messages.success(request, "Workspace renamed.")
            return redirect("workspaces:detail", workspace_id=workspace.pk)
        except ValidationError as exc:
            attach_errors(form, exc)
    elif Perm.WORKSPACE_MANAGE not in ROLE_PERMISSIONS[workspace.role]:
        raise PermissionDenied("your role does not allow renaming this workspace")
    return render(request, PAGE, _context(request, workspace, rename_form=form), status=400)


@login_required
@require_POST
def workspace_retention(request, workspace_id):
    """The workspace's retention policy (owners and admins; tenants.retention checks)."""
    workspace = workspace_get_for_user(user=request.user, workspace_id=workspace_id, perm=Perm.WORKSPACE_MANAGE)
    form = RetentionPolicyForm(request.POST)
    if form.is_valid():
        try:
            retention.workspace_retention_set(
                user=request.user, workspace_id=workspace.pk, days=form.cleaned_data["retention_days"],
                basis=form.cleaned_data["retention_basis"], request=request,
            )  # fmt: skip
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            messages.success(request, "Retention policy saved.")
            return redirect("workspaces:detail", workspace_id=workspace.pk)
    return render(request, PAGE, _context(request, workspace, retention_form=form), status=400)


@login_required
@require_POST
def member_role(request, workspace_id, user_id):
    try:
        membership = members.member_role_change(
            user=request.user, workspace_id=workspace_id, member_id=user_id, role=request.POST.get("role", ""),
            request=request,
        )  # fmt: skip
    except (ValidationError, ServiceError) as exc:
        return _done(request, workspace_id, partial="members", error=exc)
    return _done(
        request, workspace_id, partial="members", ok=f"{membership.user.get_username()} is now {membership.role}."
    )


@login_required
@require_POST
def member_remove(request, workspace_id, user_id):
    try:
        members.member_remove(user=request.user, workspace_id=workspace_id, member_id=user_id, request=request)
    except (ValidationError, ServiceError) as exc:
        return _done(request, workspace_id, partial="members", error=exc)
    return _done(request, workspace_id, partial="members", ok="Member removed: their access ended.")


@login_required
@require_POST
def ownership_transfer(request, workspace_id, user_id):
    try:
        target = members.ownership_transfer(
            user=request.user, workspace_id=workspace_id, member_id=user_id, request=request
        )
    except (ValidationError, ServiceError) as exc:
        return _done(request, workspace_id, partial="members", error=exc)
    ok = f"{target.user.get_username()} owns the workspace now; you are an admin."
    return _done(request, workspace_id, partial="members", ok=ok)


@login_required
@require_POST
def workspace_leave(request, workspace_id):
    try:
        members.workspace_leave(user=request.user, workspace_id=workspace_id, request=request)
    except (ValidationError, ServiceError) as exc:
        return _done(request, workspace_id, partial="members", error=exc)
    messages.success(request, "You left the workspace.")
    return redirect("workspaces:list")


@login_required
@require_POST
def invitation_create(request, workspace_id):
    workspace = workspace_get_for_user(user=request.user, workspace_id=workspace_id, perm=Perm.WORKSPACE_MANAGE)
    form = InviteForm(request.POST, can_invite_owner=workspace.role == Role.OWNER)
    if form.is_valid():
        try:
            invitation, _ = inv.invitation_create(
                user=request.user, workspace_id=workspace.pk, email=form.cleaned_data["email"],
                role=form.cleaned_data["role"], request=request,
            )  # fmt: skip
        except (ValidationError, ServiceError) as exc:
            if isinstance(exc, ValidationError):
                attach_errors(form, exc)
            else:
                form.add_error(None, exc.message)
        else:
            return _done(request, workspace.pk, partial="invitations", ok=f"Invitation sent to {invitation.email}.")
    if request.htmx:
        return render(request, f"{PAGE}#invitations", _context(request, workspace, invite_form=form))
    return render(request, PAGE, _context(request, workspace, invite_form=form), status=400)


@login_required
@require_POST
def invitation_resend(request, workspace_id, invitation_id):
    try:
        invitation, _ = inv.invitation_resend(
            user=request.user, workspace_id=workspace_id, invitation_id=invitation_id, request=request
        )
    except (ValidationError, ServiceError) as exc:
        return _done(request, workspace_id, partial="invitations", error=exc)
    return _done(request, workspace_id, partial="invitations", ok=f"A new link was sent to {invitation.email}.")


@login_required
@require_POST
def invitation_revoke(request, workspace_id, invitation_id):
    try:
        invitation = inv.invitation_revoke(
            user=request.user, workspace_id=workspace_id, invitation_id=invitation_id, request=request
        )
    except (ValidationError, ServiceError) as exc:
        return _done(request, workspace_id, partial="invitations", error=exc)
    return _done(request, workspace_id, partial="invitations", ok=f"Invitation to {invitation.email} withdrawn.")


def _owner_and_identity(request, workspace_id):
    workspace = workspace_get_for_user(user=request.user, workspace_id=workspace_id, perm=Perm.WORKSPACE_MANAGE)
    if workspace.role != Role.OWNER:
        raise PermissionDenied("only an owner may change MFA settings")
    services = members.identity_services()
    if services is None:
        raise Http404("MFA is not available")
    return workspace, services


@login_required
@require_POST
def member_mfa_reset(request, workspace_id, user_id):
    workspace, services = _owner_and_identity(request, workspace_id)
    target = next((m for m in members.workspace_members(workspace=workspace) if str(m.user_id) == str(user_id)), None)
    if target is None:
        raise Http404("member not found")
    try:
        services.mfa_reset(actor=request.user, user=target.user, organization=workspace.organization, request=request)
    except (ValidationError, ServiceError) as exc:
        return _done(request, workspace.pk, partial="members", error=exc)
    ok = f"The second factor of {target.user.get_username()} was removed: they must enrol again."
    return _done(request, workspace.pk, partial="members", ok=ok)


@login_required
@require_POST
def organization_mfa_required(request, workspace_id):
    workspace, services = _owner_and_identity(request, workspace_id)
    required = request.POST.get("required") in ("1", "true", "on")
    try:
        services.organization_mfa_required_set(
            organization=workspace.organization, required=required, user=request.user, request=request
        )
    except (ValidationError, ServiceError) as exc:
        messages.error(request, _message(exc))
    else:
        state = "now required" if required else "no longer required"
        messages.success(request, f"A second factor is {state} for every member of {workspace.organization.name}.")
    return redirect("workspaces:detail", workspace_id=workspace.pk)


def _login_backend() -> str:
    """The backend a freshly created account is logged in with: allauth's when installed, else Django's."""
    for name in ("allauth.account.auth_backends.AuthenticationBackend", "django.contrib.auth.backends.ModelBackend"):
        if name in settings.AUTHENTICATION_BACKENDS:
            return name
    return settings.AUTHENTICATION_BACKENDS[-1]


@require_http_methods(["GET", "POST"])
def invitation_accept(request, token):
    """Valid link: a logged-in user with the invited email accepts with one click; someone without an account
    creates one here. A used, withdrawn or expired link shows why (410); an unknown one is a 404."""
    try:
        invitation = inv.invitation_get_by_token(token=token)
    except ServiceError as exc:
        return render(request, "tenants/invitation.html", {"problem": exc.message}, status=410)
    user = request.user
    signup = None
    if request.method == "POST" and user.is_authenticated:
        try:
            membership = inv.invitation_accept(token=token, user=user, request=request)
        except ServiceError as exc:
            return render(request, "tenants/invitation.html", {"invitation": invitation, "problem": exc.message},
                          status=exc.http_status)  # fmt: skip
        messages.success(request, f"Welcome to {membership.workspace.name}.")
        return redirect(f"{reverse('home')}?workspace={membership.workspace_id}")
    if not user.is_authenticated:
        signup = SignupForm(request.POST or None)
        if request.method == "POST" and signup.is_valid():
            try:
                new_user, membership = inv.invitation_accept_new_account(
                    token=token, username=signup.cleaned_data["username"],
                    password=signup.cleaned_data["password1"], request=request,
                )  # fmt: skip
            except ValidationError as exc:
                errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
                for field, texts in errors.items():
                    target = {"password": "password1", "username": "username"}.get(field)
                    for text in texts:
                        signup.add_error(target, text)
            else:
                login(request, new_user, backend=_login_backend())
                messages.success(request, f"Your account is ready. Welcome to {membership.workspace.name}.")
                return redirect(f"{reverse('home')}?workspace={membership.workspace_id}")
    context = {
        "invitation": invitation,
        "signup": signup,
        "email_matches": user.is_authenticated and inv.email_matches(user, invitation),
    }
    return render(request, "tenants/invitation.html", context, status=400 if signup and signup.errors else 200)
