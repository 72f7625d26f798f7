from django.urls import path

from tenants.api.views import TokenDetailView, TokenListCreateView, TokenRotateView, WorkspaceListView

urlpatterns = [
    path("workspaces/", WorkspaceListView.as_view(), name="api-workspaces"),
    path("tokens/", TokenListCreateView.as_view(), name="api-tokens"),
    path("tokens/<uuid:token_id>/", TokenDetailView.as_view(), name="api-token"),
    path("tokens/<uuid:token_id>/rotate", TokenRotateView.as_view(), name="api-token-rotate"),
]
