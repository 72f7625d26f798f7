import io
from pathlib import Path

import pytest

from kb.models import KnowledgeBase

# shared/ lies next to the checkout, for developers and for CI's clean clone alike.
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


@pytest.fixture
def corpus():
    if not CORPUS.exists():
        pytest.fail(f"test corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture
def make_kb(workspace, owner):
    def make(name="KB", **kwargs):
        return KnowledgeBase.objects.create(workspace=workspace, name=name, created_by=owner, **kwargs)

    return make


@pytest.fixture
def no_enqueue(monkeypatch):
    """In-process pipeline tests run the runner directly; nothing is sent to the broker."""
    sent = []
    from kb import services

    monkeypatch.setattr(services, "_enqueue", lambda ids: sent.extend(str(i) for i in ids))
    return sent


def upload(kb, user, path: Path, name: str | None = None):
    from kb.services import document_create_from_file

    with open(path, "rb") as fh:
        return document_create_from_file(kb=kb, user=user, filename=name or path.name, fileobj=io.BytesIO(fh.read()))
