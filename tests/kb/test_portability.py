"""KB archives (kb.portability): a KB indexed by the real pipeline from real corpus documents, exported and imported
into another organization's workspace, answers a fixed set of queries with the same top 10 — same documents,
same chunks, same scores — without computing a single embedding. Bad archives are refused and create nothing;
another tenant's KB cannot be exported; the command and page doors do the same as the service."""

import contextlib
import io
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from kb.models import Chunk, Document, EmbeddingCache, KnowledgeBase
from kb.pipeline import runner
from kb.portability import ArchiveError, kb_export_archive, kb_import_archive
from kb.search import chunk_search
from kb.services import document_create_from_text
from privexbot.metrics.definitions import EMBEDDINGS, KB_IMPORTS
from privexbot.models import AuditEvent
from privexbot.storage import get_storage
from tests.conftest import make_tenant
from tests.kb.conftest import upload

CORPUS_FILES = ["md/nodejs-path.md", "txt/Apache-2.0.txt", "pdf/exam-n.pdf", "csv/iris.csv", "html/nodejs-dns.html"]
QUERIES = [
    "how to join path segments",
    "grant of patent license",
    "exam class points and marks",
    "petal length of iris setosa",
    "resolve a hostname to an IP address",
    "warranty disclaimer",
]
MODES = ("vector", "keyword", "hybrid")
PASTED = (
    "Our lighthouse museum opens at nine. Guided tours of the lamp room start every hour and last forty minutes. "
    "Tickets are sold at the harbour gate; children under six enter free.\n\n"
) * 6


def computed_embeddings() -> float:
    """Chunk texts this process embedded with the model (the pipeline's own counter, not a mock)."""
    return EMBEDDINGS.labels(source="computed")._value.get()


def imports_counted(door: str) -> float:
    return KB_IMPORTS.labels(door=door)._value.get()


def top10(kb):
    """(document name, chunk index, score, vector score, keyword score) of each query's top 10, every mode."""
    found = {}
    for query in QUERIES:
        for mode in MODES:
            results = chunk_search(kb=kb, query=query, mode=mode, top_k=10)
            index = dict(Chunk.objects.filter(pk__in=[r.chunk_id for r in results]).values_list("pk", "index"))
            found[(query, mode)] = [
                (r.document_name, index[r.chunk_id], r.score, r.vector_score, r.keyword_score) for r in results
            ]
    return found


def assert_same_results(before, after):
    assert before.keys() == after.keys()
    for key in before:
        assert [r[:2] for r in after[key]] == [r[:2] for r in before[key]], key
        for old, new in zip(before[key], after[key], strict=True):
            for a, b in zip(old[2:], new[2:], strict=True):
                assert (a is None and b is None) or abs(a - b) <= 1e-6, (key, old, new)


@pytest.fixture
def other_owner(db):
    """Owner of a workspace in another organization: where the archive is imported."""
    workspace, user = make_tenant("Initech")
    user.target = workspace
    return user


@pytest.fixture
def fresh_term_stats(settings):
    """The keyword leg weighs terms by installation-wide statistics read at most every SEARCH_TERM_STATS_SECONDS:
    read them once for this test, so both KBs are ranked against the same ones."""
    from kb.search import stats

    settings.SEARCH_TERM_STATS_SECONDS = 3600
    stats.clear()
    yield
    stats.clear()


@pytest.fixture
def small_kb(kb, owner, no_enqueue):
    """The `kb` fixture with a pasted text and an uploaded Markdown file, indexed by the pipeline."""
    text = document_create_from_text(kb=kb, user=owner, title="Lighthouse", content=PASTED)
    doc = upload(kb, owner, Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "md" / "nodejs-path.md")
    for document in (text, doc):
        assert runner.process(document.pk).status == "ready"
    return kb


@pytest.fixture
def archive(small_kb, owner):
    out = io.BytesIO()
    kb_export_archive(kb=small_kb, user=owner, out=out, door="command")
    return out.getvalue()


def write(tmp_path, data: bytes, name="archive.zip") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def rewrite(data: bytes, change) -> bytes:
    """The archive with change(name, bytes) -> bytes applied to every member (manifest included)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, change(info.filename, src.read(info.filename)))
    return out.getvalue()


def rehash(data: bytes) -> bytes:
    """Recompute the manifest's member hashes (what a deliberate forger would do)."""
    import hashlib

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    manifest = json.loads(members["manifest.json"])
    for name, body in members.items():
        if name != "manifest.json":
            manifest["members"][name] = {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}
    return rewrite(data, lambda n, b: json.dumps(manifest).encode() if n == "manifest.json" else b)


def _manifest_edit(edit):
    def change(name, body):
        if name != "manifest.json":
            return body
        manifest = json.loads(body)
        edit(manifest)
        return json.dumps(manifest).encode()

    return change


@pytest.mark.slow
def test_round_trip_into_another_organization_gives_the_same_top_10_without_embedding(
    kb, owner, other_owner, corpus, no_enqueue, fresh_term_stats
):
    documents = [upload(kb, owner, corpus / name) for name in CORPUS_FILES]
    documents.append(document_create_from_text(kb=kb, user=owner, title="Lighthouse", content=PASTED))
    for document in documents:
        assert runner.process(document.pk).status == "ready", document.name
    before = top10(kb)
    assert all(before[(q, "vector")] for q in QUERIES) and sum(bool(before[(q, "keyword")]) for q in QUERIES) >= 5

    out = io.BytesIO()
    summary = kb_export_archive(kb=kb, user=owner, out=out, door="command")
    chunks = Chunk.objects.filter(kb=kb).count()
    assert summary["documents"] == summary["ready_documents"] == len(documents) and summary["chunks"] == chunks
    assert summary["files"] == len(documents) and summary["bytes"] == len(out.getvalue())
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        npy = np.load(io.BytesIO(zf.read(f"{manifest['documents'][0]}/embeddings.npy")))
    assert manifest["schema_version"] == 2 and manifest["model"] == {"name": "all-MiniLM-L6-v2", "dimensions": 384}
    assert manifest["counts"]["chunks"] == chunks and npy.dtype == np.float32 and npy.shape[1] == 384

    computed = computed_embeddings()
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), out.getvalue())
        copy = kb_import_archive(workspace=other_owner.target, user=other_owner, archive_path=path, door="command")
    assert computed_embeddings() == computed  # not one vector was computed: the archive's are used as they are

    assert copy.pk != kb.pk and copy.workspace == other_owner.target and copy.created_by == other_owner
    assert (copy.name, copy.chunking_config, copy.embedding_config, copy.language) == (
        kb.name, kb.chunking_config, kb.embedding_config, kb.language
    )  # fmt: skip
    imported = list(copy.documents.order_by("created_at", "name"))
    assert sorted(d.name for d in imported) == sorted(d.name for d in documents)
    assert {d.status for d in imported} == {"ready"} and not {d.pk for d in imported} & {d.pk for d in documents}
    assert Chunk.objects.filter(kb=copy).count() == chunks
    assert not Chunk.objects.filter(kb=copy, search_vector__isnull=True).exists()
    storage = get_storage()
    originals = {d.name: d for d in kb.documents.all()}
    for document in imported:
        source = originals[document.name]
        assert document.stats["embedded"] == 0 and document.chunk_count == source.chunk_count
        assert document.stored_file != source.stored_file and document.elements_file != source.elements_file
        assert storage.open_bytes(document.stored_file) == storage.open_bytes(source.stored_file)  # re-encrypted here
        assert storage.open_bytes(document.elements_file) != storage.raw_bytes(document.elements_file)
    # The organization's embedding cache holds the vectors, as if it had computed them (never another org's rows).
    assert EmbeddingCache.objects.filter(organization_id=other_owner.target.organization_id).count() == len(
        set(Chunk.objects.filter(kb=copy).values_list("content_hash", flat=True))
    )

    assert_same_results(before, top10(copy))

    export = AuditEvent.objects.get(event_type="data_export", action="export", resource_id=str(kb.pk))
    assert export.details["chunks"] == chunks and export.details["door"] == "command"
    event = AuditEvent.objects.get(event_type="knowledge_base", action="import", resource_id=str(copy.pk))
    assert event.success and event.details["chunks"] == chunks and event.details["ready_documents"] == len(documents)
    assert "lighthouse" not in json.dumps(event.details).lower()  # counts, never content


def test_export_without_files_imports_ready_documents_without_originals(small_kb, owner, other_owner, tmp_path):
    out = io.BytesIO()
    summary = kb_export_archive(kb=small_kb, user=owner, out=out, include_files=False)
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as zf:
        names = zf.namelist()
    assert summary["files"] == 0 and not [n for n in names if "/original." in n]
    assert len([n for n in names if n.endswith("/elements.json")]) == 2
    copy = kb_import_archive(
        workspace=other_owner.target, user=other_owner, archive_path=write(tmp_path, out.getvalue())
    )
    documents = list(copy.documents.all())
    assert {d.status for d in documents} == {"ready"} and {d.stored_file for d in documents} == {""}
    assert all(d.elements_file for d in documents)  # a later reindex runs from the kept elements
    assert chunk_search(kb=copy, query="lighthouse tours", mode="hybrid", top_k=3)[0].document_name == "Lighthouse"


def _nothing_created(tmp_path, data, other_owner, code, status=400):
    kbs, documents, files = KnowledgeBase.objects.count(), Document.objects.count(), set(get_storage().stored_files())
    with pytest.raises(ArchiveError) as caught:
        kb_import_archive(workspace=other_owner.target, user=other_owner, archive_path=write(tmp_path, data))
    assert caught.value.code == code and caught.value.http_status == status, caught.value.message
    assert (KnowledgeBase.objects.count(), Document.objects.count()) == (kbs, documents)
    assert set(get_storage().stored_files()) == files  # files stored before the failure were removed again
    failed = (
        AuditEvent.objects.filter(event_type="knowledge_base", action="import", success=False).order_by("pk").last()
    )
    assert failed.details["code"] == code
    return caught.value


def test_a_tampered_member_is_refused(archive, other_owner, tmp_path):
    def change(name, body):
        return body.replace(b"lighthouse", b"LIGHTHOUSE") if name.endswith("chunks.jsonl") else body

    error = _nothing_created(tmp_path, rewrite(archive, change), other_owner, "tampered")
    assert "sha256" in error.message


def test_a_forged_chunk_with_a_recomputed_manifest_is_refused(archive, other_owner, tmp_path):
    def change(name, body):
        return body.replace(b"Guided tours", b"Unguided tours") if name.endswith("chunks.jsonl") else body

    # The member hashes match (the forger recomputed them), but a chunk no longer matches its content_hash. The
    # document's file and elements were already stored when its chunks are refused: they are removed again.
    _nothing_created(tmp_path, rehash(rewrite(archive, change)), other_owner, "tampered")


def _chunk_lines(change_row):
    def change(name, body):
        if not name.endswith("chunks.jsonl"):
            return body
        rows = [change_row(json.loads(line)) for line in body.decode().splitlines()]
        return "".join(json.dumps(row) + "\n" for row in rows).encode()

    return change


def test_context_lines_round_trip_and_a_forged_one_is_refused(small_kb, archive, other_owner, tmp_path):
    copy = kb_import_archive(workspace=other_owner.target, user=other_owner, archive_path=write(tmp_path, archive))
    source = sorted(Chunk.objects.filter(kb=small_kb).values_list("document__name", "index", "context", "content_hash"))
    copied = sorted(Chunk.objects.filter(kb=copy).values_list("document__name", "index", "context", "content_hash"))
    assert copied == source and any(row[2] for row in source)  # "Lighthouse > ...", "nodejs-path > Path > ..."

    # The content_hash covers the embedded text (context line + content): a changed context line is refused.
    forged = rehash(rewrite(archive, _chunk_lines(lambda row: {**row, "context": "Forged"})))
    _nothing_created(tmp_path, forged, other_owner, "tampered")


def test_a_version_1_archive_without_context_lines_still_imports(archive, other_owner, tmp_path):
    import hashlib

    def old(row):  # as version 1 wrote it: no context, content_hash of the content
        row.pop("context")
        return {**row, "content_hash": hashlib.sha256(row["content"].encode()).hexdigest()}

    data = rewrite(archive, _chunk_lines(old))
    data = rehash(rewrite(data, _manifest_edit(lambda m: m.update(schema_version=1))))
    copy = kb_import_archive(workspace=other_owner.target, user=other_owner, archive_path=write(tmp_path, data))
    chunks = list(Chunk.objects.filter(kb=copy))
    assert chunks and all(c.context == "" for c in chunks)
    assert {d.status for d in copy.documents.all()} == {"ready"}


def test_an_unknown_schema_version_is_refused(archive, other_owner, tmp_path):
    data = rewrite(archive, _manifest_edit(lambda m: m.update(schema_version=99)))
    error = _nothing_created(tmp_path, data, other_owner, "unsupported_schema_version")
    assert "99" in error.message


@pytest.mark.parametrize("name", ["README.txt", "documents/000001/original.txt"])  # unlisted; listed twice
def test_a_member_the_manifest_does_not_list_is_refused(archive, other_owner, tmp_path, name):
    out = io.BytesIO(archive)
    warned = pytest.warns(UserWarning) if name.startswith("documents") else contextlib.nullcontext()
    with warned, zipfile.ZipFile(out, "a") as zf:
        zf.writestr(name, b"smuggled")
    _nothing_created(tmp_path, out.getvalue(), other_owner, "invalid_archive")


def test_a_zip_bomb_is_refused_before_it_is_expanded(archive, other_owner, tmp_path):
    bomb = b"\0" * (20 * 1024 * 1024)  # 20 MB of zeros: ~20 KB compressed

    def change(name, body):
        return bomb if name.endswith("/elements.json") else body

    _nothing_created(tmp_path, rehash(rewrite(archive, change)), other_owner, "zip_bomb")


def test_an_encrypted_entry_is_refused(archive, other_owner, tmp_path):
    data = bytearray(archive)
    at = data.index(b"PK\x01\x02")  # the first central-directory entry: set its "encrypted" flag bit
    data[at + 8] |= 0x1
    _nothing_created(tmp_path, bytes(data), other_owner, "encrypted")


def test_a_file_that_is_not_an_archive_is_refused(other_owner, tmp_path, corpus):
    _nothing_created(tmp_path, (corpus / "pdf" / "exam-n.pdf").read_bytes(), other_owner, "unsupported_type", 415)
    _nothing_created(tmp_path, b"PK\x03\x04 but not really a zip", other_owner, "corrupt")


def test_an_archive_of_a_model_not_installed_here_is_refused(archive, other_owner, tmp_path):
    def edit(manifest):
        manifest["model"]["name"] = "all-MiniLM-L12-v9"
        manifest["knowledge_base"]["embedding_config"]["model"] = "all-MiniLM-L12-v9"

    error = _nothing_created(tmp_path, rewrite(archive, _manifest_edit(edit)), other_owner, "model_unavailable")
    assert "all-MiniLM-L12-v9" in error.message and "not installed" in error.message


def test_an_archive_over_the_size_limit_is_refused(archive, other_owner, tmp_path, settings):
    settings.KB_ARCHIVE_MAX_SIZE = len(archive) - 1
    _nothing_created(tmp_path, archive, other_owner, "too_large", 413)


def test_import_needs_kb_create_in_the_workspace(archive, viewer, workspace, tmp_path):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        kb_import_archive(workspace=workspace, user=viewer, archive_path=write(tmp_path, archive))


def test_retention_comes_along_only_for_who_may_set_it(small_kb, owner, member, workspace, tmp_path):
    KnowledgeBase.objects.filter(pk=small_kb.pk).update(retention_inherit=False, retention_days=30)
    small_kb.refresh_from_db()
    out = io.BytesIO()
    kb_export_archive(kb=small_kb, user=owner, out=out)
    path = write(tmp_path, out.getvalue())
    by_owner = kb_import_archive(workspace=workspace, user=owner, archive_path=path)
    by_editor = kb_import_archive(workspace=workspace, user=member, archive_path=path)
    assert (by_owner.retention_inherit, by_owner.retention_days) == (False, 30)
    assert (by_editor.retention_inherit, by_editor.retention_days) == (True, None)
    assert not by_owner.legal_hold


@pytest.mark.django_db(transaction=True)
def test_the_command_round_trip_is_counted(small_kb, owner, other_owner, tmp_path):
    path = tmp_path / "kb.zip"
    out = io.StringIO()
    call_command("kb_export", str(small_kb.pk), str(path), "--no-files", stdout=out)
    assert "2 documents (2 ready)" in out.getvalue() and path.stat().st_mode & 0o777 == 0o600
    with zipfile.ZipFile(path) as zf:
        assert not [n for n in zf.namelist() if "/original." in n]
    with pytest.raises(CommandError, match="exists"):
        call_command("kb_export", str(small_kb.pk), str(path), stdout=io.StringIO())

    counted = imports_counted("command")
    out = io.StringIO()
    call_command("kb_import", str(path), "--workspace", str(other_owner.target.pk), "--user", "initech", stdout=out)
    copy = KnowledgeBase.objects.get(workspace=other_owner.target)
    assert f"({copy.pk})" in out.getvalue() and "2 ready" in out.getvalue()
    assert imports_counted("command") == counted + 1  # on commit
    with pytest.raises(CommandError, match="no workspace"):  # another organization's workspace does not exist for them
        call_command("kb_import", str(path), "--workspace", str(other_owner.target.pk), "--user", "owner")
    with pytest.raises(CommandError, match="no knowledge base"):
        call_command("kb_export", str(small_kb.pk), str(tmp_path / "x.zip"), "--user", "initech")


def test_another_tenants_kb_cannot_be_exported(client_for, outsider, kb):
    response = client_for(outsider).get(reverse("kb:export", args=[kb.pk]))
    assert response.status_code == 404
    assert not AuditEvent.objects.filter(event_type="data_export", resource_id=str(kb.pk)).exists()


def test_the_pages_export_and_import(client_for, small_kb, owner, other_owner, settings):
    client = client_for(owner)
    for page in ("kb:settings", "kb:delete", "kb:detail"):
        assert (
            reverse("kb:export", args=[small_kb.pk]) in client.get(reverse(page, args=[small_kb.pk])).content.decode()
        )
    response = client.get(reverse("kb:export", args=[small_kb.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="product-docs.pxkb.zip"'
    data = b"".join(response.streaming_content)
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None

    client = client_for(other_owner)
    dashboard = client.get(reverse("home")).content.decode()
    assert reverse("kb:import") in dashboard
    page = client.get(reverse("kb:import"), {"workspace": str(other_owner.target.pk)})
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.content.decode()
    upload_file = io.BytesIO(data)
    upload_file.name = "product-docs.pxkb.zip"
    response = client.post(reverse("kb:import"), {"workspace": str(other_owner.target.pk), "archive": upload_file})
    copy = KnowledgeBase.objects.get(workspace=other_owner.target)
    assert response.status_code == 302 and response["Location"] == reverse("kb:detail", args=[copy.pk])
    assert copy.documents.filter(status="ready").count() == 2
    # An archive too big for memory is spooled encrypted (privexbot.uploads) and read from the spool in place.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1000
    upload_file.seek(0)
    response = client.post(reverse("kb:import"), {"workspace": str(other_owner.target.pk), "archive": upload_file})
    assert response.status_code == 302 and KnowledgeBase.objects.filter(workspace=other_owner.target).count() == 2
    second = KnowledgeBase.objects.filter(workspace=other_owner.target).exclude(pk=copy.pk).get()
    assert second.documents.filter(status="ready").count() == 2

    bad = io.BytesIO(b"not an archive")
    bad.name = "notes.txt"
    response = client.post(reverse("kb:import"), {"workspace": str(other_owner.target.pk), "archive": bad})
    assert response.status_code == 415 and "not a knowledge-base archive" in response.content.decode()
    settings.KB_ARCHIVE_MAX_SIZE = 1000  # the size is checked before the body is read
    upload_file.seek(0)
    response = client.post(reverse("kb:import"), {"workspace": str(other_owner.target.pk), "archive": upload_file})
    assert response.status_code == 413 and KnowledgeBase.objects.filter(workspace=other_owner.target).count() == 2
    assert "The archive is larger than" in response.content.decode()
    leftovers = list(Path(tempfile.gettempdir()).glob("pxb-import-*"))
    assert leftovers == []  # no plaintext copy of an archive stays on the server


def test_the_import_page_checks_csrf(small_kb, other_owner):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(other_owner)
    response = client.post(reverse("kb:import"), {"workspace": str(other_owner.target.pk)})
    assert response.status_code == 403
