from django.urls import path

from tenants import views_members as views

app_name = "workspaces"
WS = "workspaces/<uuid:workspace_id>/"
urlpatterns = [
    path("workspaces/", views.workspace_list, name="list"),
    path(WS, views.workspace_detail, name="detail"),
    path(WS + "leave/", views.workspace_leave, name="leave"),
    path(WS + "retention/", views.workspace_retention, name="retention"),
    path(WS + "members/<int:user_id>/role/", views.member_role, name="member_role"),
    path(WS + "members/<int:user_id>/remove/", views.member_remove, name="member_remove"),
    path(WS + "members/<int:user_id>/transfer-ownership/", views.ownership_transfer, name="ownership_transfer"),
    path(WS + "members/<int:user_id>/mfa-reset/", views.member_mfa_reset, name="member_mfa_reset"),
    path(WS + "mfa-required/", views.organization_mfa_required, name="mfa_required"),
    path(WS + "invitations/", views.invitation_create, name="invite"),
    path(WS + "invitations/<uuid:invitation_id>/resend/", views.invitation_resend, name="invitation_resend"),
    path(WS + "invitations/<uuid:invitation_id>/revoke/", views.invitation_revoke, name="invitation_revoke"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
]
