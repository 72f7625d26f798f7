"""How an erased user is named wherever the audit log is shown (tenants.erasure erases; this layer only reads).

Erasure keeps the user row as a tombstone: inactive, no usable password, username replaced by a stable pseudonym
`erased-<12 hex>` (an HMAC of the pk under SECRET_KEY, so nobody can map it back without the key, and the same
account always gets the same one). Audit rows are append-only and hash-chained, so the username they recorded is
never rewritten; every place that shows a row (the workspace's audit page, the exports, the admin) shows the
tombstone's pseudonym instead, read from the user row the row's `user_id` still names. Details that name a
member by id (`member_id` + `member`) get the same treatment.

Rows that named the person without their id (an invitation's `email`, a failed login's username) are matched by
value: the erasure event stores keyed digests of the old username and email (`identifier_digest`, an HMAC
under SECRET_KEY, never the values), and `Redactions` replaces any detail value, or a `username` column without
a user id, whose digest is one of them. Only whole values match: free text quoting an address is not rewritten
(the product writes none).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.crypto import salted_hmac

ERASED_PREFIX = "erased-"
_SALT = "privexbot.erasure.pseudonym"
_ID_SALT = "privexbot.erasure.identifier"
IDENTIFIERS_KEY = "identifiers"  # in the erasure event's details: digests of the old username and email


def pseudonym_for(user_pk) -> str:
    """The stable pseudonym of an account (computed once, at erasure, and stored as its username)."""
    return ERASED_PREFIX + salted_hmac(_SALT, str(user_pk), algorithm="sha256").hexdigest()[:12]


def identifier_digest(value: str) -> str:
    """The keyed digest an erased username or email is recognised by (case and surrounding space ignored)."""
    return salted_hmac(_ID_SALT, value.strip().lower(), algorithm="sha256").hexdigest()


class Redactions:
    """{identifier digest: pseudonym} of every erased account, read once from the erasure events."""

    def __init__(self) -> None:
        from privexbot.models import AuditEvent

        self.by_digest: dict[str, str] = {}
        erasures = AuditEvent.objects.filter(event_type="user", action="erase", success=True).order_by("id")
        # An address can belong to several accounts over time, each erased: the latest erasure names it.
        for details in erasures.values_list("details", flat=True).iterator():
            if isinstance(details, dict) and isinstance(details.get("pseudonym"), str):
                for digest in details.get(IDENTIFIERS_KEY) or []:
                    self.by_digest[digest] = details["pseudonym"]

    def value(self, value):
        """`value` with every string that names an erased account replaced by its pseudonym (in dicts, lists)."""
        if not self.by_digest:
            return value
        if isinstance(value, str):
            return self.by_digest.get(identifier_digest(value), value) if 0 < len(value) <= 320 else value
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        return value


def erased_users():
    """The tombstones: accounts erased by tenants.erasure (the username alone is not enough: anyone could have
    chosen such a name, so the account must also be inactive and without a usable password)."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(
        username__startswith=ERASED_PREFIX,
        is_active=False,
        password__startswith="!",  # noqa: S106 (unusable)
    )


def erased_names(user_ids: Iterable) -> dict[int, str]:
    """{pk: pseudonym} for those of `user_ids` that are erased accounts."""
    ids = {int(i) for i in user_ids if i not in (None, "") and str(i).isdigit()}
    if not ids:
        return {}
    return dict(erased_users().filter(pk__in=ids).values_list("pk", "username"))


def shown_row(values: dict, names: dict[int, str], redactions: Redactions | None = None) -> dict:
    """An audit row (a dict of its columns) as it is shown: the pseudonym for an erased actor or member, and
    for any detail value that named an erased account."""
    user_id = values.get("user_id")
    if user_id in names:
        values = {**values, "username": names[user_id]}
    elif redactions is not None and values.get("username"):
        values = {**values, "username": redactions.value(values["username"])}
    details = values.get("details")
    if isinstance(details, dict):
        member_id = details.get("member_id")
        if isinstance(member_id, int) and member_id in names and "member" in details:
            details = {**details, "member": names[member_id]}
        if redactions is not None:
            details = redactions.value(details)
        values = {**values, "details": details}
    return values


def with_pseudonyms(events) -> list:
    """AuditEvent rows for a page, as shown_row shows them. Changed in memory only: these instances are shown,
    never saved (the table refuses updates anyway)."""
    events = list(events)
    names = erased_names({e.user_id for e in events})
    redactions = Redactions()
    for event in events:
        shown = shown_row({"user_id": event.user_id, "username": event.username, "details": event.details},
                          names, redactions)  # fmt: skip
        event.username, event.details = shown["username"], shown["details"]
    return events
