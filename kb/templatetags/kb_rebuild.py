"""{% latest_rebuild kb as rebuild %}: the KB's running index rebuild, else its last one (kb.rebuild), for the
KB page's panel (templates/kb/_rebuild_progress.html) without each page view having to fetch it."""

from django import template

from kb.rebuild import ACTIVE, rebuild_latest

register = template.Library()


@register.simple_tag
def latest_rebuild(kb):
    return rebuild_latest(kb)


@register.filter
def rebuild_running(rebuild) -> bool:
    """Queued or running: the panel polls, the cancel button shows."""
    return rebuild is not None and rebuild.status in ACTIVE
