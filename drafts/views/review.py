"""Step 5: validation errors, warnings and stats; finalize creates the KB and hands documents to the workers."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from drafts.preview import draft_validate
from drafts.selectors import versions_preview
from drafts.services import draft_finalize
from drafts.views.common import get_draft, wizard_render

TEMPLATE = "drafts/review.html"


def _context(draft, errors=()) -> dict:
    report = draft_validate(draft=draft)
    return {
        "report": report, "finalize_errors": list(errors), "polling": report["stats"]["pending_sources"] > 0,
        "versions": versions_preview(draft=draft),
    }  # fmt: skip


@login_required
@require_GET
def review(request, draft_id):
    draft = get_draft(request, draft_id)
    return wizard_render(request, TEMPLATE, draft, "review", _context(draft), partial="report")


@login_required
@require_POST
def finalize(request, draft_id):
    draft = get_draft(request, draft_id)
    try:
        kb = draft_finalize(draft=draft, user=request.user, request=request)
    except ValidationError as exc:
        errors = [m for ms in exc.message_dict.values() for m in ms] if hasattr(exc, "error_dict") else exc.messages
        return wizard_render(request, TEMPLATE, draft, "review", _context(draft, errors), status=400)
    if getattr(kb, "rebuild_started", None) is not None:  # a settings draft (drafts.settings_draft)
        messages.success(request, f"“{kb.name}” is being rebuilt; search uses the current index until it switches.")
        return redirect("kb:detail", kb_id=kb.pk)
    messages.success(request, f"“{kb.name}” is being built: documents appear below as the workers finish them.")
    report = kb.add_report  # what the KB's duplicate policy did with the files (kb.versions)
    if report.counts["replaced"] or report.counts["skipped"]:
        messages.info(request, f"Files: {report.summary()}.")
    return redirect("kb:detail", kb_id=kb.pk)
