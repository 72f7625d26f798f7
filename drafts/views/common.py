"""What every wizard view shares: the access funnel for drafts, the steps, and partial-or-page rendering."""

from __future__ import annotations

from django.shortcuts import render

from drafts.selectors import draft_get_for_user, draft_processing_status

STEPS = [
    ("basics", "Basics"),
    ("sources", "Sources"),
    ("chunking", "Chunking"),
    ("embedding", "Embedding & search"),
    ("review", "Review"),
]
STEP_NAMES = [name for name, _ in STEPS]
SESSION_KEY = "wizard_steps"  # draft id -> last step seen, so "resume" goes back there


def get_draft(request, draft_id):
    """The draft if the user may work on it: 404 for another workspace's, 403 for a viewer."""
    return draft_get_for_user(user=request.user, draft_id=draft_id)


def remember_step(request, draft, step: str) -> None:
    steps = dict(request.session.get(SESSION_KEY, {}))
    if steps.get(str(draft.pk)) != step:
        steps[str(draft.pk)] = step
        request.session[SESSION_KEY] = steps


def last_step(request, draft) -> str:
    step = request.session.get(SESSION_KEY, {}).get(str(draft.pk))
    if step in STEP_NAMES:
        return step
    return "sources" if not draft.sources.exists() else "chunking"


def wizard_render(request, template: str, draft, step: str, context: dict, partial: str | None = None, status=200):
    """The full step page, or only `partial` of it for an HTMX request."""
    if partial and request.htmx:
        return render(request, f"{template}#{partial}", {"draft": draft, **context}, status=status)
    remember_step(request, draft, step)
    context = {
        "draft": draft,
        "step": step,
        "steps": STEPS,
        "processing": draft_processing_status(draft=draft),
        **context,
    }
    return render(request, template, context, status=status)
