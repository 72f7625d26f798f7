"""Request and response shapes of the workspace, member and invitation routes."""

from rest_framework import serializers

from tenants.invitations import invitation_status
from tenants.models import RETENTION_DAYS_MAX, RETENTION_DAYS_MIN, RetentionBasis, Role


class WorkspaceCreateRequest(serializers.Serializer):
    organization_id = serializers.UUIDField(help_text="an organization in which you own a workspace")
    name = serializers.CharField(max_length=255)


class WorkspaceUpdateRequest(serializers.Serializer):
    name = serializers.CharField(max_length=255, required=False)
    # The retention policy of the workspace's KBs that have none of their own (owners and admins).
    retention_days = serializers.IntegerField(
        min_value=RETENTION_DAYS_MIN, max_value=RETENTION_DAYS_MAX, allow_null=True, required=False,
        help_text="delete documents this many days after retention_basis; null: keep forever",
    )  # fmt: skip
    retention_basis = serializers.ChoiceField(choices=RetentionBasis.choices, required=False)


class MemberSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")
    email = serializers.EmailField(source="user.email")
    role = serializers.ChoiceField(choices=Role.choices)
    joined_at = serializers.DateTimeField(source="created_at")


class MemberAddRequest(serializers.Serializer):
    user = serializers.CharField(max_length=254, help_text="username or email of a user of the same organization")
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)


class MemberUpdateRequest(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class OwnershipTransferRequest(serializers.Serializer):
    user_id = serializers.IntegerField(help_text="the member who becomes owner; you become an admin")


class InvitationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices)
    status = serializers.SerializerMethodField()
    invited_by = serializers.CharField(source="invited_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()

    def get_status(self, invitation) -> str:
        return invitation_status(invitation)


class InvitationCreateRequest(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)


class InvitationAcceptRequest(serializers.Serializer):
    token = serializers.CharField(max_length=200, help_text="the token of the invitation link (/invitations/<token>/)")


class MembershipSerializer(serializers.Serializer):
    workspace_id = serializers.UUIDField()
    workspace_name = serializers.CharField(source="workspace.name")
    role = serializers.ChoiceField(choices=Role.choices)


class OrganizationUpdateRequest(serializers.Serializer):
    mfa_required = serializers.BooleanField(help_text="every member must enrol a second factor to use the app")


class OrganizationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    mfa_required = serializers.BooleanField()
