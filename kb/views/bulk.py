"""Bulk actions of the KB page: retry, disable, enable or delete the selected documents, or every document
matching the page's filter. A first POST (from the documents form) shows a confirmation stating the count; the
confirmed POST runs kb.bulk.documents_bulk. The form is plain: `document_ids` checkboxes, `scope` (selected or
all matching the filter), the filter's fields and `action` buttons, so another app's action (drafts' website
re-sync) posts the same fields to its own URL."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from kb.bulk import ACTIONS, documents_bulk
from kb.views.common import get_kb
from kb.views.detail import filter_query, filtered_documents
from tenants.models import Perm
from tenants.selectors import parse_uuid

CONFIRM_TEMPLATE = "kb/_documents_confirm.html"
NAMES_SHOWN = 20  # on the confirmation; the count says the rest
PAST = {"retry": "queued again", "disable": "disabled (kept, left out of search)",
        "enable": "enabled (back in search)", "delete": "deleted"}  # fmt: skip


def selected_documents(kb, post):
    """(scope, filter form, queryset): the named `document_ids` of this KB (any id it does not hold is a 404,
    as another tenant's), or with scope=all every document matching the filter the form carries."""
    form, matching = filtered_documents(kb, post)
    if post.get("scope") == "all":
        return "all", form, matching
    ids = {parse_uuid(value) for value in post.getlist("document_ids")}
    documents = kb.documents.filter(pk__in=ids).order_by("created_at", "name", "pk")
    if len(ids) != documents.count():
        raise Http404("document not found")
    return "selected", form, documents


def page_url(kb, form, post) -> str:
    query = "&".join(p for p in (filter_query(form), f"page={int(post['page'])}" if post.get("page", "").isdigit()
                                 else "") if p)  # fmt: skip
    return reverse("kb:detail", args=[kb.pk]) + (f"?{query}" if query else "")


def _report(request, kb, result) -> None:
    done = f"{result.done} document{'s' if result.done != 1 else ''} {PAST[result.action]}"
    if result.receipt is not None:
        url = reverse("kb:receipt", args=[result.receipt.pk])
        messages.success(request, format_html('{}. <a href="{}">Deletion receipt</a>.', done, url))
        return
    extra = f"; {result.unchanged} already were" if result.unchanged else ""
    if result.refused:
        first = result.messages[0] if result.messages else ""
        messages.error(request, f"{done}{extra}; {result.refused} refused: {first}")
    else:
        messages.success(request, f"{done}{extra}.")


@login_required
@require_POST
def documents_bulk_action(request, kb_id):
    kb, perms = get_kb(request, kb_id, perm=Perm.KB_UPDATE)
    post = request.POST
    action = post.get("action", "")
    scope, form, documents = selected_documents(kb, post)
    back = page_url(kb, form, post)
    if action not in ACTIONS:
        messages.error(request, "Choose an action for the documents.")
        return redirect(back)
    count = documents.count()
    if count == 0:
        messages.error(request, "Select documents first (or apply the action to all documents matching the filter).")
        return redirect(back)
    changed = scope == "all" and post.get("expected", "") != str(count)
    if post.get("confirmed") != "yes" or changed:
        context = {
            "kb": kb, "perms": perms, "action": action, "action_label": ACTIONS[action], "scope": scope,
            "count": count, "names": [d.name for d in documents.only("name")[:NAMES_SHOWN]],
            "more": max(0, count - NAMES_SHOWN), "filter_form": form, "changed": changed and "expected" in post,
            "document_ids": [str(pk) for pk in documents.values_list("pk", flat=True)] if scope == "selected" else [],
            "page": post.get("page", ""), "back": back,
        }  # fmt: skip
        return render(request, CONFIRM_TEMPLATE, context)
    result = documents_bulk(
        kb=kb, action=action, documents=documents, user=request.user, request=request,
        scope=scope,
    )  # fmt: skip
    _report(request, kb, result)
    return redirect(back)
