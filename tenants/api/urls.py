from privexbot.api.routes import path  # the trailing slash is optional on every API route
from tenants.api import me, members
from tenants.api.views import TokenDetailView, TokenListCreateView, TokenRotateView

urlpatterns = [
    path("tokens/", TokenListCreateView.as_view(), name="api-tokens"),
    path("tokens/<uuid:token_id>/", TokenDetailView.as_view(), name="api-token"),
    path("tokens/<uuid:token_id>/rotate", TokenRotateView.as_view(), name="api-token-rotate"),
    path("me/erase", me.EraseView.as_view(), name="api-me-erase"),
]

# Workspaces, members, invitations (tenants/api/members.py); GET workspaces/ is the list the view extends.
WS = "workspaces/<uuid:workspace_id>/"
urlpatterns += [
    path("workspaces/", members.WorkspaceListCreateView.as_view(), name="api-workspaces"),
    path(WS, members.WorkspaceDetailView.as_view(), name="api-workspace"),
    path(WS + "members/", members.MemberListView.as_view(), name="api-members"),
    path(WS + "members/<int:user_id>/", members.MemberDetailView.as_view(), name="api-member"),
    path(WS + "members/<int:user_id>/mfa-reset", members.MemberMfaResetView.as_view(), name="api-member-mfa-reset"),
    path(WS + "transfer-ownership/", members.OwnershipTransferView.as_view(), name="api-transfer-ownership"),
    path(WS + "invitations/", members.InvitationListCreateView.as_view(), name="api-invitations"),
    path(WS + "invitations/<uuid:invitation_id>/", members.InvitationDetailView.as_view(), name="api-invitation"),
    path(
        WS + "invitations/<uuid:invitation_id>/resend",
        members.InvitationResendView.as_view(),
        name="api-invitation-resend",
    ),  # fmt: skip
    path("invitations/accept/", members.InvitationAcceptView.as_view(), name="api-invitation-accept"),
    path("organizations/<uuid:organization_id>/", members.OrganizationDetailView.as_view(), name="api-organization"),
]
