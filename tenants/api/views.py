from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from privexbot.api.serializers import validated
from privexbot.api.views import ApiListView, ApiView
from tenants.api.serializers import NewTokenSerializer, TokenCreateRequest, TokenSerializer, WorkspaceSerializer
from tenants.models import ApiToken, Scope
from tenants.selectors import parse_uuid, workspaces_for_user
from tenants.tokens import api_token_create, api_token_revoke, api_token_rotate, tokens_manageable


class WorkspaceListView(ApiListView):
    """The caller's workspaces with their role (and the permissions it grants) in each."""

    serializer_class = WorkspaceSerializer
    pagination_class = None  # a user belongs to a handful of workspaces; clients expect a plain list

    def get_queryset(self):
        return workspaces_for_user(user=self.request.user).order_by("organization__name", "name")


def _caller_token(request):
    """The key this request was made with (None for a browser session)."""
    return request.auth if isinstance(request.auth, ApiToken) else None


def _own_token(request, token_id):
    """A token of the calling user that the caller may manage; anyone else's, or (for a request made with a
    key) one wider than that key, is a 404."""
    from django.http import Http404

    tokens = tokens_manageable(user=request.user, by_token=_caller_token(request))
    token = tokens.filter(pk=parse_uuid(token_id)).first()
    if token is None:
        raise Http404("token not found")
    return token


def _with_plaintext(row, plaintext: str) -> dict:
    return {**TokenSerializer(row).data, "token": plaintext}


SCOPE_NOTE = (
    " With a key, this needs the 'admin' scope (a search, read or write key is a chatbot's: it never makes keys),"
    " and the key manages only itself and the keys inside it (no wider scope, a subset of its KBs, no later"
    " expiry); a KB-limited admin key may do so too."
)


class TokenListCreateView(ApiView):
    """Your API tokens (with a key: that key and the keys inside it). A new token is shown once in the
    response; only its hash is stored."""

    required_scope = Scope.ADMIN
    kb_limited_keys_allowed = True  # managing keys inside itself: its KB list goes with them

    @extend_schema(responses=TokenSerializer(many=True), description="Your API tokens." + SCOPE_NOTE)
    def get(self, request):
        tokens = tokens_manageable(user=request.user, by_token=_caller_token(request))
        return Response(TokenSerializer(tokens, many=True).data)

    @extend_schema(
        request=TokenCreateRequest,
        responses={201: NewTokenSerializer},
        description="Create a key. Made with a key, the new one must fit inside it (403 otherwise)." + SCOPE_NOTE,
    )
    def post(self, request):
        data = validated(TokenCreateRequest, request.data)
        row, plaintext = api_token_create(
            user=request.user, name=data["name"], scopes=data.get("scopes"), kb_ids=data.get("kb_ids"),
            expires_in_days=data.get("expires_in_days"), never_expires=data["never_expires"],
            by_token=_caller_token(request), request=request,
        )  # fmt: skip
        return Response(_with_plaintext(row, plaintext), status=status.HTTP_201_CREATED)


class TokenDetailView(ApiView):
    required_scope = Scope.ADMIN
    kb_limited_keys_allowed = True  # managing keys inside itself: its KB list goes with them

    @extend_schema(responses={204: None}, summary="Revoke a token (and every token it created)")
    def delete(self, request, token_id):
        api_token_revoke(token=_own_token(request, token_id), user=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenRotateView(ApiView):
    required_scope = Scope.ADMIN
    kb_limited_keys_allowed = True  # managing keys inside itself: its KB list goes with them

    @extend_schema(
        request=None,
        responses={201: NewTokenSerializer},
        summary="Rotate a token",
        description="Issues a replacement with the same name, scopes, KBs and lifetime; the old token keeps "
        "working for API_TOKEN_ROTATION_GRACE seconds. Rotated with a key, the replacement expires no later than "
        "that key. A revoked or expired token cannot be rotated (409)." + SCOPE_NOTE,
    )
    def post(self, request, token_id):
        row, plaintext = api_token_rotate(
            token=_own_token(request, token_id), user=request.user, request=request,
            by_token=_caller_token(request),
        )  # fmt: skip
        return Response(_with_plaintext(row, plaintext), status=status.HTTP_201_CREATED)
