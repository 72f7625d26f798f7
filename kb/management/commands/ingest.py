from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from kb import versions
from kb.management.commands._common import add_user_argument, get_kb, get_user, wait_with_progress
from kb.models import DuplicatePolicy
from kb.pipeline.types import PipelineError
from kb.selectors import kb_queryset_for_user
from kb.services import document_add_file, document_create_from_text, kb_create
from tenants.models import Perm
from tenants.selectors import workspace_get_for_user, workspaces_for_user


class Command(BaseCommand):
    help = "Add files, folders or text to a knowledge base; its documents are processed by the workers."

    def add_arguments(self, parser):
        add_user_argument(parser)
        parser.add_argument("--kb", required=True, help="knowledge base id or exact name")
        parser.add_argument(
            "--create",
            metavar="WORKSPACE",
            help="create the KB (named by --kb, default settings) in this workspace (id or name) if it does not exist",
        )
        parser.add_argument("paths", nargs="*", help="files or folders (folders are walked recursively)")
        parser.add_argument("--text", help="add this text as a document")
        parser.add_argument("--title", help="title of the --text document")
        parser.add_argument(
            "--force",
            action="store_true",
            help="add every file as a new document, ignoring the KB's duplicate policy (keep_both)",
        )
        parser.add_argument("--wait", action="store_true", help="block until every document is processed")
        parser.add_argument("--timeout", type=float, default=None, help="with --wait: give up after N seconds")

    def handle(self, *args, **opts):
        user = get_user(opts["user"])
        kb = self._get_or_create_kb(user, opts["kb"], opts["create"])
        if not opts["paths"] and not opts["text"]:
            raise CommandError("give files/folders to ingest, or --text")
        created, failed = [], 0
        outcomes = {versions.ADDED: [], versions.REPLACED: [], versions.SKIPPED: []}
        policy = DuplicatePolicy.KEEP_BOTH if opts["force"] else None  # None: the KB's duplicate_policy
        for path in self._files(opts["paths"]):
            try:
                with open(path, "rb") as fh:
                    added = document_add_file(
                        kb=kb, user=user, filename=path.name, fileobj=fh, policy=policy, door="command"
                    )
            except PipelineError as exc:
                failed += 1
                self.stderr.write(f"  rejected   {path}: {exc.message}")
                continue
            except OSError as exc:
                failed += 1
                self.stderr.write(f"  unreadable {path}: {exc.strerror}")
                continue
            outcomes[added.outcome].append(path.name)
            if added.outcome == versions.SKIPPED:
                why = "identical to the latest version" if added.reason == versions.IDENTICAL else "name exists"
                self.stdout.write(f"  skipped    {path} ({why})")
                continue
            created.append(added.document.pk)
            if added.outcome == versions.REPLACED:
                self.stdout.write(f"  replaced   {path} (version {added.document.file_version}, queued)")
            else:
                self.stdout.write(f"  queued     {path}")
        if opts["text"]:
            try:
                doc = document_create_from_text(
                    kb=kb, user=user, title=opts["title"] or "Pasted text", content=opts["text"]
                )
                created.append(doc.pk)
                self.stdout.write(f"  queued     text {doc.name!r}")
            except PipelineError as exc:
                failed += 1
                self.stderr.write(f"  rejected   text: {exc.message}")
        counts = ", ".join(f"{len(names)} {outcome}" for outcome, names in outcomes.items())
        self.stdout.write(f"{len(created)} queued ({counts}), {failed} rejected → KB {kb.name} ({kb.pk})")
        for outcome in (versions.REPLACED, versions.SKIPPED):
            if outcomes[outcome]:
                self.stdout.write(f"{outcome}: " + ", ".join(outcomes[outcome]))
        if opts["wait"] and created:
            counts = wait_with_progress(created, timeout=opts["timeout"])
            self.stdout.write("finished: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
            if set(counts) - {"ready"}:
                self.stdout.write("see details with: manage.py kb_status --user USER --kb KB")

    def _get_or_create_kb(self, user, ref: str, workspace_ref: str | None):
        if not workspace_ref:
            return get_kb(user, ref, Perm.KB_UPDATE)
        if kb_queryset_for_user(user=user).filter(name=ref).exists():
            return get_kb(user, ref, Perm.KB_UPDATE)
        workspaces = workspaces_for_user(user=user, perm=Perm.KB_CREATE)
        workspace = workspaces.filter(name=workspace_ref).first()
        if workspace is None:
            try:
                workspace = workspace_get_for_user(user=user, workspace_id=workspace_ref, perm=Perm.KB_CREATE)
            except (Http404, PermissionDenied):
                raise CommandError(f"no workspace {workspace_ref!r} where {user.username} may create KBs") from None
        kb = kb_create(workspace=workspace, user=user, name=ref)
        self.stdout.write(f"created knowledge base {kb.name!r} ({kb.pk}) in {workspace.name}")
        return kb

    @staticmethod
    def _files(paths):
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                yield from sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            elif path.exists():
                yield path
            else:
                raise CommandError(f"no such file or folder: {raw}")
