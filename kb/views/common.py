"""The access funnel for the KB pages: every read starts from kb_get_for_user."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from kb.selectors import kb_get_for_user, kb_perms_for_user
from tenants.models import Perm
from tenants.selectors import parse_uuid


def get_kb(request, kb_id, perm: str = Perm.KB_READ):
    """The KB and the user's permissions on it: 404 when not visible, 403 when visible but not allowed."""
    kb = kb_get_for_user(user=request.user, kb_id=kb_id, perm=perm)
    return kb, kb_perms_for_user(user=request.user, kb=kb)


def get_document(kb, document_id):
    document = kb.documents.filter(pk=parse_uuid(document_id)).first()
    if document is None:
        raise Http404("document not found")
    return document


def require(perms, perm: str) -> None:
    if perm not in perms:
        raise PermissionDenied(f"your role does not allow {perm}")
