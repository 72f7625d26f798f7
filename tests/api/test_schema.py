"""The OpenAPI schema is valid, the docs page serves its assets locally, list endpoints stay at a fixed number
of queries, and a property-based run over the draft and KB endpoints finds no server error."""

import re

import pytest
import schemathesis
from django.contrib.staticfiles import finders
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from drafts.services import draft_create, draft_source_add_text
from kb.models import KnowledgeBase
from kb.services import document_create_from_text
from tenants.tokens import api_token_create
from tests.api.conftest import TEXT

pytestmark = pytest.mark.django_db

ISSUE_ROUTES = {
    ("post", "/api/v1/kb-drafts/"),
    ("get", "/api/v1/kb-drafts/{draft_id}"),
    ("delete", "/api/v1/kb-drafts/{draft_id}"),
    ("post", "/api/v1/kb-drafts/{draft_id}/sources/upload"),
    ("post", "/api/v1/kb-drafts/{draft_id}/sources/website"),
    ("post", "/api/v1/kb-drafts/{draft_id}/sources/text"),
    ("get", "/api/v1/kb-drafts/{draft_id}/sources"),
    ("delete", "/api/v1/kb-drafts/{draft_id}/sources/{source_id}"),
    ("post", "/api/v1/kb-drafts/{draft_id}/preview-chunks"),
    ("post", "/api/v1/kb-drafts/{draft_id}/validate"),
    ("post", "/api/v1/kb-drafts/{draft_id}/finalize"),
    ("patch", "/api/v1/kb-drafts/{draft_id}/config"),
    ("get", "/api/v1/knowledge-bases/"),
    ("get", "/api/v1/knowledge-bases/{kb_id}/"),
    ("patch", "/api/v1/knowledge-bases/{kb_id}/"),
    ("delete", "/api/v1/knowledge-bases/{kb_id}/"),
    ("get", "/api/v1/knowledge-bases/{kb_id}/documents/"),
    ("get", "/api/v1/knowledge-bases/{kb_id}/documents/{document_id}/"),
    ("delete", "/api/v1/knowledge-bases/{kb_id}/documents/{document_id}/"),
    ("post", "/api/v1/knowledge-bases/{kb_id}/documents/{document_id}/reprocess"),
    ("get", "/api/v1/knowledge-bases/{kb_id}/chunks/"),
    ("post", "/api/v1/knowledge-bases/{kb_id}/search"),
    ("get", "/api/v1/workspaces/"),
}


def test_schema_is_valid_openapi_with_every_route(api):
    from drf_spectacular.validation import validate_schema

    response = api().get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)  # against the official OpenAPI 3.0 JSON schema
    routes = {(m, p) for p, ops in schema["paths"].items() for m in ops}
    assert routes >= ISSUE_ROUTES
    upload = schema["paths"]["/api/v1/kb-drafts/{draft_id}/sources/upload"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert {"413", "415", "401", "404"} <= set(upload["responses"])
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_docs_page_serves_swagger_from_local_static_files(api):
    html = api().get("/api/v1/docs/").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', html)
    assert assets and not [a for a in assets if "://" in a or a.startswith("//")]
    for asset in assets:
        assert finders.find(asset.removeprefix("/static/")), asset


def test_list_endpoints_use_a_fixed_number_of_queries(api, owner, workspace, no_enqueue, django_assert_max_num_queries):
    from kb.pipeline import runner

    client = api(owner)
    draft = draft_create(workspace=workspace, user=owner, name="D")
    kb = KnowledgeBase.objects.create(workspace=workspace, name="KB", created_by=owner)

    def grow():
        KnowledgeBase.objects.create(workspace=workspace, name="Another", created_by=owner)
        for i in range(2):
            document = document_create_from_text(kb=kb, user=owner, title=f"Doc {i}", content=TEXT)
            runner.process(document.pk)
            draft_source_add_text(draft=draft, user=owner, title=f"S {i}", content=TEXT)
        api_token_create(user=owner)

    grow()
    urls = [
        "/api/v1/knowledge-bases/",
        f"/api/v1/knowledge-bases/{kb.pk}/documents/",
        f"/api/v1/knowledge-bases/{kb.pk}/chunks/",
        f"/api/v1/kb-drafts/{draft.pk}/sources",
        f"/api/v1/kb-drafts/{draft.pk}",
        "/api/v1/workspaces/",
        "/api/v1/tokens/",
    ]
    counts = {}
    for url in urls:
        with django_assert_max_num_queries(12) as captured:
            assert client.get(url).status_code == 200
        counts[url] = len(captured)
    for _ in range(3):
        grow()
    for url in urls:  # four times the rows, not one query more
        with django_assert_max_num_queries(counts[url]):
            assert client.get(url).status_code == 200


# ---------------------------------------------------------------- property-based run (schemathesis, in-process WSGI)
@pytest.fixture
def api_schema(db):
    from django.core.signals import request_finished, request_started
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    # As Django's test client does: a finished request must not close the connection holding the test transaction.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())
        yield schema.include(path_regex=r"^/api/v1/(kb-drafts|knowledge-bases)")
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


@pytest.fixture
def fuzz_world(owner, workspace, no_enqueue, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "100000/min", "ip": "100000/min", "heavy": "100000/min"},
    }
    _, token = api_token_create(user=owner, name="fuzz", scopes=["write"])

    def fresh_ids() -> dict:
        draft = draft_create(workspace=workspace, user=owner, name="Fuzz")
        source = draft_source_add_text(draft=draft, user=owner, title="Refunds", content=TEXT)
        kb = KnowledgeBase.objects.create(workspace=workspace, name="Fuzz KB", created_by=owner)
        document = document_create_from_text(kb=kb, user=owner, title="Refunds", content=TEXT)
        return {"draft_id": draft.pk, "source_id": source.pk, "kb_id": kb.pk, "document_id": document.pk}

    return {"Authorization": f"Bearer {token}"}, fresh_ids


FUZZ_EXAMPLES = 25  # per operation (~20 operations): about 40 s


def test_fuzzed_requests_never_get_a_server_error(api_schema, fuzz_world):
    """Schemathesis generates bodies and query strings from the schema, valid (positive) and invalid (negative)."""
    headers, fresh_ids = fuzz_world
    failures = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20

    for operation in operations:
        strategy = st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in GenerationMode))

        @given(case=strategy)
        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def run(case):
            if case.path_parameters:
                # Real ids of the caller's own objects, so bodies reach the services instead of stopping at a 404
                # (unknown and malformed ids are covered by test_errors).
                ids = fresh_ids()
                case.path_parameters = {k: str(ids.get(k, v)) for k, v in case.path_parameters.items()}
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error])

        try:
            run()
        except Exception as exc:  # collect, so one run reports every failing operation
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
