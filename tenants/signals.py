"""Signals tenants sends so that higher layers can clean up what tenants cannot see (it imports nothing above it).

member_removed(sender=Membership, workspace, user, actor, request): sent inside the transaction that deletes the
membership (a removal or a member leaving). kb.sharing listens: it ends the user's KB grants in that workspace
and revokes API keys limited to its KBs only, so nothing the workspace granted outlives the membership.
"""

from django.dispatch import Signal

member_removed = Signal()
