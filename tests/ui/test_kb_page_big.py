"""The KB page for big KBs (issue 16): 1,000 documents paged 50 at a time, filtered by name, status, source type
and enabled, bulk actions (retry, disable, enable, delete) with a confirmation stating the count, in a constant,
small number of queries."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kb.legal_hold import kb_legal_hold_set
from kb.models import Document, DocumentStatus, KnowledgeBase
from kb.views.detail import PAGE_SIZE
from privexbot.metrics.definitions import DOCUMENT_BULK_ACTIONS
from privexbot.models import AuditEvent, DeletionReceipt

HTMX = {"HTTP_HX_REQUEST": "true"}
TOTAL = 1000
STATUSES = [DocumentStatus.READY] * 8 + [DocumentStatus.FAILED, DocumentStatus.QUARANTINED]  # 10 % problems
SOURCES = ["file_upload", "website_crawl", "text_input", "file_upload"]


def make_documents(kb, count: int = TOTAL) -> None:
    """`count` documents in one bulk insert (no worker: they are rows as the pipeline leaves them)."""
    Document.objects.bulk_create(
        [
            Document(
                kb=kb, name=f"{'Manual' if i % 5 == 0 else 'Page'} {i:04d}", source_type=SOURCES[i % len(SOURCES)],
                status=STATUSES[i % len(STATUSES)], progress=100, chunk_count=3, token_count=120,
                error="Could not parse." if STATUSES[i % len(STATUSES)] != DocumentStatus.READY else "",
            )
            for i in range(count)
        ],
        batch_size=500,
    )  # fmt: skip


@pytest.fixture
def big_kb(kb):
    make_documents(kb)
    return kb


def rows(html: str) -> list[str]:
    return re.findall(r'<tr id="doc-([0-9a-f-]{36})"', html)


def detail(client, kb, **params):
    return client.get(reverse("kb:detail", args=[kb.pk]), params).content.decode()


def bulk(client, kb, data: dict):
    return client.post(reverse("kb:documents_bulk", args=[kb.pk]), data)


# --- paging and filters ---------------------------------------------------------------------------------------------


def test_a_thousand_documents_are_paged_fifty_at_a_time(client_for, owner, big_kb):
    client = client_for(owner)
    first = detail(client, big_kb)
    assert len(rows(first)) == PAGE_SIZE == 50
    assert "1–50 of 1000" in first and "Page 1 of 20" in first and "use the API or the admin" not in first
    assert "<b>1000</b><span>documents</span>" in first
    # problems first: the page starts with the failed and quarantined ones (200 of them)
    assert set(re.findall(r'data-status="(\w+)"', first)) <= {"failed", "quarantined"}
    second = detail(client, big_kb, page=2)
    assert "51–100 of 1000" in second and not set(rows(first)) & set(rows(second))
    last = detail(client, big_kb, page=20)
    assert len(rows(last)) == 50 and "951–1000 of 1000" in last and 'rel="next"' not in last
    seen = set()
    for page in range(1, 21):
        seen |= set(rows(detail(client, big_kb, page=page)))
    assert len(seen) == TOTAL  # every document is reachable, none twice
    assert len(rows(detail(client, big_kb, page="nope"))) == 50  # a bad page number is the first page


def test_filters_by_name_status_source_and_enabled_and_the_links_keep_them(client_for, owner, big_kb):
    client = client_for(owner)
    html = detail(client, big_kb, q="manual")  # any case
    assert "1–50 of 200" in html and re.search(r'href="[^"]*\?q=manual&amp;page=2" rel="next"', html)
    names = re.findall(r"<strong>([^<]+)</strong>", html)
    assert names and all(n.startswith("Manual") for n in names)
    html = detail(client, big_kb, status="quarantined", source_type="website_crawl")
    expected = Document.objects.filter(kb=big_kb, status="quarantined", source_type="website_crawl")
    assert set(rows(html)) == {str(pk) for pk in expected.values_list("pk", flat=True)} and len(rows(html)) == 50
    assert set(re.findall(r'data-status="(\w+)"', html)) == {"quarantined"} and 'rel="next"' not in html
    Document.objects.filter(name__in=["Page 0001", "Page 0002"]).update(enabled=False)
    html = detail(client, big_kb, enabled="no")
    assert len(rows(html)) == 2 and 'data-enabled="false"' in html and "<b>2</b><span>disabled</span>" in html
    html = detail(client, big_kb, q="no such document")
    assert 'id="no-match"' in html and not rows(html)
    html = detail(client, big_kb, status="bogus")  # ignored, and said so
    assert len(rows(html)) == 50 and "not understood" in html


def test_the_page_and_its_poll_take_a_small_constant_number_of_queries(client_for, owner, kb):
    client = client_for(owner)
    url = reverse("kb:detail", args=[kb.pk])
    make_documents(kb, 20)
    client.get(url)  # warm the session, content types and template caches
    with CaptureQueriesContext(connection) as few:
        client.get(url, {"q": "page", "page": 1})
    with CaptureQueriesContext(connection) as few_poll:
        client.get(url, **HTMX)
    make_documents(kb, TOTAL - 20)
    Document.objects.filter(kb=kb, name__startswith="Manual").update(status="embedding", progress=40)  # polling
    with CaptureQueriesContext(connection) as many:
        html = client.get(url, {"q": "page", "page": 3}).content.decode()
    with CaptureQueriesContext(connection) as many_poll:
        client.get(url, **HTMX)
    assert len(rows(html)) == 50 and 'hx-trigger="every 2s"' in html and "q=page&amp;page=3" in html
    assert len(many) == len(few) <= 16, [q["sql"][:120] for q in many["captured_queries"]]
    assert len(many_poll) == len(few_poll) <= 12


# --- bulk actions ---------------------------------------------------------------------------------------------------


def test_disable_selected_asks_first_then_disables(client_for, owner, big_kb, django_capture_on_commit_callbacks):
    client = client_for(owner)
    picked = [str(pk) for pk in Document.objects.filter(kb=big_kb).order_by("name").values_list("pk", flat=True)[:3]]
    page = bulk(client, big_kb, {"action": "disable", "document_ids": picked, "q": "page"})
    html = page.content.decode()
    assert page.status_code == 200 and "Disable 3 documents?" in html and 'data-count="3"' in html
    assert Document.objects.filter(kb=big_kb, enabled=False).count() == 0  # nothing before the confirmation
    before = DOCUMENT_BULK_ACTIONS.labels(action="disable")._value.get()
    with django_capture_on_commit_callbacks(execute=True):
        done = bulk(client, big_kb, {"action": "disable", "document_ids": picked, "q": "page", "confirmed": "yes"})
    assert done.status_code == 302 and done["Location"] == reverse("kb:detail", args=[big_kb.pk]) + "?q=page"
    assert set(map(str, Document.objects.filter(enabled=False).values_list("pk", flat=True))) == set(picked)
    assert DOCUMENT_BULK_ACTIONS.labels(action="disable")._value.get() == before + 1
    event = AuditEvent.objects.get(event_type="knowledge_base", action="documents_bulk_disable")
    assert event.details["requested"] == 3 and event.details["done"] == 3 and event.details["scope"] == "selected"
    assert AuditEvent.objects.filter(event_type="document", action="disable").count() == 3
    assert "3 documents disabled" in client.get(done["Location"]).content.decode()


def test_enable_all_matching_the_filter_states_the_count_and_notices_a_change(client_for, owner, big_kb):
    client = client_for(owner)
    Document.objects.filter(kb=big_kb, name__startswith="Manual").update(enabled=False)  # 200
    ask = {"action": "enable", "scope": "all", "enabled": "no", "q": "manual"}
    html = bulk(client, big_kb, ask).content.decode()
    assert "Enable 200 documents?" in html and "and 180 more" in html and 'name="expected" value="200"' in html
    Document.objects.filter(name="Manual 0000").update(enabled=True)  # the matching set changes meanwhile
    again = bulk(client, big_kb, {**ask, "confirmed": "yes", "expected": "200"}).content.decode()
    assert "Enable 199 documents?" in again and 'id="bulk-changed"' in again
    assert Document.objects.filter(enabled=False).count() == 199  # nothing done on a stale count
    done = bulk(client, big_kb, {**ask, "confirmed": "yes", "expected": "199"})
    assert done.status_code == 302 and not Document.objects.filter(enabled=False).exists()


def test_retry_counts_the_refused_ones(client_for, owner, big_kb, no_enqueue):
    client = client_for(owner)
    failed = list(Document.objects.filter(status="failed").order_by("name")[:2])
    ready = Document.objects.filter(status="ready").order_by("name").first()
    ids = [str(d.pk) for d in (*failed, ready)]
    response = bulk(client, big_kb, {"action": "retry", "document_ids": ids, "confirmed": "yes"})
    assert {d.status for d in Document.objects.filter(pk__in=[d.pk for d in failed])} == {"queued"}
    assert Document.objects.get(pk=ready.pk).status == "ready" and len(no_enqueue) == 2
    page = client.get(response["Location"]).content.decode()
    assert "2 documents queued again; 1 refused: Only a failed or quarantined document can be retried" in page


def test_delete_selected_writes_one_receipt(client_for, owner, big_kb):
    client = client_for(owner)
    doomed = [str(pk) for pk in Document.objects.filter(kb=big_kb).values_list("pk", flat=True)[:4]]
    html = bulk(client, big_kb, {"action": "delete", "document_ids": doomed}).content.decode()
    assert "Delete 4 documents?" in html and "signed deletion receipt" in html
    response = bulk(client, big_kb, {"action": "delete", "document_ids": doomed, "confirmed": "yes"})
    assert not Document.objects.filter(pk__in=doomed).exists() and Document.objects.count() == TOTAL - 4
    receipt = DeletionReceipt.objects.get()
    assert sorted(receipt.body["document_ids"]) == sorted(doomed)
    page = client.get(response["Location"]).content.decode()
    assert "4 documents deleted" in page and reverse("kb:receipt", args=[receipt.pk]) in page


def test_delete_under_legal_hold_is_refused_and_said(client_for, owner, big_kb):
    kb_legal_hold_set(kb=big_kb, user=owner, reason="litigation")
    client = client_for(owner)
    doomed = [str(pk) for pk in Document.objects.filter(kb=big_kb).values_list("pk", flat=True)[:2]]
    html = bulk(client, big_kb, {"action": "delete", "document_ids": doomed}).content.decode()
    assert "under legal hold" in html
    response = bulk(client, big_kb, {"action": "delete", "document_ids": doomed, "confirmed": "yes"})
    assert Document.objects.count() == TOTAL and not DeletionReceipt.objects.exists()
    page = client.get(response["Location"]).content.decode()
    assert "2 refused" in page and "legal hold" in page


def test_bulk_refuses_viewers_outsiders_other_kbs_documents_and_empty_selections(
    client_for, viewer, outsider, owner, big_kb
):
    some = [str(Document.objects.filter(kb=big_kb).first().pk)]
    confirm = {"action": "disable", "document_ids": some, "confirmed": "yes"}
    assert bulk(client_for(viewer), big_kb, confirm).status_code == 403
    assert bulk(client_for(outsider), big_kb, confirm).status_code == 404
    other = KnowledgeBase.objects.create(workspace=big_kb.workspace, name="Other", created_by=owner)
    assert bulk(client_for(owner), other, confirm).status_code == 404  # a document of another KB
    assert bulk(client_for(owner), big_kb, {**confirm, "document_ids": ["not-a-uuid"]}).status_code == 404
    assert not Document.objects.filter(enabled=False).exists()
    response = bulk(client_for(owner), big_kb, {"action": "disable"})
    assert response.status_code == 302 and "Select documents first" in client_for(owner).get(
        response["Location"]).content.decode()  # fmt: skip


def test_the_bulk_form_is_plain_and_names_are_escaped(client_for, owner, kb):
    Document.objects.create(kb=kb, source_type="text_input", name='<img src=x onerror="alert(1)">', status="ready")
    html = detail(client_for(owner), kb)
    assert '<img src=x onerror="alert(1)">' not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert 'id="bulk-form"' in html and 'name="document_ids"' in html and 'form="bulk-form"' in html
    for action in ("retry", "disable", "enable", "delete"):
        assert f'name="action" value="{action}"' in html
    assert "Re-sync" in (settings.BASE_DIR / "templates/kb/_documents.html").read_text()  # the marked place
    assert "<script>" not in html.split("</header>", 1)[1] and " style=" not in html
    confirm = bulk(client_for(owner), kb, {"action": "disable", "document_ids": [str(Document.objects.get().pk)]})
    assert "&lt;img src=x" in confirm.content.decode() and "<img src=x" not in confirm.content.decode()
