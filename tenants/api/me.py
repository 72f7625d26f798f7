"""`POST /api/v1/me/erase`: the caller erases their own account (tenants.erasure). A browser session, or a key
with the admin scope (a chatbot's search/read/write key never erases its user); the password is asked again
either way, so a leaked key alone cannot erase the account. The export (`GET /api/v1/me/export`) spans apps
and lives in pages.user_export_views."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from privexbot.api.serializers import validated
from privexbot.api.throttling import HeavyThrottled
from privexbot.api.views import ApiView
from tenants.erasure import CONTENT_CHOICES, erasure_password_check, user_erase
from tenants.models import Scope


class EraseRequest(serializers.Serializer):
    password = serializers.CharField(write_only=True, trim_whitespace=False, help_text="your password, again")
    content = serializers.ChoiceField(
        choices=CONTENT_CHOICES,
        help_text="keep: the KBs and drafts you created stay with their workspaces; delete: they are deleted "
        "through the deletion service (signed receipts)",
    )


class EraseResponse(serializers.Serializer):
    pseudonym = serializers.CharField(help_text="the name the audit log shows for the account from now on")
    content = serializers.CharField()
    counts = serializers.DictField(help_text="what was removed or kept, per kind; receipt_ids of KB deletions")


@extend_schema(tags=["me"])
class EraseView(HeavyThrottled, ApiView):
    required_scope = Scope.ADMIN

    @extend_schema(
        request=EraseRequest, responses={200: EraseResponse},
        summary="Erase your account (right to erasure)",
        description="Deactivates the account and removes its personal data; the audit log keeps a pseudonymous id. "
        "409 `last_owner` when you are the last owner of a workspace others use, 409 `legal_hold` when deleting "
        "would reach a knowledge base under legal hold: nothing is changed then. Every session and key ends.",
    )  # fmt: skip
    def post(self, request):
        data = validated(EraseRequest, request.data)
        user = request.user
        erasure_password_check(user=user, password=data["password"], request=request)
        result = user_erase(user=user, actor=user, content=data["content"], request=request, door="api")
        if hasattr(request, "session"):
            request.session.flush()
        return Response({"pseudonym": result.pseudonym, "content": result.content, "counts": result.counts})
