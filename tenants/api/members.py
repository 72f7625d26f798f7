"""/api/v1/workspaces/... (create, rename, members, ownership, invitations), /api/v1/invitations/accept/ and
/api/v1/organizations/{id}/ ("MFA required"). Views parse input and call tenants.members / tenants.invitations,
which check access through the funnel (404: not a member; 403: the role does not allow it).

API keys: every write here needs the `admin` scope (reads need `read`; invitations, which name people who are
not members yet, need `admin` to read too). Browser sessions are not limited by scopes.
"""

from __future__ import annotations

from django.db import transaction
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response

from privexbot.api.serializers import validated
from privexbot.api.views import ApiView
from tenants import invitations as inv
from tenants import members, retention
from tenants.api.member_serializers import (
    InvitationAcceptRequest,
    InvitationCreateRequest,
    InvitationSerializer,
    MemberAddRequest,
    MemberSerializer,
    MembershipSerializer,
    MemberUpdateRequest,
    OrganizationSerializer,
    OrganizationUpdateRequest,
    OwnershipTransferRequest,
    WorkspaceCreateRequest,
    WorkspaceUpdateRequest,
)
from tenants.api.serializers import WorkspaceSerializer
from tenants.api.views import WorkspaceListView
from tenants.selectors import workspace_get_for_user

ADMIN = "admin"


class AdminScope:
    """Every method needs an `admin` key."""

    required_scope = ADMIN


class ReadOrAdminScope:
    """Reads need a `read` key, writes an `admin` one (an instance property: it depends on the request)."""

    @property
    def required_scope(self) -> str:
        request = getattr(self, "request", None)
        return "read" if request is None or request.method in SAFE_METHODS else ADMIN


def _workspace(request, workspace_id):
    return WorkspaceSerializer(workspace_get_for_user(user=request.user, workspace_id=workspace_id)).data


class WorkspaceListCreateView(ReadOrAdminScope, WorkspaceListView):
    """Your workspaces (GET), or create one in an organization where you own a workspace (POST; you become its
    owner)."""

    @extend_schema(request=WorkspaceCreateRequest, responses={201: WorkspaceSerializer}, summary="Create a workspace")
    def post(self, request):
        data = validated(WorkspaceCreateRequest, request.data)
        workspace = members.workspace_create(
            user=request.user, organization_id=data["organization_id"], name=data["name"], request=request
        )
        return Response(WorkspaceSerializer(workspace).data, status=status.HTTP_201_CREATED)


class WorkspaceDetailView(ReadOrAdminScope, ApiView):
    @extend_schema(responses=WorkspaceSerializer, summary="A workspace and your role in it")
    def get(self, request, workspace_id):
        return Response(_workspace(request, workspace_id))

    @extend_schema(
        request=WorkspaceUpdateRequest, responses=WorkspaceSerializer,
        summary="Rename a workspace or set its retention policy",
    )  # fmt: skip
    def patch(self, request, workspace_id):
        data = validated(WorkspaceUpdateRequest, request.data)
        with transaction.atomic():  # all or nothing
            if "name" in data:
                members.workspace_rename(user=request.user, workspace_id=workspace_id, name=data["name"],
                                         request=request)  # fmt: skip
            if "retention_days" in data or "retention_basis" in data:
                workspace = workspace_get_for_user(user=request.user, workspace_id=workspace_id)
                retention.workspace_retention_set(
                    user=request.user, workspace_id=workspace_id, request=request,
                    days=data.get("retention_days", workspace.retention_days), basis=data.get("retention_basis"),
                )  # fmt: skip
        return Response(_workspace(request, workspace_id))


class MemberListView(ReadOrAdminScope, ApiView):
    @extend_schema(responses=MemberSerializer(many=True), summary="Members of a workspace (any member may list)")
    def get(self, request, workspace_id):
        workspace = workspace_get_for_user(user=request.user, workspace_id=workspace_id)
        return Response(MemberSerializer(members.workspace_members(workspace=workspace), many=True).data)

    @extend_schema(
        request=MemberAddRequest, responses={201: MemberSerializer}, summary="Add a user of the organization",
        description="Adds someone who is already a member of another workspace of this organization. Anyone "
        "else is invited by email (POST .../invitations/). Only owners may add an owner.",
    )  # fmt: skip
    def post(self, request, workspace_id):
        data = validated(MemberAddRequest, request.data)
        membership = members.member_add(
            user=request.user, workspace_id=workspace_id, identifier=data["user"], role=data["role"], request=request
        )
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailView(AdminScope, ApiView):
    @extend_schema(
        request=MemberUpdateRequest, responses=MemberSerializer, summary="Change a member's role",
        description="Only owners give or take the owner role; the last owner cannot be demoted (409).",
    )  # fmt: skip
    def patch(self, request, workspace_id, user_id):
        data = validated(MemberUpdateRequest, request.data)
        membership = members.member_role_change(
            user=request.user, workspace_id=workspace_id, member_id=user_id, role=data["role"], request=request
        )
        return Response(MemberSerializer(membership).data)

    @extend_schema(
        responses={204: None}, summary="Remove a member (or leave, with your own id)",
        description="Their access to the workspace ends at once, their grants on its KBs too. Only owners remove "
        "owners; the last owner cannot be removed or leave (409).",
    )  # fmt: skip
    def delete(self, request, workspace_id, user_id):
        if user_id == request.user.pk:
            members.workspace_leave(user=request.user, workspace_id=workspace_id, request=request)
        else:
            members.member_remove(user=request.user, workspace_id=workspace_id, member_id=user_id, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OwnershipTransferView(AdminScope, ApiView):
    @extend_schema(
        request=OwnershipTransferRequest, responses=MemberSerializer(many=True), summary="Transfer ownership",
        description="The member becomes owner and you (an owner) become an admin. Returns the members.",
    )  # fmt: skip
    def post(self, request, workspace_id):
        data = validated(OwnershipTransferRequest, request.data)
        target = members.ownership_transfer(
            user=request.user, workspace_id=workspace_id, member_id=data["user_id"], request=request
        )
        return Response(MemberSerializer(members.workspace_members(workspace=target.workspace), many=True).data)


class InvitationListCreateView(AdminScope, ApiView):
    @extend_schema(responses=InvitationSerializer(many=True), summary="Pending invitations (owners and admins)")
    def get(self, request, workspace_id):
        rows = inv.invitations_for_workspace(user=request.user, workspace_id=workspace_id)
        return Response(InvitationSerializer(rows, many=True).data)

    @extend_schema(
        request=InvitationCreateRequest, responses={201: InvitationSerializer}, summary="Invite by email",
        description="Emails a single-use link that expires after INVITATION_EXPIRY_DAYS. Inviting the same "
        "address again replaces its pending invitation; a member's address is refused (400).",
    )  # fmt: skip
    def post(self, request, workspace_id):
        data = validated(InvitationCreateRequest, request.data)
        invitation, _ = inv.invitation_create(
            user=request.user, workspace_id=workspace_id, email=data["email"], role=data["role"], request=request
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)


class InvitationDetailView(AdminScope, ApiView):
    @extend_schema(responses={204: None}, summary="Revoke an invitation (its link stops working)")
    def delete(self, request, workspace_id, invitation_id):
        inv.invitation_revoke(user=request.user, workspace_id=workspace_id, invitation_id=invitation_id,
                              request=request)  # fmt: skip
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationResendView(AdminScope, ApiView):
    @extend_schema(request=None, responses=InvitationSerializer, summary="Send a new link (the old one stops working)")
    def post(self, request, workspace_id, invitation_id):
        invitation, _ = inv.invitation_resend(
            user=request.user, workspace_id=workspace_id, invitation_id=invitation_id, request=request
        )
        return Response(InvitationSerializer(invitation).data)


class InvitationAcceptView(ApiView):
    """Accepting joins a workspace: any key of the invited user may do it (the invitation is the authority)."""

    required_scope = "read"

    @extend_schema(
        request=InvitationAcceptRequest, responses={201: MembershipSerializer}, summary="Accept an invitation",
        description="The calling user's email must be the invited one (403 otherwise). A used, revoked or "
        "expired invitation is a 410; an unknown token a 404.",
    )  # fmt: skip
    def post(self, request):
        data = validated(InvitationAcceptRequest, request.data)
        membership = inv.invitation_accept(token=data["token"], user=request.user, request=request)
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


def _identity():
    services = members.identity_services()
    if services is None:
        raise Http404("MFA is not available")
    return services


class MemberMfaResetView(AdminScope, ApiView):
    @extend_schema(
        request=None,
        responses={204: None},
        summary="Reset a member's MFA (owners)",
        description="Removes the member's second factors and ends their sessions; they enrol again.",
    )
    def post(self, request, workspace_id, user_id):
        from django.core.exceptions import PermissionDenied

        workspace = workspace_get_for_user(user=request.user, workspace_id=workspace_id)
        if workspace.role != "owner":
            raise PermissionDenied("only an owner may reset another member's MFA")
        target = next((m for m in members.workspace_members(workspace=workspace) if m.user_id == user_id), None)
        if target is None:
            raise Http404("member not found")
        _identity().mfa_reset(actor=request.user, user=target.user, organization=workspace.organization,
                              request=request)  # fmt: skip
        return Response(status=status.HTTP_204_NO_CONTENT)


class OrganizationDetailView(AdminScope, ApiView):
    @extend_schema(
        request=OrganizationUpdateRequest, responses=OrganizationSerializer, summary="Require MFA in an organization",
        description="Owners of a workspace of the organization only.",
    )  # fmt: skip
    def patch(self, request, organization_id):
        data = validated(OrganizationUpdateRequest, request.data)
        organization = members.organization_get_for_owner(
            user=request.user, organization_id=organization_id, why="change its MFA setting"
        )
        _identity().organization_mfa_required_set(
            organization=organization, required=data["mfa_required"], user=request.user, request=request
        )
        organization.refresh_from_db()
        return Response(OrganizationSerializer(organization).data)
