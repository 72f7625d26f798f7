"""Rebuild a knowledge base's index with new settings (kb.rebuild), cancel a rebuild, or show its progress."""

from __future__ import annotations

import sys
import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from kb.management.commands._common import add_user_argument, get_kb, get_user
from kb.models import KBRebuild
from kb.rebuild import ENDED, rebuild_active, rebuild_cancel, rebuild_latest, rebuild_start
from privexbot.errors import ServiceError
from tenants.models import Perm


class Command(BaseCommand):
    help = (
        "Change a live knowledge base's chunking, embedding model or distance metric: its documents are chunked and "
        "embedded again into a new index generation while search keeps serving the current one, which is switched "
        "at one moment when every document is done. --cancel stops a running rebuild; --status shows the last one."
    )

    def add_arguments(self, parser):
        add_user_argument(parser)
        parser.add_argument("--kb", required=True, help="knowledge base id or exact name")
        parser.add_argument("--chunk-size", type=int)
        parser.add_argument("--chunk-overlap", type=int)
        parser.add_argument("--strategy", help="chunking strategy (e.g. recursive, by_heading, semantic)")
        parser.add_argument("--model", help="an installed embedding model")
        parser.add_argument("--metric", choices=["cosine", "euclidean", "dot"], help="distance metric")
        parser.add_argument("--cancel", action="store_true", help="cancel the running rebuild")
        parser.add_argument("--status", action="store_true", help="show the running or last rebuild")
        parser.add_argument("--wait", action="store_true", help="wait until the rebuild has ended")

    def handle(self, *args, **opts):
        user = get_user(opts["user"])
        kb = get_kb(user, opts["kb"], Perm.KB_READ if opts["status"] else Perm.KB_UPDATE)
        if opts["status"]:
            return self._show(rebuild_latest(kb))
        try:
            if opts["cancel"]:
                rebuild = rebuild_active(kb)
                if rebuild is None:
                    raise CommandError(f"no rebuild of {kb.name} is running")
                rebuild = rebuild_cancel(rebuild=rebuild, user=user, door="command")
                self.stdout.write(f"rebuild {rebuild.pk} cancelled; {kb.name} keeps serving generation {kb.generation}")
                return
            rebuild = rebuild_start(kb=kb, user=user, door="command", **self._configs(kb, opts))
        except ValidationError as exc:
            messages = (
                [m for ms in exc.message_dict.values() for m in ms] if hasattr(exc, "error_dict") else exc.messages
            )
            raise CommandError("; ".join(messages)) from None
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"rebuild {rebuild.pk} queued: generation {rebuild.generation}, {rebuild.documents_total} documents; "
            f"{kb.name} serves generation {kb.generation} until it switches"
        )
        if opts["wait"]:
            self._show(self._wait(rebuild))

    @staticmethod
    def _configs(kb, opts) -> dict:
        chunking = {
            key: opts[name]
            for name, key in (
                ("chunk_size", "chunk_size"),
                ("chunk_overlap", "chunk_overlap"),
                ("strategy", "strategy"),
            )
            if opts[name] is not None
        }
        return {
            "chunking_config": {**kb.chunking_config, **chunking} if chunking else None,
            "embedding_config": {"model": opts["model"]} if opts["model"] else None,
            "vector_store_config": {"distance_metric": opts["metric"]} if opts["metric"] else None,
        }

    @staticmethod
    def _wait(rebuild: KBRebuild) -> KBRebuild:
        while rebuild.status not in ENDED:
            sys.stderr.write(f"\r{rebuild.status}: {rebuild.documents_done}/{rebuild.documents_total} documents")
            sys.stderr.flush()
            time.sleep(0.5)
            rebuild.refresh_from_db()
        sys.stderr.write("\n")
        return rebuild

    def _show(self, rebuild: KBRebuild | None) -> None:
        if rebuild is None:
            self.stdout.write("no rebuild yet")
            return
        line = (
            f"rebuild {rebuild.pk}: {rebuild.status}, generation {rebuild.generation}, "
            f"{rebuild.documents_done}/{rebuild.documents_total} documents"
        )
        self.stdout.write(line + (f" — {rebuild.error}" if rebuild.error else ""))
