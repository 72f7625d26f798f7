from rest_framework import serializers
from rest_framework.generics import ListAPIView

from tenants.selectors import workspaces_for_user


class WorkspaceSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    organization_id = serializers.UUIDField()
    organization_name = serializers.CharField(source="organization.name")
    role = serializers.CharField()


class WorkspaceListView(ListAPIView):
    """The caller's workspaces with their role in each."""

    serializer_class = WorkspaceSerializer

    def get_queryset(self):
        return workspaces_for_user(user=self.request.user).order_by("organization__name", "name")
