"""Backups an attacker who steals them cannot read, and a restore that proves it brought everything back.

A backup is one tar file holding:
- `manifest.json` — the only plaintext: format, time, the backup key's id, and each member's size and sha256
  (so a copy can be checked for damage without the key);
- `contents.json.pxe` — sealed: the inventory (row counts, stored-file checksums, a chunk digest) and the
  plaintext checksums of the other members;
- `database.dump.pxe` — pg_dump's custom format, sealed as it streams out of pg_dump (no plaintext dump ever
  touches the disk); with STORAGE_BACKEND=database the stored files are inside it;
- `storage.tar.pxe` — the stored files of a local store (already ciphertext under the content key), sealed
  again.
Everything is sealed under BACKUP_KEY, which must not be a content key: a stolen backup and a stolen
ENCRYPTION_KEY are two separate losses. The inventory and the dump come from one exported snapshot, so they
agree even while the system is in use.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections, transaction

from privexbot.audit.chain import chain_head, chain_verify
from privexbot.backups.inventory import differences, inventory
from privexbot.backups.postgres import libpq_env, pg_bin
from privexbot.errors import ServiceError
from privexbot.storage import get_storage, key_id, parse_keyring
from privexbot.storage.sealed import SealedWriter, UnsealedReader, iter_segments, seal

FORMAT = "privexbot-backup/2"
MEMBERS = ("contents.json.pxe", "database.dump.pxe", "storage.tar.pxe")


class BackupError(ServiceError):
    def __init__(self, message: str):
        super().__init__("backup_failed", message)


@dataclass
class RestoreReport:
    counts: dict
    files: int
    audit: dict  # the audit chain: head before/after, verified, events of the replaced log that were discarded


def backup_keys() -> list[bytes]:
    keys = parse_keyring(settings.BACKUP_KEY, "BACKUP_KEY")
    if not keys:
        raise ImproperlyConfigured(
            "BACKUP_KEY is not set: backups are always encrypted. Generate one with "
            "`python -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())'` and keep it apart "
            "from the server (a backup cannot be restored without it)."
        )
    content = {key_id(k) for k in parse_keyring(settings.ENCRYPTION_KEY)}
    if content & {key_id(k) for k in keys}:
        raise ImproperlyConfigured("BACKUP_KEY must not be one of the ENCRYPTION_KEY keys")
    return keys


class _Hashing:
    """Counts and hashes the bytes written through it."""

    def __init__(self, out):
        self.out, self.digest, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.out.write(data)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def backup_create(destination: Path) -> Path:
    """Write a backup archive into `destination` (a folder) and return its path."""
    key = backup_keys()[0]
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    work = Path(tempfile.mkdtemp(prefix=".backup-", dir=destination))  # ciphertext only, removed at the end
    try:
        contents = {"format": FORMAT, "created_at": stamp, "storage_backend": settings.STORAGE_BACKEND}
        with transaction.atomic():
            with connection.cursor() as cursor:
                # One snapshot for the inventory, the database blobs and pg_dump: they describe the same instant.
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor.execute("SELECT pg_export_snapshot()")
                snapshot = cursor.fetchone()[0]
            contents["inventory"] = inventory()
            head_id, head_hash = chain_head()
            contents["audit_head"] = {"id": head_id, "hash": head_hash}  # what restore compares the live log with
            contents["database"] = _dump_database(work / "database.dump.pxe", snapshot, key)
        contents["storage"] = _archive_storage(work / "storage.tar.pxe", key)
        with open(work / "contents.json.pxe", "wb") as out:
            seal(out, iter_segments(json.dumps(contents).encode()), key)
        manifest = {
            "format": FORMAT,
            "created_at": stamp,
            "backup_key_id": key_id(key).hex(),
            "members": {n: {"sha256": _sha256_file(work / n), "bytes": (work / n).stat().st_size} for n in MEMBERS},
        }
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2))
        final = destination / f"privexbot-backup-{stamp}.tar"
        partial = final.with_suffix(".partial")
        with tarfile.open(partial, "w") as tar:
            for name in ("manifest.json", *MEMBERS):
                tar.add(work / name, arcname=name)
        partial.chmod(0o600)
        partial.rename(final)
        return final
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _dump_database(path: Path, snapshot: str, key: bytes) -> dict:
    with tempfile.TemporaryFile() as errors, open(path, "wb") as out:
        dump = subprocess.Popen(
            [pg_bin("pg_dump"), "--format=custom", "--no-owner", f"--snapshot={snapshot}"],
            env=libpq_env(), stdout=subprocess.PIPE, stderr=errors,
        )  # fmt: skip
        digest, size = hashlib.sha256(), 0

        def segments():
            nonlocal size
            for segment, last in iter_segments(dump.stdout):
                digest.update(segment)
                size += len(segment)
                yield segment, last

        seal(out, segments(), key)
        if dump.wait():
            errors.seek(0)
            raise BackupError(f"pg_dump failed: {errors.read().decode(errors='replace').strip()[-2000:]}")
    return {"sha256": digest.hexdigest(), "bytes": size}


def _archive_storage(path: Path, key: bytes) -> dict:
    """The local store's files into a sealed tar (a database store's files are in the dump already)."""
    storage = get_storage()
    with open(path, "wb") as raw:
        sealed = SealedWriter(raw, key)
        hashing = _Hashing(sealed)
        with tarfile.open(fileobj=hashing, mode="w|") as tar:
            if storage.blobs.kind == "local":
                for name in storage.stored_files():
                    # Streamed from the file (its size from the filesystem): a large upload never sits in memory.
                    with open(storage.blobs.path(name), "rb") as fh:
                        info = tar.gettarinfo(arcname=name, fileobj=fh)
                        info.uid = info.gid = 0
                        info.uname = info.gname = ""
                        tar.addfile(info, fh)
        sealed.close()
    return {"sha256": hashing.digest.hexdigest(), "bytes": hashing.size}


def backup_restore(archive: Path, *, replace: bool = False, discard_newer_audit: bool = False) -> RestoreReport:
    """Restore `archive` into this installation's database and storage, then check that the inventory equals
    the backup's. Refuses a database or storage that already holds data unless `replace`.

    The audit log is never rewritten silently: when the live log holds events the backup does not have,
    `replace` is refused unless `discard_newer_audit`; after the restore the chain is verified, and the caller
    records the report's `audit` (heads before and after, what was discarded) as the restore's event."""
    keys = {key_id(k): k for k in backup_keys()}
    archive = Path(archive)
    if not tarfile.is_tarfile(archive):
        raise BackupError(f"{archive.name} is not a backup archive")
    with tarfile.open(archive) as tar:
        manifest = _verified_manifest(tar)
        if bytes.fromhex(manifest["backup_key_id"]) not in keys:
            raise BackupError("this backup was made with another BACKUP_KEY")
        contents = json.loads(UnsealedReader(tar.extractfile("contents.json.pxe"), keys).read())
        if contents["storage_backend"] == "database" and settings.STORAGE_BACKEND != "database":
            raise BackupError("this backup keeps its files in the database: restore it with STORAGE_BACKEND=database")
        if not replace:
            _check_empty()
        head_before = _live_audit_head()
        newer = _audit_not_in_backup(contents, manifest)
        if newer and not discard_newer_audit:
            raise BackupError(
                f"the audit log holds {newer} event(s) that this backup does not have: restoring would discard "
                "them; pass --discard-newer-audit to go on (the restore's own event records how many)"
            )
        plain = _restore_database(tar.extractfile("database.dump.pxe"), keys)
        if plain != contents["database"]["sha256"]:
            raise BackupError("the database dump does not match the backup's contents record")
        files = _restore_storage(tar.extractfile("storage.tar.pxe"), keys, replace=replace)
    found = inventory()
    problems = differences(contents["inventory"], found)
    if problems:
        raise BackupError("restored, but the result differs from the backup: " + "; ".join(problems))
    verification = chain_verify()
    audit = {
        "backup": archive.name,
        "head_before": head_before,
        "head_after": {"id": verification.head_id, "hash": verification.head_hash},
        "chain_verified": verification.ok,
        "chain_problems": [p.message for p in verification.problems[:20]],
        "discarded_events": newer,
    }
    return RestoreReport(counts=found["counts"], files=files, audit=audit)


def _audit_table_exists() -> bool:
    from privexbot.models import AuditEvent

    return AuditEvent._meta.db_table in connection.introspection.table_names()


def _live_audit_head() -> dict | None:
    if not _audit_table_exists():
        return None
    head_id, head_hash = chain_head()
    return {"id": head_id, "hash": head_hash}


def _audit_not_in_backup(contents: dict, manifest: dict) -> int:
    """How many events of the live audit log the backup does not hold (the restore would discard them)."""
    from privexbot.models import AuditEvent

    if not _audit_table_exists():
        return 0
    live = AuditEvent.objects.all()
    head = contents.get("audit_head")
    if head is None:  # an archive from before the chain: compare by time
        created = datetime.strptime(manifest["created_at"], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
        return live.filter(timestamp__gt=created).count()
    if head["id"] is None:
        return live.count()
    if not live.filter(id=head["id"], row_hash=head["hash"]).exists():
        return live.count()  # another history (another installation, or rewritten): none of it is in the backup
    return live.filter(id__gt=head["id"]).count()


def _verified_manifest(tar: tarfile.TarFile) -> dict:
    try:
        manifest = json.loads(tar.extractfile("manifest.json").read())
    except (KeyError, ValueError) as exc:
        raise BackupError(f"the backup has no readable manifest: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {manifest.get('format')!r}")
    for name in MEMBERS:
        digest = hashlib.sha256()
        try:
            member = tar.extractfile(name)
        except KeyError:
            raise BackupError(f"the backup has no {name}: it is incomplete") from None
        while block := member.read(1024 * 1024):
            digest.update(block)
        if digest.hexdigest() != manifest["members"][name]["sha256"]:
            raise BackupError(f"{name} does not match its checksum: the backup is damaged")
    return manifest


def _check_empty() -> None:
    from django.apps import apps

    from privexbot.backups.inventory import COUNTED

    tables = set(connection.introspection.table_names())
    for label in COUNTED:
        model = apps.get_model(label)
        if model._meta.db_table in tables and model.objects.exists():
            raise BackupError(
                f"the database already holds data ({label}): restore into an empty database, or pass --replace"
            )
    storage = get_storage()
    if storage.blobs.kind == "local" and next(iter(storage.stored_files()), None) is not None:
        raise BackupError("the file storage already holds files: restore into an empty storage, or pass --replace")


def _restore_database(member, keys) -> str:
    env = libpq_env()
    connection.close()  # nothing of ours may hold a lock on what pg_restore drops and recreates
    connections[settings.AUDIT_DB_ALIAS].close()
    digest = hashlib.sha256()
    with tempfile.TemporaryFile() as errors:
        restore = subprocess.Popen(
            [pg_bin("pg_restore"), "--clean", "--if-exists", "--no-owner", f"--dbname={env['PGDATABASE']}"],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors,
        )  # fmt: skip
        reader = UnsealedReader(member, keys)
        try:
            while block := reader.read(1024 * 1024):
                digest.update(block)
                restore.stdin.write(block)
        finally:
            restore.stdin.close()
        if restore.wait():
            errors.seek(0)
            raise BackupError(f"pg_restore failed: {errors.read().decode(errors='replace').strip()[-2000:]}")
    return digest.hexdigest()


def _restore_storage(member, keys, *, replace: bool) -> int:
    storage = get_storage()
    if replace and storage.blobs.kind == "local":
        for name in list(storage.stored_files()):
            storage.delete(name)
    count = 0
    with tarfile.open(fileobj=UnsealedReader(member, keys), mode="r|") as tar:
        for info in tar:
            if not info.isfile():
                continue
            with storage.blobs.writer(info.name) as out:  # a local store refuses names that escape its root
                shutil.copyfileobj(tar.extractfile(info), out)
            count += 1
    return count
