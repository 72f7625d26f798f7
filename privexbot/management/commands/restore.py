import json
import shutil
import subprocess
import tarfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from privexbot.audit import audit_record
from privexbot.management.commands.backup import libpq_env, pg_bin, sha256


class Command(BaseCommand):
    help = "Restore a backup made by `manage.py backup` (replaces the database contents and the file storage)."

    def add_arguments(self, parser):
        parser.add_argument("backup", help="the backup folder (privexbot-backup-...)")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, *args, backup, yes, **opts):
        folder = Path(backup)
        manifest = json.loads((folder / "manifest.json").read_text())
        for part in ("database", "storage"):
            if sha256(folder / manifest[part]["file"]) != manifest[part]["sha256"]:
                raise CommandError(f"{manifest[part]['file']} does not match its checksum: the backup is damaged")
        if not yes and input("This replaces all current data. Type 'restore' to go on: ").strip() != "restore":
            raise CommandError("cancelled")
        connection.ensure_connection()
        env = libpq_env()
        connection.close()
        result = subprocess.run(
            [pg_bin("pg_restore"), "--clean", "--if-exists", "--no-owner", f"--dbname={env['PGDATABASE']}",
             str(folder / manifest["database"]["file"])],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        if result.returncode:
            raise CommandError(f"pg_restore failed: {result.stderr.strip()[-2000:]}")
        storage = Path(settings.STORAGE_DIR)
        if storage.exists():
            shutil.rmtree(storage)
        storage.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(folder / manifest["storage"]["file"]) as tar:
            tar.extractall(storage.parent, filter="data")
            extracted = storage.parent / "storage"
            if extracted != storage:
                extracted.rename(storage)
        audit_record(event_type="backup", action="restore", details={"path": str(folder)})
        self.stdout.write(self.style.SUCCESS(f"restored {folder.name}"))
