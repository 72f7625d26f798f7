"""Preview == indexed, for every chunking strategy and every file type of the corpus: byte-identical
chunks, in the same order, with the same token counts, context lines, embedded text (the embedding cache key and
the vector) and keyword-indexed text (the tsvector: context at weight B, content at D)."""

import io
from collections import defaultdict

import numpy as np
import pytest
from django.db import connection

from drafts import processing
from drafts.preview import draft_preview
from drafts.services import (
    draft_config_update,
    draft_create,
    draft_finalize,
    draft_source_add_file,
    draft_source_add_text,
)
from kb.models import Chunk, Document, EmbeddingCache
from kb.pipeline import runner, runtime
from kb.pipeline.store import text_hash

ONE_OF_EACH_TYPE = [
    "pdf/refcard-a4.pdf",
    "docx/blk-paras-and-tables.docx",
    "txt/atomic_t.txt",
    "md/xmlsec-examples-README.md",
    "csv/distro-info-debian.csv",
    "xlsx/csvkit-test.xlsx",
    "html/libffi-Simple-Example.html",
]


@pytest.mark.parametrize("strategy", ["recursive", "by_heading", "by_page", "semantic"])
def test_indexed_chunks_are_byte_identical_to_the_preview(strategy, workspace, owner, corpus, no_enqueue):
    draft = draft_create(workspace=workspace, user=owner, name=f"identity {strategy}")
    for name in ONE_OF_EACH_TYPE:
        path = corpus / name
        source = draft_source_add_file(
            draft=draft, user=owner, filename=path.name, fileobj=io.BytesIO(path.read_bytes())
        )
        assert processing.parse_source(source.pk) == "completed", name
    draft_source_add_text(draft=draft, user=owner, title="Pasted", content="# Returns\n\nRefunds take 14 days.\n\n" * 5)
    draft_config_update(draft=draft, chunking_config={"strategy": strategy, "chunk_size": 600, "chunk_overlap": 60})

    preview = draft_preview(draft=draft)
    previewed = defaultdict(list)
    for chunk in preview["chunks"]:
        assert chunk["embedding_text"] == (
            f"{chunk['context']}\n{chunk['content']}" if chunk["context"] else chunk["content"]
        )
        previewed[chunk["document_name"]].append(
            (chunk["chunk_index"], chunk["context"], chunk["content"], chunk["token_count"], chunk["embedding_text"])
        )
    assert len(previewed) == len(ONE_OF_EACH_TYPE) + 1
    # Every chunk carries the document's title (the file's name without its extension) in its context line.
    assert all(c["context"].startswith(c["document_name"].rsplit(".", 1)[0]) for c in preview["chunks"])
    assert not any(c["truncated"] for c in preview["chunks"])

    kb = draft_finalize(draft=draft, user=owner)
    for doc in Document.objects.filter(kb=kb):
        assert runner.process(doc.pk).status == "ready", (doc.name, doc.error)
    indexed = defaultdict(list)
    rows = Chunk.objects.filter(kb=kb).select_related("document").order_by("document_id", "index")
    for chunk in rows:
        # The embedded text is the context line + the content: the content_hash (the embedding cache's key) is
        # its sha256, and the organization's cache holds the vector under it.
        embedded = f"{chunk.context}\n{chunk.content}" if chunk.context else chunk.content
        assert chunk.content_hash == text_hash(embedded)
        indexed[chunk.document.name].append((chunk.index, chunk.context, chunk.content, chunk.token_count, embedded))
    assert indexed.keys() == previewed.keys()
    for name in previewed:
        assert indexed[name] == previewed[name], name
    cached = set(
        EmbeddingCache.objects.filter(organization_id=workspace.organization_id).values_list("text_hash", flat=True)
    )
    assert {text_hash(c["embedding_text"]) for c in preview["chunks"]} <= cached

    # The keyword index holds exactly the preview's context line (weight B) and content (weight D).
    expected = [(c["document_name"], c["chunk_index"], c["context"], c["content"]) for c in preview["chunks"]]
    ids = {(c.document.name, c.index): c.pk for c in rows}
    with connection.cursor() as cursor:
        for name, index, context, content in expected:
            cursor.execute(
                "SELECT search_vector = kb_search_vector(%s::regconfig, %s, %s) FROM kb_chunk WHERE id = %s",
                [kb.language, context, content, ids[(name, index)]],
            )
            assert cursor.fetchone() == (True,), (name, index)

    # The stored vector is the model's vector of the previewed embedded text (one chunk per document).
    model = kb.embedding_config["model"]
    firsts = [next(c for c in preview["chunks"] if c["document_name"] == name) for name in previewed]
    vectors = runtime.embedder(model).encode([c["embedding_text"] for c in firsts])
    for chunk, vector in zip(firsts, vectors, strict=True):
        stored = Chunk.objects.get(pk=ids[(chunk["document_name"], chunk["chunk_index"])]).embedding
        assert float(np.dot(np.asarray(stored), vector)) > 0.999, chunk["document_name"]
