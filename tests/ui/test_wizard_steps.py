"""The wizard's steps: create, sources (with HTMX partials and polling), chunking preview, embedding, review."""

import io

from django.urls import reverse

from drafts.models import DraftSource, KBDraft
from kb.models import Document, KnowledgeBase
from tests.ui.conftest import EVIL, TEXT

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_dashboard_create_button_leads_to_a_new_draft(client_for, owner, workspace):
    client = client_for(owner)
    home = client.get(reverse("home")).content.decode()
    assert f"{reverse('drafts:new')}?workspace={workspace.pk}" in home
    page = client.get(reverse("drafts:new"), {"workspace": workspace.pk})
    assert page.status_code == 200 and '<label for="id_name"' in page.content.decode()
    bad = client.post(reverse("drafts:new"), {"workspace": workspace.pk, "name": ""})
    assert bad.status_code == 400 and not KBDraft.objects.exists()
    response = client.post(reverse("drafts:new"), {"workspace": workspace.pk, "name": "Help", "description": "d"})
    draft = KBDraft.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("drafts:sources", args=[draft.pk])
    assert draft.created_by == owner and draft.workspace == workspace


def test_viewer_is_told_they_cannot_create(client_for, viewer, workspace):
    client = client_for(viewer)
    assert "Create knowledge base" not in client.get(reverse("home")).content.decode()
    page = client.get(reverse("drafts:new")).content.decode()
    assert "does not allow creating" in page
    assert client.post(reverse("drafts:new"), {"workspace": workspace.pk, "name": "x"}).status_code == 400
    assert not KBDraft.objects.exists()


def test_basics_step_updates_name(client_for, owner, draft):
    client = client_for(owner)
    assert client.get(reverse("drafts:basics", args=[draft.pk])).status_code == 200
    client.post(reverse("drafts:basics", args=[draft.pk]), {"name": "Renamed", "description": ""})
    draft.refresh_from_db()
    assert draft.name == "Renamed"


def test_resume_returns_to_the_last_step_seen(client_for, owner, draft):
    client = client_for(owner)
    assert client.get(reverse("drafts:resume", args=[draft.pk]))["Location"].endswith("/sources/")
    client.get(reverse("drafts:embedding", args=[draft.pk]))
    assert client.get(reverse("drafts:resume", args=[draft.pk]))["Location"].endswith("/embedding/")


def test_sources_page_and_partial(client_for, owner, draft, text_source):
    client = client_for(owner)
    page = client.get(reverse("drafts:sources", args=[draft.pk])).content.decode()
    assert "<html" in page and 'id="source-list"' in page and "Refund policy" in page
    assert 'aria-current="step"' in page and "Drop files here" in page
    assert 'hx-trigger="every 2s"' not in page  # nothing unfinished: no polling
    partial = client.get(reverse("drafts:sources", args=[draft.pk]), **HTMX).content.decode()
    assert "<html" not in partial and partial.lstrip().startswith('<section class="card" id="source-list"')


def test_text_source_added_with_htmx_returns_form_and_list(client_for, owner, draft):
    client = client_for(owner)
    url = reverse("drafts:add_text", args=[draft.pk])
    response = client.post(url, {"title": "Hours", "content": "Open nine to five on weekdays."}, **HTMX)
    html = response.content.decode()
    assert 'id="text-form"' in html and 'hx-swap-oob="true"' in html and "Hours" in html
    short = client.post(url, {"title": "Hours", "content": "short"}, **HTMX).content.decode()
    assert "at least 10 characters" in short
    assert draft.sources.count() == 1


def test_file_upload_reports_each_file_and_polls_while_reading(client_for, owner, draft, no_enqueue):
    client = client_for(owner)
    good = io.BytesIO(b"Plain text about warranty claims and returns.\n" * 5)
    good.name = "warranty.txt"
    spoofed = io.BytesIO(b"MZ\x90\x00 not really a pdf")
    spoofed.name = "invoice.pdf"
    response = client.post(reverse("drafts:add_files", args=[draft.pk]), {"files": [good, spoofed]}, **HTMX)
    html = response.content.decode()
    assert "warranty.txt" in html and "uploaded" in html
    assert "invoice.pdf" in html and "rejected" in html
    source = DraftSource.objects.get(draft=draft)
    assert source.status == "pending" and ("parse_draft_source", str(source.pk)) in no_enqueue
    assert 'hx-trigger="every 2s"' in html  # the list polls until the file is read
    poll = client.get(reverse("drafts:sources", args=[draft.pk]), **HTMX).content.decode()
    assert 'hx-trigger="every 2s"' in poll and "reading…" in poll


def test_upload_without_javascript_redirects_with_messages(client_for, owner, draft, no_enqueue):
    client = client_for(owner)
    good = io.BytesIO(b"Plain text about warranty claims and returns.\n" * 5)
    good.name = "warranty.txt"
    response = client.post(reverse("drafts:add_files", args=[draft.pk]), {"files": [good]}, follow=True)
    assert "warranty.txt: uploaded" in response.content.decode()


def test_website_source_validates_and_starts_a_crawl(client_for, owner, draft, no_enqueue):
    client = client_for(owner)
    url = reverse("drafts:add_website", args=[draft.pk])
    bad = client.post(url, {"url": "ftp://nope", "max_depth": 1, "max_pages": 5}, **HTMX).content.decode()
    assert "errorlist" in bad and not draft.sources.exists()
    client.post(
        url, {"url": "https://docs.example.com/", "max_depth": 1, "max_pages": 5, "include_patterns": "/docs/*"}, **HTMX
    )
    source = draft.sources.get()
    assert source.crawl_config["include_patterns"] == ["/docs/*"] and source.crawl_config["max_pages"] == 5
    page = client.get(reverse("drafts:sources", args=[draft.pk])).content.decode()
    assert "Stop crawl" in page and 'hx-trigger="every 2s"' in page
    client.post(reverse("drafts:cancel_source", args=[draft.pk, source.pk]), **HTMX)
    source.refresh_from_db()
    assert source.cancel_requested


def test_crawl_report_and_errors_are_shown_escaped(client_for, owner, draft):
    DraftSource.objects.create(
        draft=draft, type="website_crawl", name="Website: https://x.test", url="https://x.test", status="completed",
        crawl_report=[{"url": "https://x.test/<b>", "status": 404, "error": "<i>gone</i>", "stored": False}],
        pages_found=1, pages_processed=0,
    )  # fmt: skip
    html = client_for(owner).get(reverse("drafts:sources", args=[draft.pk])).content.decode()
    assert "Crawl report (1 URL)" in html and "&lt;i&gt;gone&lt;/i&gt;" in html and "<i>gone" not in html


def test_remove_source(client_for, owner, draft, text_source):
    html = client_for(owner).post(reverse("drafts:remove_source", args=[draft.pk, text_source.pk]), **HTMX)
    assert "No sources yet" in html.content.decode()
    assert not draft.sources.exists()


def test_chunking_preview_renders_without_saving(client_for, owner, draft, text_source):
    client = client_for(owner)
    page = client.get(reverse("drafts:chunking", args=[draft.pk])).content.decode()
    assert 'data-total-chunks="' in page and "tokens" in page and "Refund policy" in page
    url = reverse("drafts:chunking_preview", args=[draft.pk])
    form = {"strategy": "recursive", "chunk_overlap": 0, "separators": '["\\n\\n", ". ", " "]'}
    big = client.post(url, {**form, "chunk_size": 1000}, **HTMX).content.decode()
    small = client.post(url, {**form, "chunk_size": 120}, **HTMX).content.decode()
    assert _total(small) > _total(big) >= 1
    assert "<html" not in small and 'class="chunk' in small
    draft.refresh_from_db()
    assert draft.chunking_config["chunk_size"] == 1000  # the preview saved nothing
    filtered = client.post(url, {**form, "chunk_size": 120, "source": "not-a-source"}, **HTMX).content.decode()
    assert _total(filtered) == _total(small)


def test_chunking_preview_shows_service_errors_by_field(client_for, owner, draft, text_source):
    url = reverse("drafts:chunking_preview", args=[draft.pk])
    data = {"strategy": "recursive", "chunk_size": 200, "chunk_overlap": 500, "separators": '[" "]'}
    html = client_for(owner).post(url, data, **HTMX).content.decode()
    assert "Fix these settings" in html and "must be smaller than chunk_size" in html
    html = client_for(owner).post(url, {**data, "chunk_overlap": 0, "separators": "not json"}, **HTMX).content.decode()
    assert "JSON list" in html


def test_chunking_save_and_continue(client_for, owner, draft, text_source):
    url = reverse("drafts:chunking", args=[draft.pk])
    data = {"strategy": "by_heading", "chunk_size": 500, "chunk_overlap": 50, "separators": '["\\n", " "]'}
    response = client_for(owner).post(url, data)
    assert response.status_code == 302 and response["Location"] == reverse("drafts:embedding", args=[draft.pk])
    draft.refresh_from_db()
    assert draft.chunking_config == {
        "strategy": "by_heading",
        "chunk_size": 500,
        "chunk_overlap": 50,
        "separators": ["\n", " "],
        "size_unit": "characters",
    }
    bad = client_for(owner).post(url, {**data, "chunk_size": 50})
    assert bad.status_code == 400 and "between 100 and 4000" in bad.content.decode()


def test_embedding_step_shows_estimate_and_saves(client_for, owner, draft, text_source):
    client = client_for(owner)
    url = reverse("drafts:embedding", args=[draft.pk])
    page = client.get(url).content.decode()
    assert "Estimate" in page and "processing on one worker" in page and "all-MiniLM-L6-v2" in page
    response = client.post(url, {"model": "all-MiniLM-L6-v2", "distance_metric": "dot"})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.vector_store_config["distance_metric"] == "dot"
    assert draft.vector_store_config["enable_hybrid_search"] is False  # unchecked box
    assert client.post(url, {"model": "gpt-nope", "distance_metric": "cosine"}).status_code == 400


def test_review_blocks_an_empty_draft_and_finalize_builds_the_kb(client_for, owner, draft, no_enqueue):
    client = client_for(owner)
    page = client.get(reverse("drafts:review", args=[draft.pk])).content.decode()
    assert "At least one source must be added" in page and "disabled" in page
    response = client.post(reverse("drafts:finalize", args=[draft.pk]))
    assert response.status_code == 400 and "At least one source" in response.content.decode()
    from drafts.services import draft_source_add_text

    draft_source_add_text(draft=draft, user=owner, title="Refund policy", content=TEXT)
    assert "Everything is ready" in client.get(reverse("drafts:review", args=[draft.pk])).content.decode()
    response = client.post(reverse("drafts:finalize", args=[draft.pk]))
    kb = KnowledgeBase.objects.get(name="Support KB")
    assert response["Location"] == reverse("kb:detail", args=[kb.pk])
    document = Document.objects.get(kb=kb)
    assert ("document", str(document.pk)) in no_enqueue
    assert not KBDraft.objects.filter(pk=draft.pk).exists()


def test_review_polls_while_sources_are_read(client_for, owner, draft):
    DraftSource.objects.create(draft=draft, type="file_upload", name="big.pdf", status="processing")
    html = client_for(owner).get(reverse("drafts:review", args=[draft.pk]), **HTMX).content.decode()
    assert 'hx-trigger="every 2s"' in html and "still being processed" in html


def test_discard_deletes_the_draft(client_for, owner, draft, text_source):
    response = client_for(owner).post(reverse("drafts:discard", args=[draft.pk]))
    assert response["Location"] == reverse("home") and not KBDraft.objects.exists()


def test_user_text_is_escaped_everywhere_in_the_wizard(client_for, owner, draft):
    from drafts.services import draft_source_add_text

    draft.name = "<b>draft</b>"
    draft.save()
    draft_source_add_text(draft=draft, user=owner, title="<script>alert(1)</script>", content=EVIL * 3)
    client = client_for(owner)
    for name in ("sources", "chunking", "review", "basics"):
        html = client.get(reverse(f"drafts:{name}", args=[draft.pk])).content.decode()
        assert "<script>window" not in html and "<script>alert" not in html and "<b>draft</b>" not in html, name
        assert 'hx-get="/logout/"' not in html and "<img src=x" not in html, name
    html = client.get(reverse("drafts:chunking", args=[draft.pk])).content.decode()
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html and "hx-disable" in html


def _total(html: str) -> int:
    import re

    return int(re.search(r'data-total-chunks="(\d+)"', html).group(1))
