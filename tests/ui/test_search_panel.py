"""The retrieval-test panel on real chunks (keyword mode needs no model): ranks, scores, escaping, highlights."""

from django.urls import reverse

from kb.views.highlight import highlight, query_terms
from privexbot.models import AuditEvent

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_keyword_search_shows_ranked_highlighted_results(client_for, viewer, kb, documents):
    url = reverse("kb:search", args=[kb.pk])
    html = client_for(viewer).get(url, {"query": "refund returned", "mode": "keyword", "top_k": 5}, **HTMX)
    html = html.content.decode()
    assert "<html" not in html and 'id="search-results"' in html
    assert "#1 · Refund policy" in html and "keyword #1" in html and "vector —" in html
    assert "<mark>Refunds</mark>" in html and "<mark>returned</mark>" in html
    assert "page 2" in html and "Policies › Refunds" in html
    event = AuditEvent.objects.get(action="search", resource_id=str(kb.pk))
    assert event.details["documents"] == [str(documents["ready"].pk)] and event.user == viewer


def test_result_text_is_escaped_and_inert(client_for, owner, kb, documents):
    url = reverse("kb:search", args=[kb.pk])
    html = client_for(owner).get(url, {"query": "shipping script", "mode": "keyword", "top_k": 5}, **HTMX)
    html = html.content.decode()
    assert "Shipping" in html
    assert "<script>" not in html and "<img src=x" not in html and '<a hx-get="/logout/"' not in html
    assert "&lt;<mark>script</mark>&gt;" in html and "hx-disable" in html


def test_no_results_and_bad_input_say_what_to_do(client_for, owner, kb, documents):
    url = reverse("kb:search", args=[kb.pk])
    client = client_for(owner)
    none = client.get(url, {"query": "zebra", "mode": "keyword", "top_k": 5}, **HTMX).content.decode()
    assert "Nothing matched" in none and "Try other words" in none
    bad = client.get(url, {"query": "x", "mode": "keyword", "top_k": 500}, **HTMX).content.decode()
    assert "Check the search" in bad


def test_search_page_without_javascript(client_for, owner, kb, documents):
    html = client_for(owner).get(reverse("kb:search", args=[kb.pk]), {"query": "refund", "mode": "keyword", "top_k": 3})
    assert "<html" in html.content.decode() and "<mark>Refunds</mark>" in html.content.decode()


def test_highlight_escapes_first_and_marks_only_words():
    assert query_terms("How do refunds work?") == ["refund", "work"]
    out = highlight('<b>Refund</b> & "refunding" amp', "refunds amp")
    assert out == "&lt;b&gt;<mark>Refund</mark>&lt;/b&gt; &amp; &quot;<mark>refunding</mark>&quot; <mark>amp</mark>"
    assert highlight("<i>x</i>", "") == "&lt;i&gt;x&lt;/i&gt;"
    assert highlight("a<script>", "script") == "a&lt;<mark>script</mark>&gt;"


def test_grouped_by_document_shows_each_document_once_with_its_other_chunks(client_for, viewer, kb, documents):
    url = reverse("kb:search", args=[kb.pk])
    client = client_for(viewer)
    query = {"query": "refunds shipping", "mode": "keyword", "top_k": 5}
    flat = client.get(url, query, **HTMX).content.decode()
    assert flat.count('class="result"') == 2 and "2 results for" in flat
    grouped = client.get(url, {**query, "group_by": "document"}, **HTMX).content.decode()
    assert grouped.count('class="result"') == 1 and "1 document for" in grouped
    assert "1 more matching chunk of this document" in grouped
    assert "<script>" not in grouped and "<mark>Shipping</mark>" in grouped  # the folded chunk, escaped
    page = client.get(url).content.decode()
    assert 'name="group_by"' in page and "Documents (best chunk of each)" in page
    event = AuditEvent.objects.filter(action="search", resource_id=str(kb.pk)).latest("timestamp")
    assert event.details["group_by"] == "document"
