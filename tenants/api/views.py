from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from privexbot.api.serializers import validated
from privexbot.api.views import ApiListView, ApiView
from tenants.api.serializers import NewTokenSerializer, TokenCreateRequest, TokenSerializer, WorkspaceSerializer
from tenants.selectors import parse_uuid, workspaces_for_user
from tenants.services import api_token_create, api_token_revoke, api_token_rotate


class WorkspaceListView(ApiListView):
    """The caller's workspaces with their role (and the permissions it grants) in each."""

    serializer_class = WorkspaceSerializer
    pagination_class = None  # a user belongs to a handful of workspaces; clients expect a plain list

    def get_queryset(self):
        return workspaces_for_user(user=self.request.user).order_by("organization__name", "name")


def _own_token(request, token_id):
    """A token of the calling user; anyone else's is a 404."""
    from django.http import Http404

    token = request.user.api_tokens.filter(pk=parse_uuid(token_id)).first()
    if token is None:
        raise Http404("token not found")
    return token


def _with_plaintext(row, plaintext: str) -> dict:
    return {**TokenSerializer(row).data, "token": plaintext}


class TokenListCreateView(ApiView):
    """Your API tokens. A new token is shown once in the response; only its hash is stored."""

    @extend_schema(responses=TokenSerializer(many=True))
    def get(self, request):
        return Response(TokenSerializer(request.user.api_tokens.all(), many=True).data)

    @extend_schema(request=TokenCreateRequest, responses={201: NewTokenSerializer})
    def post(self, request):
        data = validated(TokenCreateRequest, request.data)
        row, plaintext = api_token_create(
            user=request.user, name=data["name"], expires_in_days=data.get("expires_in_days")
        )
        return Response(_with_plaintext(row, plaintext), status=status.HTTP_201_CREATED)


class TokenDetailView(ApiView):
    @extend_schema(responses={204: None}, summary="Revoke a token")
    def delete(self, request, token_id):
        api_token_revoke(token=_own_token(request, token_id), user=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenRotateView(ApiView):
    @extend_schema(
        request=None,
        responses={201: NewTokenSerializer},
        summary="Rotate a token",
        description="Issues a replacement with the same name and lifetime; the old token keeps working for "
        "API_TOKEN_ROTATION_GRACE seconds. A revoked or expired token cannot be rotated (409).",
    )
    def post(self, request, token_id):
        row, plaintext = api_token_rotate(token=_own_token(request, token_id), user=request.user, request=request)
        return Response(_with_plaintext(row, plaintext), status=status.HTTP_201_CREATED)
