from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


@pytest.fixture
def draft(workspace, owner):
    from drafts.services import draft_create

    return draft_create(workspace=workspace, user=owner, name="Support KB", description="FAQ and manuals")


@pytest.fixture
def corpus():
    return CORPUS
