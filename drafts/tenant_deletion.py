"""drafts' part of a workspace's deletion and of a user's erasure (tenants sends `workspace_deleting` and
`user_erasing`, tenants.signals). Drafts go through drafts.services.draft_delete: their sources' stored files
are shredded after commit and each deletion is audited. Drafts that add to a KB of the workspace usually went
already with that KB (kb.deletion's `kb_deleting`, answered by drafts.deletion, and then in its receipt).
Connected in drafts.apps."""

from __future__ import annotations

from drafts.models import KBDraft
from drafts.services import draft_delete


def _delete_each(drafts, *, user, request) -> int:
    drafts = list(drafts.select_related("workspace"))
    for draft in drafts:
        draft_delete(draft=draft, user=user, request=request)
    return len(drafts)


def on_workspace_deleting(sender, *, workspace, user, request=None, check: bool, **kwargs):
    if check:
        return None  # nothing holds a draft
    return {"drafts": _delete_each(KBDraft.objects.filter(workspace=workspace), user=user, request=request)}


def on_user_erasing(sender, *, user, actor, content: str, workspace_ids, request=None, check: bool, **kwargs):
    """ "delete": the user's drafts in `workspace_ids` go; "keep": they stay with the workspace (and expire as
    every draft does), `created_by` naming the tombstone."""
    if check:
        return None
    theirs = KBDraft.objects.filter(created_by=user, workspace_id__in=list(workspace_ids))
    if content != "delete":
        return {"drafts_kept": theirs.count()}
    return {"drafts_deleted": _delete_each(theirs, user=actor, request=request)}
