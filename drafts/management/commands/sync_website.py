"""manage.py sync_website: re-sync website sources now (by KB and/or source), or start every scheduled one due."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from drafts.sync.selectors import website_source_get
from drafts.sync.services import sync_start, syncs_start_due
from drafts.sync.states import ACTIVE
from kb.management.commands._common import get_kb, get_user
from kb.models import SyncRun, SyncStatus, WebsiteSource
from kb.selectors import kb_get_for_user
from privexbot.errors import ServiceError
from tenants.models import Perm


class Command(BaseCommand):
    help = (
        "Re-sync website sources: every source of --kb, or one --source; --all-due starts the scheduled syncs that "
        "are due. A worker runs them; --wait prints each run's counts when it ends."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", help="act as this user (needs kb:update); required unless --all-due")
        parser.add_argument("--kb", help="knowledge base id or exact name: all its website sources")
        parser.add_argument("--source", help="one website source id")
        parser.add_argument("--all-due", action="store_true", help="start every scheduled sync that is due")
        parser.add_argument("--wait", action="store_true", help="wait for the runs to end and print their counts")
        parser.add_argument("--timeout", type=float, default=3600)

    def handle(self, *args, **opts):
        if opts["all_due"]:
            if opts["kb"] or opts["source"]:
                raise CommandError("--all-due starts every due source; it takes no --kb or --source")
            self.stdout.write(f"{syncs_start_due()} scheduled sync(s) started")
            return
        if not opts["user"] or not (opts["kb"] or opts["source"]):
            raise CommandError("give --user and --kb and/or --source (or --all-due)")
        user = get_user(opts["user"])
        runs = []
        for source in self._sources(user, opts["kb"], opts["source"]):
            try:
                runs.append(sync_start(website_source=source, user=user, trigger="command"))
                self.stdout.write(f"sync of {source.url} queued (run {runs[-1].pk})")
            except ServiceError as exc:
                self.stderr.write(f"{source.url}: {exc.message}")
        if opts["wait"]:
            self._wait(runs, opts["timeout"])

    def _sources(self, user, kb_ref, source_id) -> list[WebsiteSource]:
        if kb_ref:
            kb = get_kb(user, kb_ref, Perm.KB_UPDATE)
            if source_id:
                try:
                    return [website_source_get(kb=kb, source_id=source_id)]
                except Http404:
                    raise CommandError(f"no website source {source_id} in {kb.name}") from None
            sources = list(kb.website_sources.all())
            if not sources:
                raise CommandError(f"{kb.name} has no website sources")
            return sources
        kb_id = WebsiteSource.objects.filter(pk=source_id).values_list("kb_id", flat=True).first()
        try:
            kb = kb_get_for_user(user=user, kb_id=kb_id, perm=Perm.KB_UPDATE)  # the funnel: another tenant's is a 404
            return [website_source_get(kb=kb, source_id=source_id)]
        except Http404:
            raise CommandError(f"no website source {source_id} that {user.username} may update") from None

    def _wait(self, runs, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = {run.pk for run in runs}
        while pending:
            for run in SyncRun.objects.filter(pk__in=pending).exclude(status__in=[s for s in ACTIVE if s != "review"]):
                pending.discard(run.pk)
                counts = ", ".join(f"{n} {outcome}" for outcome, n in run.counts.items()) or run.error
                note = " (waiting for review in a draft)" if run.status == SyncStatus.REVIEW else ""
                self.stdout.write(f"{run.website_source.url}: {run.status}{note}: {counts}")
            if pending and time.monotonic() > deadline:
                raise CommandError(f"timed out after {timeout:.0f}s; {len(pending)} sync(s) still running")
            time.sleep(0.5)
