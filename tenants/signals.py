"""Signals tenants sends so that higher layers can clean up what tenants cannot see (it imports nothing above it).

member_removed(sender=Membership, workspace, user, actor, request): sent inside the transaction that deletes the
membership (a removal or a member leaving). kb.sharing listens: it ends the user's KB grants in that workspace
and revokes API keys limited to its KBs only, so nothing the workspace granted outlives the membership.

workspace_deleting(sender=Workspace, workspace, user, request, reason, check) and
user_erasing(sender=User, user, actor, content, workspace_ids, request, check): a workspace deletion
(tenants.workspaces) and a user's erasure (tenants.erasure) reach KBs and drafts. Each is sent twice inside the
service's transaction: first with check=True, when a receiver changes nothing and raises
privexbot.errors.Conflict if its data must not go (a legal hold), so a refusal leaves everything as it was; then
with check=False, when it deletes through its own deletion service (kb.deletion: receipts, shredding) and
returns a dict of counts (and a list of receipt ids) for the service's audit event. kb.tenant_deletion and
drafts.tenant_deletion answer.
"""

from django.dispatch import Signal

member_removed = Signal()
workspace_deleting = Signal()
user_erasing = Signal()


def collect_counts(responses) -> dict:
    """The receivers' answers of a send() merged: numbers added up, lists (receipt ids) joined; None skipped."""
    counts: dict = {}
    for _, answer in responses:
        for name, value in (answer or {}).items():
            if isinstance(value, list):
                counts[name] = [*counts.get(name, []), *value]
            else:
                counts[name] = counts.get(name, 0) + value
    return counts
