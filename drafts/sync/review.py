""" "Review changes before applying" (KnowledgeBase.review_sync_changes): a sync's changes wait in a draft of the
KB (purpose SYNC_REVIEW, sync_run set). Its one website source holds the changed and new pages with their parsed
elements, so the draft's chunk preview shows the new chunks; the planned removals are in the source's metadata.
Finalizing the draft applies them (drafts.services.draft_finalize calls review_finalize); deleting it discards
them and cancels the run."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from drafts.models import DraftPurpose, DraftSource, KBDraft, SourceStatus
from drafts.sync import states
from drafts.sync.plan import Entry, Plan
from kb.models import KnowledgeBase, SyncRun, SyncStatus
from kb.pipeline.elements import elements_load, elements_save
from kb.versions import VersionReport
from privexbot.audit import audit_record

PLAN_KEY = "sync_plan"


@transaction.atomic
def review_draft_create(*, run: SyncRun, plan: Plan) -> KBDraft:
    kb, source = run.kb, run.website_source
    pages = plan.of("changed", "added")
    draft = KBDraft.objects.create(
        workspace=kb.workspace, created_by=run.created_by, target_kb=kb, purpose=DraftPurpose.SYNC_REVIEW,
        sync_run=run, name=kb.name, description=f"Changes found by re-syncing {source.url}"[:1000],
        chunking_config=kb.chunking_config, embedding_config=kb.embedding_config,
        vector_store_config=kb.vector_store_config,
    )  # fmt: skip
    DraftSource.objects.create(
        draft=draft, type="website_crawl", name=f"Re-sync: {source.url}"[:500], status=SourceStatus.COMPLETED,
        url=source.url, crawl_config=source.crawl_config, elements_file=elements_save([e.page for e in pages]),
        pages_processed=len(pages), pages_found=len(plan.entries), crawl_report=plan.report(),
        content_preview=f"{len(plan.of('changed'))} changed, {len(plan.of('added'))} new, "
        f"{len(plan.of('removed'))} to delete",
        metadata={PLAN_KEY: {
            "changed": {e.url: e.document_id for e in plan.of("changed")},
            "removed": [{"url": e.url, "reason": e.reason, "http_status": e.http_status, "document_id": e.document_id}
                        for e in plan.of("removed")],
        }},
    )  # fmt: skip
    audit_record(
        event_type="kb_draft", action="create", user=run.created_by, workspace=kb.workspace, resource=draft,
        details={"purpose": DraftPurpose.SYNC_REVIEW, "sync_run_id": str(run.pk), "counts": plan.counts()},
    )  # fmt: skip
    return draft


def review_finalize(*, draft: KBDraft, user, request=None) -> KnowledgeBase:
    """Apply the reviewed changes (as the finalizing user), end the run completed with the applied report, delete
    the draft."""
    from drafts.services import draft_delete
    from drafts.sync.apply import apply_plan

    run = SyncRun.objects.select_related("website_source", "kb__workspace").filter(pk=draft.sync_run_id).first()
    if run is None or run.status != SyncStatus.REVIEW:
        raise ValidationError({"draft": ["this re-sync can no longer be applied (its run ended or was removed)"]})
    plan = _plan_of(draft)
    apply_plan(kb=run.kb, source=run.website_source, plan=plan, user=user, request=request)
    applied = {e.url: e.report() for e in plan.entries}
    report = [applied.get(row["url"], row) for row in run.report]
    counts = {outcome: sum(1 for row in report if row["outcome"] == outcome) for outcome in run.counts}
    states.move(
        run.pk, SyncStatus.COMPLETED, only_from=[SyncStatus.REVIEW], report=report, counts=counts,
        finished_at=timezone.now(),
    )  # fmt: skip
    audit_record(
        event_type="website_sync", action="apply_review", user=user, request=request, workspace=run.kb.workspace,
        resource=run, details={"kb_id": str(run.kb_id), "draft_id": str(draft.pk), "counts": counts},
    )  # fmt: skip
    KBDraft.objects.filter(pk=draft.pk).update(sync_run=None)  # applied, not discarded: the run stays completed
    draft.sync_run_id = None
    draft_delete(draft=draft, user=user, request=request, reason="applied")
    kb = run.kb
    kb.add_report = VersionReport()  # what the finalize doors show about files: a re-sync adds none
    return kb


def review_discarded(*, draft: KBDraft, user=None, request=None) -> None:
    """Called by draft_delete: a review draft deleted unapplied cancels its run."""
    from drafts.sync.services import sync_run_cancel

    run = SyncRun.objects.select_related("kb__workspace").filter(pk=draft.sync_run_id).first()
    if run is not None:
        sync_run_cancel(run=run, user=user, request=request, reason="review discarded")


def _plan_of(draft: KBDraft) -> Plan:
    source = draft.sources.first()
    saved = source.metadata.get(PLAN_KEY, {})
    changed = saved.get("changed", {})
    plan = Plan()
    for page in elements_load(source.elements_file) if source.elements_file else []:
        if page["url"] in changed:
            plan.entries.append(Entry(page["url"], "changed", "content changed", 200, changed[page["url"]], page))
        else:
            plan.entries.append(Entry(page["url"], "added", "new page", 200, None, page))
    for row in saved.get("removed", []):
        plan.entries.append(Entry(row["url"], "removed", row["reason"], row["http_status"], row["document_id"]))
    return plan
