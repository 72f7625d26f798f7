"""GET /api/v1/deletion-receipts/{id}: a signed deletion receipt, through the funnel of kb.receipts."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from kb.receipts import receipt_get_for_user
from privexbot.api.views import ApiView
from privexbot.receipts import receipt_document
from tenants.models import Scope


@extend_schema(tags=["deletion-receipts"])
class DeletionReceiptView(ApiView):
    required_scope = Scope.READ

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="A deletion receipt: ids, counts, hashes, signature")
    def get(self, request, receipt_id):
        return Response(receipt_document(receipt_get_for_user(user=request.user, receipt_id=receipt_id)))
