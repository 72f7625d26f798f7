import pytest
from rest_framework.test import APIClient

from tests.drafts.conftest import corpus  # noqa: F401  (shared fixture; docs_site is in tests/conftest.py)

TEXT = "Our refund policy: refunds are issued within 14 days of receiving the returned item. " * 30


@pytest.fixture(autouse=True)
def fresh_throttles(isolated_throttles):
    """Every API test starts with empty rate-limit windows of its own (tests/conftest.py)."""
    return isolated_throttles


@pytest.fixture
def api(db):
    """api(user) -> an APIClient authenticated with a real bearer token; api() is anonymous. The key has the
    `admin` scope unless told otherwise (api(user, scopes=[...], kb_ids=[...])), so by default a test sees
    exactly what the user's role allows."""
    from tenants.tokens import api_token_create

    def make(user=None, **token_options):
        client = APIClient()
        if user is not None:
            token_options.setdefault("scopes", ["admin"])
            _, token = api_token_create(user=user, name="tests", **token_options)
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return make


@pytest.fixture
def draft(workspace, owner):
    from drafts.services import draft_create

    return draft_create(workspace=workspace, user=owner, name="Support KB", description="FAQ")


@pytest.fixture
def text_source(draft, owner):
    from drafts.services import draft_source_add_text

    return draft_source_add_text(draft=draft, user=owner, title="Refunds", content=TEXT)


@pytest.fixture
def ready_kb(kb, owner, no_enqueue):  # noqa: F811
    """The `kb` fixture with one processed text document."""
    from kb.pipeline import runner
    from kb.services import document_create_from_text

    document = document_create_from_text(kb=kb, user=owner, title="Refunds", content=TEXT)
    assert runner.process(document.pk).status == "ready"
    return kb


def error_of(response, status: int) -> dict:
    """Assert the status and the shared error shape; return the error object."""
    assert response.status_code == status, (response.status_code, getattr(response, "data", response.content))
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]
