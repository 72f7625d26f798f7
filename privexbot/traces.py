"""Looking for what a deletion receipt says is gone (`manage.py verify_deletion`): every store, by hash and by id.

The receipt holds no content, so no store can be searched for the text itself; every store is searched for what
it can hold of it instead:
- PostgreSQL: every table of the schema, every text, varchar, uuid and JSON column, for the receipt's sha256
  hashes (files, chunks: kb_chunk.content_hash, kb_embeddingcache.text_hash, document and draft-source hashes)
  and ids (KB, documents, stored-file names). One sequential read of each table: the cost of a full scan of the
  database, fine for a verification command, not for a request. The search indexes (HNSW, GIN) index only rows
  of those tables, so a table without the rows has no index entries a query could reach.
- File storage: every stored file decrypted and hashed — it also finds a copy uploaded again under another name
  (which is a trace too: the same bytes are still held). Cost: one read and decryption of the whole store.
- Redis: every key of the configured database, its name and its value.
- Temporary directories: pxb-*, kbparse-*, kbpdf-* under the temp dir and /dev/shm (privexbot.sandbox's private
  directories are pxb-sandbox-*): names holding an id, files whose sha256 is a deleted file's.
The receipts table holds the hashes by design; the audit log and Django's admin log keep ids of what they
describe (metadata that outlives content, never content): ids found there are listed as expected, not counted.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection
from psycopg import sql

from privexbot.models import DeletionReceipt

ID_OR_HASH = r"[0-9a-f]{64}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}"
TEXT_TYPES = ("text", "character varying", "character", "uuid", "json", "jsonb")
EXCLUDED_TABLES = {"privexbot_deletionreceipt"}
# Ids expected there; a hash there is still a trace. kb_content_mark holds a KB id only from a chunk write to the
# end of its transaction (kb migration 0011): a scan inside the deleting transaction sees the deletion's own mark.
METADATA_TABLES = {"privexbot_auditevent", "django_admin_log", "kb_content_mark"}
TEMP_PATTERNS = ("pxb-*", "kbparse-*", "kbpdf-*")


@dataclass
class StoreReport:
    store: str
    scanned: str
    traces: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)


@dataclass
class Needles:
    hashes: set[str]
    ids: set[str]
    file_hashes: set[str]

    @classmethod
    def from_receipt(cls, body: dict) -> Needles:
        hashes = body.get("hashes", {})
        files, chunks = set(hashes.get("files_sha256", [])), set(hashes.get("chunks_sha256", []))
        ids = {body.get("knowledge_base_id") or "", *body.get("document_ids", [])} - {""}
        if not body.get("knowledge_base_deleted", True):
            ids.discard(body.get("knowledge_base_id"))  # documents deleted from a KB that still exists
        ids |= {Path(name).stem for name in body.get("stored_files", [])}  # uuid hex of each stored name
        return cls(hashes=files | chunks, ids={i.lower() for i in ids}, file_hashes=files)

    @property
    def all(self) -> set[str]:
        return self.hashes | self.ids


def receipt_load(reference: str) -> tuple[dict, str, str]:
    """(body, signature, where from): a downloaded receipt file, or a receipt id in this database."""
    path = Path(reference)
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        return data["receipt"], data["signature"], str(path)
    receipt = DeletionReceipt.objects.filter(pk=reference).first()
    if receipt is None:
        raise LookupError(f"no receipt file or receipt id {reference!r}")
    return receipt.body, receipt.signature, f"receipt {receipt.pk}"


def _text_columns() -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c"
            " JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name"
            " WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.data_type = ANY(%s)"
            " ORDER BY c.table_name, c.ordinal_position",
            [list(TEXT_TYPES)],
        )
        tables: dict[str, list[str]] = {}
        for table, column in cursor.fetchall():
            tables.setdefault(table, []).append(column)
    return tables


def _indexed_tables() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT t.relname FROM pg_index i JOIN pg_class ix ON ix.oid = i.indexrelid"
            " JOIN pg_class t ON t.oid = i.indrelid JOIN pg_am am ON am.oid = ix.relam"
            " WHERE am.amname IN ('gin', 'hnsw', 'ivfflat', 'gist')"
            " AND t.relnamespace = current_schema()::regnamespace"
        )
        return {r[0] for r in cursor.fetchall()}


def scan_database(needles: Needles) -> tuple[StoreReport, StoreReport]:
    tables = _text_columns()
    report = StoreReport("postgresql", f"{len(tables)} tables, every text/uuid/json column")
    found_in: dict[str, int] = {}
    wanted = sorted(needles.all)
    with connection.cursor() as cursor:
        for table, columns in tables.items():
            if table in EXCLUDED_TABLES:
                continue
            joined = sql.SQL(", ").join(sql.SQL("lower({}::text)").format(sql.Identifier(c)) for c in columns)
            query = sql.SQL(
                "SELECT m[1], count(*) FROM {table}, LATERAL regexp_matches(concat_ws(' ', {cols}), %s, 'g') AS m"
                " WHERE m[1] = ANY(%s) GROUP BY 1"
            ).format(table=sql.Identifier(table), cols=joined)
            cursor.execute(query, [ID_OR_HASH, wanted])
            for token, count in cursor.fetchall():
                kind = "hash" if token in needles.hashes else "id"
                line = f"{table}: {count} row(s) holding {kind} {token}"
                if table in METADATA_TABLES and kind == "id":
                    report.expected.append(line)
                    continue
                report.traces.append(line)
                found_in[table] = found_in.get(table, 0) + count
    indexed = _indexed_tables()
    index_report = StoreReport("search indexes", f"rows of the {len(indexed)} tables with GIN/HNSW indexes")
    index_report.traces = [f"{t}: {n} indexed row(s)" for t, n in sorted(found_in.items()) if t in indexed]
    return report, index_report


def scan_storage(needles: Needles, stored_files: list[str]) -> StoreReport:
    from privexbot.storage import StorageError, get_storage

    storage = get_storage()
    report = StoreReport("file storage", "")
    for name in stored_files:
        if storage.exists(name):
            report.traces.append(f"{name}: still stored")
    count = 0
    for name in storage.stored_files():
        count += 1
        digest = hashlib.sha256()
        try:
            for block in storage.iter_plaintext(name):
                digest.update(block)
        except (FileNotFoundError, StorageError, OSError):
            continue  # unreadable (another master key, deleted meanwhile): not a readable copy
        if digest.hexdigest() in needles.file_hashes:
            report.traces.append(f"{name}: same content as a deleted file ({digest.hexdigest()})")
    report.scanned = f"{count} stored files decrypted and hashed ({storage.blobs.kind})"
    return report


def _redis_values(client, key) -> list[bytes]:
    kind = client.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind == "string":
        return [client.get(key) or b""]
    if kind == "hash":
        return [b for pair in client.hgetall(key).items() for b in pair]
    if kind == "list":
        return list(client.lrange(key, 0, -1))
    if kind == "set":
        return list(client.smembers(key))
    if kind == "zset":
        return list(client.zrange(key, 0, -1))
    if kind == "stream":
        return [json.dumps([[i.decode(), {k.decode(): v.decode("latin-1") for k, v in f.items()}]
                            for i, f in client.xrange(key)]).encode()]  # fmt: skip
    return []


def scan_redis(needles: Needles) -> StoreReport:
    from privexbot.redis import get_client

    client = get_client()
    encoded = [n.encode() for n in needles.all]
    count = 0
    report = StoreReport("redis", "")
    for key in client.scan_iter(count=1000):
        count += 1
        blobs = [key, *_redis_values(client, key)]
        for needle in encoded:
            if any(needle in blob for blob in blobs if blob):
                report.traces.append(f"{key.decode(errors='replace')}: holds {needle.decode()}")
    report.scanned = f"{count} keys, names and values"
    return report


def scan_temp(needles: Needles) -> StoreReport:
    from privexbot.sandbox import roots

    # The temp dir and /dev/shm (or SANDBOX_DIR): pxb-* covers the processes' private directories, pxb-sandbox-*.
    places = roots()
    entries = [p for root in places for pattern in TEMP_PATTERNS for p in root.glob(pattern)]
    where = ", ".join(str(root) for root in places)
    report = StoreReport("temporary files", f"{len(entries)} entries matching {', '.join(TEMP_PATTERNS)} in {where}")
    for entry in entries:
        paths = [entry, *entry.rglob("*")] if entry.is_dir() else [entry]
        for path in paths:
            if any(i in path.name.lower() for i in needles.ids):
                report.traces.append(f"{path}: named after a deleted object")
            if path.is_file():
                try:
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()
                except OSError:
                    continue
                if digest in needles.file_hashes:
                    report.traces.append(f"{path}: same content as a deleted file")
    return report


def scan_all(body: dict) -> list[StoreReport]:
    needles = Needles.from_receipt(body)
    database, indexes = scan_database(needles)
    return [database, indexes, scan_storage(needles, body.get("stored_files", [])), scan_redis(needles),
            scan_temp(needles)]  # fmt: skip
