import pytest
from django.db import connection

from drafts.services import draft_create, draft_source_add_text
from kb.models import Chunk, Document, DocumentStatus

TEXT = "Refunds are issued within 14 days of receiving the returned item. Keep the receipt. " * 12
EVIL = (
    '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2"> '
    '<a hx-get="/logout/" hx-trigger="load">x</a>'
)


@pytest.fixture
def draft(workspace, owner):
    return draft_create(workspace=workspace, user=owner, name="Support KB", description="FAQ")


@pytest.fixture
def text_source(draft, owner):
    return draft_source_add_text(draft=draft, user=owner, title="Refund policy", content=TEXT)


def add_chunk(document, index: int, content: str) -> Chunk:
    """A stored chunk with its full-text vector (what the pipeline's store step writes), for keyword search."""
    chunk = Chunk.objects.create(
        document=document, kb=document.kb, version=1, index=index, content=content, content_hash=f"h{index}",
        token_count=len(content.split()), word_count=len(content.split()), char_count=len(content),
        metadata={"page": 2, "heading_path": ["Policies", "Refunds"]},
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("UPDATE kb_chunk SET search_vector = to_tsvector('english', content) WHERE id = %s", [chunk.pk])
    return chunk


@pytest.fixture
def documents(kb):
    ready = Document.objects.create(
        kb=kb, source_type="text_input", name="Refund policy", status=DocumentStatus.READY, progress=100,
        chunk_count=2, token_count=40,
    )  # fmt: skip
    add_chunk(ready, 0, "Refunds are issued within 14 days of receiving the returned item.")
    add_chunk(ready, 1, "Shipping takes 3 days. " + EVIL)
    failed = Document.objects.create(
        kb=kb, source_type="file_upload", name="scan.pdf", file_type="pdf", status=DocumentStatus.FAILED,
        error="No extractable text: the PDF holds only images.", error_code="no_text", attempts=1,
    )  # fmt: skip
    return {"ready": ready, "failed": failed}
