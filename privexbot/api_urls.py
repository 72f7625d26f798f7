from django.urls import path

from tenants.api.views import WorkspaceListView

urlpatterns = [
    path("workspaces/", WorkspaceListView.as_view(), name="api-workspaces"),
]
