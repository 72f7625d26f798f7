"""File versions: what adding a file named like one the KB already holds does (KnowledgeBase.duplicate_policy).

The one rule, for every door that adds files (kb.services.documents_add[_versioned]: a finalized draft, the
wizard's "Add sources" and the API; kb.services.document_add_file: `manage.py ingest`):

    version (default)  identical bytes (sha256 `content_hash`) to the name's latest version -> skipped;
                       other bytes -> a new Document, file_version = highest + 1, `replaces` = the latest version
    skip               the name is there already -> skipped, whatever the bytes
    keep_both          always a new document

"Same name" is the same `Document.name` among the KB's file uploads that did not fail (failed or quarantined
versions never count as the one to compare with or to replace); the latest is the highest file_version. Pages
and pasted text are never versioned here (a website re-sync has its own rules: drafts.sync).

The switch (`on_ready`, called by kb.pipeline.runner in the transaction that makes the new version ready): the
versions it replaces are deleted through kb.deletion (signed receipt, shredded files) in that same
transaction, so search sees the old chunks until the commit and the new ones from it, never both and never
neither. A new version that fails changes nothing: the old one stays in search. Under a legal hold nothing may
be deleted: the old versions are kept but disabled (`enabled=False`, metadata `superseded_by`), which search
already leaves out, so search still shows only the newest. They stay so after the hold is lifted (delete them
like any document; enabling one again puts it back in search beside the newest).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from kb.models import RETRYABLE, Document, DuplicatePolicy, KnowledgeBase, SourceType
from privexbot.audit import audit_record
from privexbot.metrics.definitions import DOCUMENT_VERSIONS

logger = logging.getLogger(__name__)

ADDED, REPLACED, SKIPPED = "added", "replaced", "skipped"
IDENTICAL, NAME_EXISTS = "identical", "name_exists"  # why a file was skipped


@dataclass
class Entry:
    """What happened to one file: `document` is the new one (added, replaced), `existing` the version it
    replaces or the one it matched (skipped)."""

    name: str
    outcome: str
    document: Document | None = None
    existing: Document | None = None
    reason: str = ""

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "outcome": self.outcome,
            "reason": self.reason,
            "document_id": str(self.document.pk) if self.document else None,
            "file_version": self.document.file_version if self.document else None,
            "existing_document_id": str(self.existing.pk) if self.existing else None,
        }


@dataclass
class VersionReport:
    """The outcome of one add: counts and names of what was added, replaced and skipped."""

    entries: list[Entry] = field(default_factory=list)

    @property
    def created(self) -> list[Document]:
        return [e.document for e in self.entries if e.document is not None]

    @property
    def counts(self) -> dict[str, int]:
        return {o: sum(1 for e in self.entries if e.outcome == o) for o in (ADDED, REPLACED, SKIPPED)}

    def as_dict(self) -> dict:
        return {**self.counts, "documents": [e.as_dict() for e in self.entries]}

    def summary(self) -> str:
        """One line for a message: "2 added; 1 replaced: a.pdf (version 2); 1 skipped: b.pdf (identical)"."""
        parts = []
        for outcome in (ADDED, REPLACED, SKIPPED):
            entries = [e for e in self.entries if e.outcome == outcome]
            if not entries:
                continue
            text = f"{len(entries)} {outcome}"
            if outcome == REPLACED:
                text += ": " + ", ".join(f"{e.name} (version {e.document.file_version})" for e in entries[:10])
            elif outcome == SKIPPED:
                why = {IDENTICAL: "identical", NAME_EXISTS: "name already there"}
                text += ": " + ", ".join(f"{e.name} ({why.get(e.reason, e.reason)})" for e in entries[:10])
            parts.append(text + (" …" if len(entries) > 10 and outcome != ADDED else ""))
        return "; ".join(parts) or "nothing added"


def check_policy(value) -> str:
    if value not in DuplicatePolicy.values:
        raise ValidationError(
            {"duplicate_policy": [f"Choose one of {', '.join(DuplicatePolicy.values)} (not {value!r})."]}
        )
    return value


def _versions_of(kb: KnowledgeBase, names: Iterable[str]):
    return Document.objects.filter(kb=kb, source_type=SourceType.FILE_UPLOAD, name__in=set(names))


def latest_versions(*, kb: KnowledgeBase, names: Iterable[str]) -> dict[str, Document]:
    """name -> the latest version that did not fail (highest file_version, then newest)."""
    latest: dict[str, Document] = {}
    rows = _versions_of(kb, names).exclude(status__in=RETRYABLE).order_by("name", "-file_version", "-created_at")
    for document in rows:
        latest.setdefault(document.name, document)
    return latest


def highest_versions(*, kb: KnowledgeBase, names: Iterable[str]) -> dict[str, int]:
    """name -> the highest file_version used, failed versions included (a version number is never reused)."""
    highest: dict[str, int] = {}
    for name, version in _versions_of(kb, names).values_list("name", "file_version"):
        highest[name] = max(version, highest.get(name, 0))
    return highest


def decide(*, policy: str, content_hash: str, latest: Document | None) -> tuple[str, str]:
    """(outcome, reason) for a file whose name's latest version is `latest` (None: a new name)."""
    if latest is None or policy == DuplicatePolicy.KEEP_BOTH:
        return ADDED, ""
    if policy == DuplicatePolicy.SKIP:
        return SKIPPED, NAME_EXISTS
    if content_hash and content_hash == latest.content_hash:
        return SKIPPED, IDENTICAL
    return REPLACED, ""


def lock_names(*, kb: KnowledgeBase, names: Iterable[str]) -> None:
    """Serialize adds of the same names to one KB until the caller's transaction ends (two uploads of a.pdf at
    once: the second sees the first's version). An advisory lock per (KB, name), taken in sorted order."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_names must run inside a transaction")
    with connection.cursor() as cursor:
        for name in sorted(set(names)):
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 16))", [f"kb-version:{kb.pk}:{name}"])


def plan(*, kb: KnowledgeBase, files: list[tuple[str, str]], policy: str | None = None) -> VersionReport:
    """What adding `files` ((name, content_hash) each, in order) would do, writing nothing: the wizard's review
    step. A name given twice counts the first as already there."""
    policy = policy or kb.duplicate_policy
    latest: dict[str, Document] = latest_versions(kb=kb, names=[n for n, _ in files])
    earlier: dict[str, Document] = {}  # files earlier in the list: the one a later file of that name meets
    report = VersionReport()
    for name, content_hash in files:
        existing = latest.get(name)
        outcome, reason = decide(policy=policy, content_hash=content_hash, latest=earlier.get(name) or existing)
        report.entries.append(Entry(name=name, outcome=outcome, existing=existing, reason=reason))
        if outcome != SKIPPED:
            earlier[name] = Document(name=name, content_hash=content_hash)
    return report


def versions_assign(*, kb: KnowledgeBase, documents: list[Document], policy: str | None = None) -> VersionReport:
    """For unsaved documents about to be created in `kb`: the policy's decision for each file upload, with
    file_version and replaces set on those to create. Takes the name locks (inside the caller's transaction),
    writes nothing else. Documents that are not file uploads are added as they are."""
    policy = policy or kb.duplicate_policy
    files = [d for d in documents if d.source_type == SourceType.FILE_UPLOAD]
    names = [d.name for d in files]
    if files:
        lock_names(kb=kb, names=names)
    latest: dict[str, Document] = latest_versions(kb=kb, names=names)
    highest = highest_versions(kb=kb, names=names)
    report = VersionReport()
    for document in documents:
        if document.source_type != SourceType.FILE_UPLOAD:
            report.entries.append(Entry(name=document.name, outcome=ADDED, document=document))
            continue
        existing = latest.get(document.name)
        outcome, reason = decide(policy=policy, content_hash=document.content_hash, latest=existing)
        if outcome == SKIPPED:
            report.entries.append(Entry(name=document.name, outcome=outcome, existing=existing, reason=reason))
            continue
        # keep_both: a document of its own, not a version of the other (version 1, replacing nothing).
        separate = policy == DuplicatePolicy.KEEP_BOTH
        document.file_version = 1 if separate else highest.get(document.name, 0) + 1
        document.replaces = existing if outcome == REPLACED else None
        highest[document.name] = max(document.file_version, highest.get(document.name, 0))
        latest[document.name] = document  # a later file of the same batch compares with this one
        report.entries.append(Entry(name=document.name, outcome=outcome, document=document, existing=existing))
    return report


def versions_record(*, kb: KnowledgeBase, report: VersionReport, user=None, request=None, door: str = "") -> None:
    """After the documents were created (same transaction): audit the replacements and skips, count every
    outcome on commit. Plain additions are audited by the caller as before (its own event names them)."""
    for entry in report.entries:
        if entry.outcome == ADDED:
            continue
        resource = entry.document if entry.outcome == REPLACED else entry.existing
        details = {"kb_id": str(kb.pk), "name": entry.name, "door": door}
        if entry.outcome == REPLACED:
            action = "create"
            details |= {"version": entry.document.file_version, "replaces": str(entry.existing.pk)}
        else:
            action = "skip_duplicate"
            details |= {"reason": entry.reason, "matches": str(entry.existing.pk) if entry.existing else None}
        audit_record(
            event_type="document", action=action, user=user, request=request, workspace=kb.workspace,
            resource=resource, details=details,
        )  # fmt: skip
    counts = report.counts

    def count():
        for outcome, n in counts.items():
            if n:
                DOCUMENT_VERSIONS.labels(outcome=outcome).inc(n)

    transaction.on_commit(count)


def _ancestors(document_id) -> list:
    """The ids of the versions `document_id` replaces, transitively (v3 ready before v2: v2 and v1 go)."""
    chain, seen = [], {document_id}
    current = Document.objects.filter(pk=document_id).values_list("replaces_id", flat=True).first()
    while current is not None and current not in seen:
        seen.add(current)
        row = Document.objects.filter(pk=current).values_list("pk", "replaces_id").first()
        if row is None:
            break
        chain.append(row[0])
        current = row[1]
    return chain


def on_ready(document_id) -> None:
    """Called inside the transaction that makes `document_id` ready (kb.pipeline.runner), after its chunks were
    stored: the versions it replaces leave search at the same commit. Deleted through kb.deletion (receipt,
    shredded files); under a legal hold kept but disabled and marked superseded."""
    from kb.deletion import delete_documents

    chain = _ancestors(document_id)
    # Versions set aside under a hold stay as they are (also once it is lifted): a later run of this document
    # (a reprocess) neither deletes them nor audits them again.
    chain = list(
        Document.objects.filter(pk__in=chain).exclude(metadata__has_key="superseded_by").values_list("pk", flat=True)
    )
    if not chain:
        return
    kb_id = Document.objects.filter(pk=document_id).values_list("kb_id", flat=True).get()
    # The lock a deletion takes (kb.legal_hold): a hold set now waits for this commit, or is seen here.
    held = KnowledgeBase.objects.select_for_update(no_key=True).filter(pk=kb_id).values_list("legal_hold", flat=True)
    if held.get():
        _supersede(document_id=document_id, kb_id=kb_id, old_ids=chain)
        return
    delete_documents(documents=list(Document.objects.filter(pk__in=chain)), user=None, reason="replaced")
    logger.info("document %s replaced %s earlier version(s)", document_id, len(chain))


def _supersede(*, document_id, kb_id, old_ids: list) -> None:
    kb = KnowledgeBase.objects.select_related("workspace").get(pk=kb_id)
    for old in Document.objects.select_for_update().filter(pk__in=old_ids):
        Document.objects.filter(pk=old.pk).update(
            enabled=False, metadata={**(old.metadata or {}), "superseded_by": str(document_id)}
        )
        audit_record(
            event_type="document", action="supersede", user=None, workspace=kb.workspace, resource=old,
            details={"kb_id": str(kb_id), "name": old.name, "superseded_by": str(document_id),
                     "reason": "legal_hold"},
        )  # fmt: skip
