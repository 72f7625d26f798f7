"""Preview == indexed, for every chunking strategy and every file type of the corpus: byte-identical
chunks, in the same order, with the same token counts."""

import io
from collections import defaultdict

import pytest

from drafts import processing
from drafts.preview import draft_preview
from drafts.services import (
    draft_config_update,
    draft_create,
    draft_finalize,
    draft_source_add_file,
    draft_source_add_text,
)
from kb.models import Chunk, Document
from kb.pipeline import runner

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
        previewed[chunk["document_name"]].append((chunk["chunk_index"], chunk["content"], chunk["token_count"]))
    assert len(previewed) == len(ONE_OF_EACH_TYPE) + 1

    kb = draft_finalize(draft=draft, user=owner)
    for doc in Document.objects.filter(kb=kb):
        assert runner.process(doc.pk).status == "ready", (doc.name, doc.error)
    indexed = defaultdict(list)
    for chunk in Chunk.objects.filter(kb=kb).select_related("document").order_by("document_id", "index"):
        indexed[chunk.document.name].append((chunk.index, chunk.content, chunk.token_count))
    assert indexed.keys() == previewed.keys()
    for name in previewed:
        assert indexed[name] == previewed[name], name
