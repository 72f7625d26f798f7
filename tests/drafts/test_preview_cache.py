"""The chunk preview's cache (drafts.preview_cache): a cached page is the page computed afresh, a new config or a
re-parse misses, nothing crosses tenants, the chunks are encrypted at rest, a huge table's first pages are its
whole chunking's first pages, and every deletion path takes the cached files with it."""

import io

import pytest
from django.urls import reverse

from drafts import preview_cache, processing
from drafts.models import DraftSource, PreviewChunks
from drafts.preview import draft_preview
from drafts.services import (
    draft_config_update,
    draft_create,
    draft_delete,
    draft_finalize,
    draft_source_add_file,
    draft_source_add_text,
    draft_source_remove,
)
from kb.pipeline.elements import elements_save
from privexbot.metrics.definitions import PREVIEW_CACHE_LOOKUPS
from privexbot.storage import get_storage
from tests.conftest import make_tenant

SENTENCE = "The lighthouse keeper logs every passing ship in the amber ledger."
TEXT = "\n\n".join(f"# Part {n}\n\n{SENTENCE} Entry {n} of the night watch, with its weather." for n in range(60))
SMALL = {"strategy": "recursive", "chunk_size": 300, "chunk_overlap": 30}


def _counter(outcome: str) -> float:
    return PREVIEW_CACHE_LOOKUPS.labels(outcome=outcome)._value.get()


def _rows(source) -> list[PreviewChunks]:
    return list(PreviewChunks.objects.filter(source=source).order_by("pk"))


def _fresh(draft, config=None):
    """The preview computed with no cache at all: the chunker on every completed source."""
    model = draft.embedding_config["model"]
    fresh = []
    for source in draft.sources.filter(status="completed").order_by("created_at"):
        for document_name, chunks in preview_cache.chunk_source(source, config or draft.chunking_config, model):
            fresh += [(document_name, chunk.to_dict()) for chunk in chunks]
    return fresh


def _page(preview) -> list:
    return [
        (c["document_name"], c["content"], c["context"], c["token_count"], c["metadata"]) for c in preview["chunks"]
    ]


def _as_page(fresh) -> list:
    return [(name, c["content"], c["context"], c["token_count"], c["metadata"]) for name, c in fresh]


@pytest.fixture
def text_draft(workspace, owner):
    draft = draft_create(workspace=workspace, user=owner, name="Lighthouse")
    draft_source_add_text(draft=draft, user=owner, title="Log", content=TEXT)
    draft_source_add_text(draft=draft, user=owner, title="Second log", content=TEXT.replace("amber", "green"))
    draft_config_update(draft=draft, chunking_config=SMALL)
    return draft


def test_a_cached_page_equals_a_freshly_computed_one(text_draft):
    first = draft_preview(draft=text_draft, offset=5, limit=20)
    (row,) = [r for s in text_draft.sources.all() for r in _rows(s)][:1]
    assert row.complete and row.blob and row.chunk_count > 0
    hits = _counter("hit")
    again = draft_preview(draft=text_draft, offset=5, limit=20)
    assert _counter("hit") - hits == 2  # both sources read from the cache
    fresh = _fresh(text_draft)
    assert _page(again) == _page(first) == _as_page(fresh[5:25])
    assert again["total_chunks"] == len(fresh) and again["complete"] is True
    assert again["total_tokens"] == sum(c["token_count"] for _, c in fresh)
    # A page across the two sources, and the whole preview, are the fresh chunks in order too.
    boundary = sum(1 for name, _ in fresh if name == "Log")
    across = draft_preview(draft=text_draft, offset=boundary - 3, limit=6)
    assert _page(across) == _as_page(fresh[boundary - 3 : boundary + 3])
    assert [c["id"].split("_chunk_")[1] for c in across["chunks"]] == [str(boundary - 3 + i) for i in range(6)]
    assert _page(draft_preview(draft=text_draft)) == _as_page(fresh)


def test_a_config_change_gives_new_chunks_and_old_configs_are_bounded(text_draft, settings):
    settings.PREVIEW_CACHE_CONFIGS = 2
    source = text_draft.sources.get(name="Log")
    before = draft_preview(draft=text_draft, source_id=source.pk, limit=10)
    text_draft.chunking_config = {**SMALL, "chunk_size": 700}  # in memory, as the live preview does
    after = draft_preview(draft=text_draft, source_id=source.pk, limit=10)
    assert _page(after) != _page(before)
    assert _page(after) == _as_page(_fresh(text_draft)[:10])
    assert len(_rows(source)) == 2
    old_files = {r.config_hash: r.blob for r in _rows(source)}
    text_draft.chunking_config = {**SMALL, "strategy": "by_heading"}
    draft_preview(draft=text_draft, source_id=source.pk, limit=10)
    kept = _rows(source)
    assert len(kept) == 2  # the least recently used config went
    gone = set(old_files) - {r.config_hash for r in kept}
    assert len(gone) == 1


def test_a_reparse_invalidates(text_draft):
    source = text_draft.sources.get(name="Log")
    draft_preview(draft=text_draft, source_id=source.pk, limit=5)
    (old,) = _rows(source)
    # What a new parse leaves: other elements in a new file.
    new_file = elements_save([{"text": "Completely different harbour notes.", "type": "NarrativeText"}])
    DraftSource.objects.filter(pk=source.pk).update(elements_file=new_file)
    stale = _counter("stale")
    preview = draft_preview(draft=text_draft, source_id=source.pk, limit=5)
    assert _counter("stale") - stale == 1
    assert [c["content"] for c in preview["chunks"]] == ["Completely different harbour notes."]
    (row,) = _rows(source)
    assert row.pk != old.pk and row.elements_file == new_file


def test_another_tenant_never_sees_the_cache(text_draft, owner, client_for, outsider):
    draft_preview(draft=text_draft, limit=5)
    other_ws, other_owner = make_tenant("Initech")
    other = draft_create(workspace=other_ws, user=other_owner, name="Same text")
    theirs = draft_source_add_text(draft=other, user=other_owner, title="Log", content=TEXT)
    draft_config_update(draft=other, chunking_config=SMALL)
    draft_preview(draft=other, limit=5)
    # Same text and config, and still a chunking of their own source: nothing is keyed by content.
    assert len(_rows(theirs)) == 1
    assert PreviewChunks.objects.filter(source__draft=other).count() == 1
    url = reverse("drafts:chunking_preview", args=[text_draft.pk])
    response = client_for(outsider).post(url, {**SMALL, "separators": "\\n\\n"})
    assert response.status_code == 404
    assert SENTENCE not in response.content.decode()


def test_cached_chunks_are_encrypted_at_rest(text_draft):
    draft_preview(draft=text_draft, limit=5)
    for row in PreviewChunks.objects.filter(source__draft=text_draft):
        raw = get_storage().raw_bytes(row.blob)
        assert raw.startswith(b"PXE1")
        assert SENTENCE.encode() not in raw and b"lighthouse" not in raw.lower()
        assert SENTENCE not in str(row.chunking_config)


def _csv(rows: int) -> bytes:
    lines = ["id,harbour,note"] + [f"{n},Port {n % 13},ship {n} logged in the amber ledger" for n in range(rows)]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def csv_draft(workspace, owner, settings, no_enqueue):
    settings.PREVIEW_LAZY_MIN_BYTES = 1  # the huge-table path on a small file
    draft = draft_create(workspace=workspace, user=owner, name="Ledger")
    source = draft_source_add_file(draft=draft, user=owner, filename="ledger.csv", fileobj=io.BytesIO(_csv(20000)))
    assert processing.parse_source(source.pk) == "completed"
    return draft


@pytest.mark.parametrize("strategy", ["recursive", "by_heading", "by_page"])
def test_a_huge_tables_first_pages_are_its_whole_chunkings_first_pages(csv_draft, strategy):
    draft_config_update(draft=csv_draft, chunking_config={"strategy": strategy, "chunk_size": 500})
    (source,) = csv_draft.sources.all()
    fresh = _fresh(csv_draft)
    assert len(fresh) > 300
    partial = _counter("partial")
    first = draft_preview(draft=csv_draft, limit=30)
    assert _counter("partial") - partial == 1
    assert first["complete"] is False  # "at least": a partial result is never taken for the whole
    assert 30 <= first["total_chunks"] < len(fresh)
    assert _page(first) == _as_page(fresh[:30])
    # Every chunk a prefix of the rows settles is the whole table's chunk (the prefix's last row group is not).
    model = csv_draft.embedding_config["model"]
    settled, exact = preview_cache.provisional(source, csv_draft.chunking_config, model, needed=1)
    assert not exact and [c.to_dict() for c in settled] == [c for _, c in fresh[: len(settled)]]
    later = draft_preview(draft=csv_draft, offset=200, limit=30)
    assert _page(later) == _as_page(fresh[200:230])
    (row,) = _rows(source)
    assert not row.complete and row.blob == "" and row.queued_at is not None  # nothing partial is stored
    assert preview_cache.fill(row.pk) == "filled"
    done = draft_preview(draft=csv_draft, offset=200, limit=30)
    assert done["complete"] is True and done["total_chunks"] == len(fresh)
    assert _page(done) == _as_page(fresh[200:230])
    assert _page(draft_preview(draft=csv_draft)) == _as_page(fresh)


def test_a_huge_table_read_to_its_end_is_stored_whole(csv_draft):
    draft_config_update(draft=csv_draft, chunking_config={"strategy": "recursive", "chunk_size": 4000})
    fresh = _fresh(csv_draft)
    preview = draft_preview(draft=csv_draft, limit=len(fresh))  # asks for more than a prefix can settle
    assert preview["complete"] is True and _page(preview) == _as_page(fresh)
    (row,) = _rows(csv_draft.sources.get())
    assert row.complete and row.chunk_count == len(fresh)


def _files(draft) -> list[str]:
    return list(PreviewChunks.objects.filter(source__draft=draft).exclude(blob="").values_list("blob", flat=True))


def test_deletion_paths_take_the_cached_files(text_draft, owner, django_capture_on_commit_callbacks):
    storage = get_storage()
    draft_preview(draft=text_draft, limit=5)
    files = _files(text_draft)
    assert len(files) == 2 and all(storage.exists(f) for f in files)
    source = text_draft.sources.get(name="Log")
    (its_file,) = [r.blob for r in _rows(source)]
    with django_capture_on_commit_callbacks(execute=True):
        draft_source_remove(draft=text_draft, source=source, user=owner)
    assert not storage.exists(its_file) and PreviewChunks.objects.filter(blob=its_file).count() == 0
    (other_file,) = _files(text_draft)
    with django_capture_on_commit_callbacks(execute=True):
        draft_delete(draft=text_draft, user=owner)
    assert not storage.exists(other_file) and PreviewChunks.objects.count() == 0


def test_finalize_kb_and_workspace_deletion_and_expiry_take_the_cached_files(
    workspace, owner, kb, settings, no_enqueue, django_capture_on_commit_callbacks
):
    from kb.deletion import delete_kb
    from tenants.workspaces import workspace_delete

    storage = get_storage()

    def previewed(**kwargs):
        draft = draft_create(workspace=workspace, user=owner, name="Notes", **kwargs)
        draft_source_add_text(draft=draft, user=owner, title="Log", content=TEXT)
        draft_preview(draft=draft, limit=5)
        (name,) = _files(draft)
        return draft, name

    finalized, name = previewed()
    with django_capture_on_commit_callbacks(execute=True):
        draft_finalize(draft=finalized, user=owner)
    assert not storage.exists(name)

    adding, name = previewed(target_kb=kb)  # a draft adding to a KB goes with the KB (drafts.deletion)
    with django_capture_on_commit_callbacks(execute=True):
        delete_kb(kb=kb, user=owner)
    assert not storage.exists(name)

    expiring, name = previewed()
    PreviewChunks.objects.filter(blob=name).update(used_at="2000-01-01T00:00:00Z")
    with django_capture_on_commit_callbacks(execute=True):
        assert preview_cache.preview_cache_expire() == 1
    assert not storage.exists(name) and not PreviewChunks.objects.filter(source__draft=expiring).exists()

    _, name = previewed()
    with django_capture_on_commit_callbacks(execute=True):
        workspace_delete(workspace=workspace, user=owner)
    assert not storage.exists(name) and PreviewChunks.objects.count() == 0


def test_a_fill_for_a_removed_source_leaves_no_file(csv_draft, owner, django_capture_on_commit_callbacks):
    draft_config_update(draft=csv_draft, chunking_config={"strategy": "recursive", "chunk_size": 500})
    draft_preview(draft=csv_draft, limit=30)
    source = csv_draft.sources.get()
    (row,) = _rows(source)
    before = set(get_storage().stored_files())
    with django_capture_on_commit_callbacks(execute=True):
        draft_source_remove(draft=csv_draft, source=source, user=owner)
    assert preview_cache.fill(row.pk) is None  # its row went with the source: nothing is written
    assert set(get_storage().stored_files()) <= before


def test_a_parsed_source_is_warmed_with_its_drafts_config(text_draft):
    from drafts.actors import _warm_preview

    source = text_draft.sources.get(name="Log")
    _warm_preview(source.pk, "completed")  # what the parse and crawl actors do once a source is completed
    (row,) = _rows(source)
    assert row.complete and row.chunk_count == len(preview_cache.chunk_source(source, SMALL, row.model)[0][1])
    assert preview_cache.warm(source.pk) == "cached"
    hits = _counter("hit")
    draft_preview(draft=text_draft, source_id=source.pk, limit=10)
    assert _counter("hit") - hits == 1


def test_a_tables_first_rows_are_read_exactly_whatever_its_text_holds(db):
    from drafts.preview_stream import TableStream
    from kb.pipeline.parse_common import make_table

    rows = [["a\\", 'b"c'], ['\\\\"', "é ü 中 \u2028"], ["x" * 10, "\\"]] * 3000
    table = make_table(['h\\"1', "h2"], rows, page=3, heading_path=["Sheet"])
    stream = TableStream(elements_save([table, {"text": "after", "type": "NarrativeText"}]))
    try:
        assert stream.ok
        stream.fill(5)
        assert stream.rows == rows[:5] and not stream.done
        stream.fill(10**9)
        assert stream.element() == table and stream.done and stream.single is False
    finally:
        stream.close()
    assert not TableStream(elements_save([{"text": "prose", "type": "NarrativeText"}])).ok
