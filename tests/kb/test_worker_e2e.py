"""Real worker processes take real corpus files to `ready` — and survive being killed mid-document."""

import os
import signal
import time

import pytest

from kb.models import Chunk, Document, DocumentStatus
from kb.services import document_create_from_text
from tests.kb.conftest import upload

pytestmark = pytest.mark.slow

EVERY_FORMAT = [
    "pdf/exam-n.pdf",
    "docx/blk-paras-and-tables.docx",
    "txt/" + "{txt}",
    "md/pikepdf-README.md",
    "csv/iris.csv",
    "xlsx/{xlsx}",
    "html/nodejs-path.html",
]

# What each broken PDF must end as (pdf/broken/MANIFEST): text recovered, or a reason a user can act on.
BROKEN = {
    "encrypted-file.pdf": ("failed", "encrypted"),
    "libreoffice-writer-password.pdf": ("failed", "encrypted"),
    "crazyones-encrypted-256.pdf": ("failed", "encrypted"),
    "jbig2.pdf": ("failed", "no_text"),
    "francais.pdf": ("failed", "no_text"),
    "378014596.pdf": ("failed", "corrupt"),
}


def wait_finished(ids, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = dict(Document.objects.filter(pk__in=ids).values_list("pk", "status"))
        if all(s not in ("queued", "parsing", "chunking", "embedding", "indexing") for s in statuses.values()):
            return statuses
        time.sleep(0.5)
    raise AssertionError(f"documents still unfinished: {statuses}")


def _pick(corpus, folder, suffix):
    return sorted(p.name for p in (corpus / folder).iterdir() if p.suffix == suffix)[0]


def test_worker_takes_every_format_and_every_broken_pdf_to_a_final_state(worker_process, kb, owner, corpus):
    worker_process()
    names = [n.format(txt=_pick(corpus, "txt", ".txt"), xlsx=_pick(corpus, "xlsx", ".xlsx")) for n in EVERY_FORMAT]
    good = [upload(kb, owner, corpus / n) for n in names]
    text = document_create_from_text(kb=kb, user=owner, title="Pasted", content="Pasted text about refunds. " * 20)
    broken = {p.name: upload(kb, owner, p) for p in sorted((corpus / "pdf" / "broken").glob("*.pdf"))}
    statuses = wait_finished([d.pk for d in [*good, text, *broken.values()]])

    for doc in [*good, text]:
        doc.refresh_from_db()
        assert doc.status == DocumentStatus.READY, (doc.name, doc.error)
        rows = Chunk.objects.filter(document=doc)
        assert rows.count() == doc.chunk_count > 0
        assert not rows.filter(embedding__isnull=True).exists()
        assert not rows.filter(search_vector__isnull=True).exists()
    for name, doc in broken.items():
        doc.refresh_from_db()
        assert statuses[doc.pk] in ("ready", "failed", "quarantined"), name
        if doc.status != "ready":
            assert doc.error and doc.error_code in {"encrypted", "no_text", "corrupt"}, (name, doc.error_code)
        if name in BROKEN:
            assert (doc.status, doc.error_code) == BROKEN[name], (name, doc.error)
    recovered = Document.objects.get(pk=broken["issue-297.pdf"].pk)
    assert recovered.status == "ready"
    assert "test example" in " ".join(Chunk.objects.filter(document=recovered).values_list("content", flat=True))


def test_sigkill_mid_document_still_ends_ready_with_exactly_the_expected_chunks(worker_process, kb, owner, corpus):
    # Small embedding groups (8 x 4 chunks), so some are cached before the kill and some are not.
    fast_sweep = {"SWEEP_INTERVAL": "1", "DOCUMENT_STALE_AFTER": "4", "EMBEDDING_BATCH_SIZE": "4"}
    first = worker_process(**fast_sweep)
    doc = upload(kb, owner, corpus / "pdf" / "cleveref.pdf")
    deadline = time.monotonic() + 300
    while Document.objects.get(pk=doc.pk).status != DocumentStatus.EMBEDDING:
        assert time.monotonic() < deadline, "never reached the embedding stage"
        assert Document.objects.get(pk=doc.pk).status not in ("ready", "failed", "quarantined")
        time.sleep(0.05)
    from kb.models import EmbeddingCache

    while not EmbeddingCache.objects.exists():  # kill once some batches are embedded and cached, not all
        assert time.monotonic() < deadline, "no batch was ever cached"
        time.sleep(0.02)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    killed = Document.objects.get(pk=doc.pk)
    assert killed.status == DocumentStatus.EMBEDDING and killed.attempts == 1

    worker_process(**fast_sweep)
    wait_finished([doc.pk], timeout=600)
    doc.refresh_from_db()
    assert doc.status == DocumentStatus.READY, doc.error
    assert doc.attempts == 2

    from kb.pipeline import runner, runtime

    expected = runtime.chunk_for_model(
        runner.load_elements(doc), kb.chunking_config, "all-MiniLM-L6-v2", title=doc.name
    )  # the worker passes the document's name: it is the chunks' context line
    rows = list(Chunk.objects.filter(document=doc).values_list("index", "content"))
    assert len(rows) == len(expected) == doc.chunk_count
    assert sorted(i for i, _ in rows) == list(range(len(expected)))  # no duplicates, no gaps
    assert [c for _, c in sorted(rows)] == [c.content for c in expected]
    assert doc.stats["embedding_cache_hits"] > 0  # the batches done before the kill were not recomputed


def test_reprocess_while_a_real_worker_is_mid_document_is_refused_and_loses_nothing(worker_process, kb, owner, corpus):
    """The chosen outcome: a reprocess request while a live worker is on the document is refused (409 in
    the API) and the run finishes untouched; once it is ready, a reprocess replaces the chunks whole."""
    from rest_framework.test import APIClient

    from kb.pipeline import runner, runtime
    from tenants.tokens import api_token_create

    _, token = api_token_create(user=owner, name="tests", scopes=["write"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    url = f"/api/v1/knowledge-bases/{kb.pk}/documents/{{}}/reprocess"

    worker_process(EMBEDDING_BATCH_SIZE="4")  # small batches: the embedding stage lasts long enough
    doc = upload(kb, owner, corpus / "pdf" / "cleveref.pdf")
    deadline = time.monotonic() + 300
    while Document.objects.get(pk=doc.pk).status != DocumentStatus.EMBEDDING:
        assert time.monotonic() < deadline, "never reached the embedding stage"
        time.sleep(0.05)
    response = api.post(url.format(doc.pk))
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "in_progress"
    assert "being processed right now" in response.json()["error"]["message"]

    wait_finished([doc.pk])
    doc.refresh_from_db()
    assert (doc.status, doc.attempts, doc.version) == (DocumentStatus.READY, 1, 1), doc.error
    expected = runtime.chunk_for_model(
        runner.load_elements(doc), kb.chunking_config, "all-MiniLM-L6-v2", title=doc.name
    )  # the worker passes the document's name: it is the chunks' context line
    rows = sorted(Chunk.objects.filter(document=doc).values_list("index", "version", "content"))
    assert [(i, v) for i, v, _ in rows] == [(i, 1) for i in range(len(expected))]  # no gap, no duplicate
    assert [c for _, _, c in rows] == [c.content for c in expected]

    response = api.post(url.format(doc.pk))  # finished: now it is accepted
    assert response.status_code == 202, response.content
    wait_finished([doc.pk])
    doc.refresh_from_db()
    assert (doc.status, doc.version) == (DocumentStatus.READY, 2)
    rows = sorted(Chunk.objects.filter(document=doc).values_list("index", "version", "content"))
    assert [(i, v) for i, v, _ in rows] == [(i, 2) for i in range(len(expected))]
    assert [c for _, _, c in rows] == [c.content for c in expected]


def test_threads_of_one_worker_share_encodes_and_each_chunk_gets_its_own_vector(worker_process, kb, owner, corpus):
    """Three threads of one worker process: their documents' encodes are combined into shared calls
    (kb.pipeline.embedding.combine); every stored vector is still the one its own text gets encoded alone."""
    import numpy as np

    from kb.pipeline import runtime
    from kb.pipeline.types import embedding_text

    worker_process(threads=3)
    names = ["md/nodejs-path.md", "md/nodejs-url.md", "md/nodejs-dns.md", "md/zstd-CONTRIBUTING.md",
             "md/pikepdf-README.md", "md/camelot-README.md"]  # fmt: skip
    docs = [upload(kb, owner, corpus / name) for name in names]
    statuses = wait_finished([d.pk for d in docs])
    assert set(statuses.values()) == {"ready"}, statuses

    rows = list(Chunk.objects.filter(document__in=docs).values_list("document_id", "context", "content", "embedding"))
    assert len({document for document, *_ in rows}) == len(names)
    alone = runtime.embedder("all-MiniLM-L6-v2").encode([embedding_text(c, t) for _, c, t, _ in rows], batch_size=1)
    stored = np.array([np.asarray(e, dtype=np.float32) for *_, e in rows])
    cosines = (alone * stored).sum(axis=1)  # both unit length
    assert cosines.min() > 0.9999, f"a chunk got another text's vector (min cosine {cosines.min():.5f})"
