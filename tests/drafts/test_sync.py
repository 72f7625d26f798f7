"""Re-sync of a website source with a real worker and a real crawl of a local copy of the corpus docs site.

The site is served on 127.0.0.1 by a handler that answers conditional requests (ETag, Last-Modified, 304) and
logs them, so the test sees from the server's side which pages came back unchanged without a body.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from drafts.models import DraftSource
from drafts.services import draft_create, draft_finalize, draft_source_add_website
from drafts.sync.services import sync_start
from kb.models import Chunk, Document, KnowledgeBase, SyncRun, SyncStatus, WebsiteSource
from kb.search import chunk_search
from privexbot.models import AuditEvent, DeletionReceipt
from tests.api.conftest import api, fresh_throttles  # noqa: F401  (the API fixtures)
from tests.state_walk import all_pairs, assert_move_follows_the_table

pytestmark = pytest.mark.slow

SITE = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "site"
FAQ = ["index", "admin", "contributing", "general", "help", "install", "models", "troubleshooting", "usage"]
CHANGED = {"index": "quokkafrost", "general": "zanzibarite", "admin": "plumbagoid"}
REMOVED = "usage"
ADDED = "zebra-migration"
ADDED_WORD = "marmotwhistle"


class ConditionalHandler(SimpleHTTPRequestHandler):
    """Static files with a content ETag; If-None-Match (then If-Modified-Since, by http.server) answered 304."""

    def send_head(self):
        time.sleep(self.server.slow.get(self.path, 0))  # a slow page keeps a sync running (the kill test)
        path = self.translate_path(self.path)
        self._etag = None
        if os.path.isfile(path):
            self._etag = '"' + hashlib.sha256(Path(path).read_bytes()).hexdigest()[:20] + '"'
            if self.headers.get("If-None-Match") == self._etag:
                self.send_response(304)
                self.end_headers()
                return None
        return super().send_head()

    def end_headers(self):
        if getattr(self, "_etag", None):
            self.send_header("ETag", self._etag)
        super().end_headers()

    def log_request(self, code="-", size="-"):
        conditional = bool(self.headers.get("If-None-Match") or self.headers.get("If-Modified-Since"))
        self.server.request_log.append((self.path.split("?")[0], conditional, int(code)))

    def log_message(self, format, *args):
        pass


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    shutil.copytree(SITE, root, copy_function=shutil.copyfile)
    for directory, _, _ in os.walk(root):
        os.chmod(directory, 0o700)  # the corpus is read-only; the test edits its copy
    (root / "robots.txt").write_text("User-agent: *\nSitemap: /sitemap.xml\n")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(ConditionalHandler, directory=str(root)))
    server.request_log, server.slow = [], {}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    urls = "".join(f"<url><loc>{base}/faq/{name}.html</loc></url>" for name in FAQ)
    (root / "sitemap.xml").write_text(
        f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    )
    yield root, base, server.request_log, server.slow
    server.shutdown()
    server.server_close()


def wait_for(predicate, timeout=120, message="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {message}"
        time.sleep(0.2)


def all_ready(kb):
    statuses = list(Document.objects.filter(kb=kb).values_list("status", flat=True))
    assert not [s for s in statuses if s in ("failed", "quarantined")], statuses
    return statuses and all(s == "ready" for s in statuses)


def found(kb, query) -> set[str]:
    return {r.document_id for r in chunk_search(kb=kb, query=query, mode="keyword", top_k=20)}


def edit_site(root: Path) -> None:
    """3 pages changed (the FAQ index also links the new page), 1 removed, 1 added."""
    faq = root / "faq"
    for name, word in CHANGED.items():
        html = (faq / f"{name}.html").read_text()
        extra = f"<p>The {word} setting was added in this release of the documentation.</p>"
        if name == "index":
            extra += f'<p><a href="{ADDED}.html">Zebra migrations</a></p>'
        html = html.replace('<div class="section"', extra + '<div class="section"', 1)
        (faq / f"{name}.html").write_text(html)
        future = time.time() + 120  # a later Last-Modified even within the same second
        os.utime(faq / f"{name}.html", (future, future))
    (faq / f"{REMOVED}.html").unlink()
    (faq / f"{ADDED}.html").write_text(
        "<html><head><title>FAQ: Zebra migrations</title></head><body><h1>Zebra migrations</h1>"
        f"<p>A {ADDED_WORD} migration moves striped data between databases without downtime.</p>"
        "<p>Run it twice to be sure; it is idempotent and keeps every row.</p></body></html>"
    )


def crawl_into_kb(workspace, owner, base) -> KnowledgeBase:
    draft = draft_create(workspace=workspace, user=owner, name="Django FAQ")
    source = draft_source_add_website(
        draft=draft, user=owner, url=f"{base}/faq/index.html",
        crawl_config={"max_depth": 1, "max_pages": 50, "include_patterns": ["/faq/"]},
    )  # fmt: skip
    wait_for(lambda: not DraftSource.objects.get(pk=source.pk).is_unfinished, message="the first crawl")
    assert DraftSource.objects.get(pk=source.pk).pages_processed == len(FAQ)
    kb = draft_finalize(draft=draft, user=owner)
    wait_for(lambda: all_ready(kb), message="the first indexing")
    return kb


@pytest.mark.parametrize("policy", ["delete", "keep"])
def test_resync_reembeds_only_changed_and_new_pages(worker_process, workspace, owner, site, policy):
    root, base, log, _ = site
    worker_process()
    kb = crawl_into_kb(workspace, owner, base)

    [website] = WebsiteSource.objects.filter(kb=kb)
    assert website.url == f"{base}/faq/index.html" and website.crawl_config["include_patterns"] == ["/faq/"]
    pages = {Path(d.url).stem: d for d in Document.objects.filter(kb=kb)}
    assert sorted(pages) == sorted(FAQ)
    for document in pages.values():
        assert document.website_source_id == website.pk
        assert document.metadata["etag"].startswith('"') and document.metadata["last_modified"]
        assert document.metadata["final_url"] == document.url and document.content_hash
    versions = {name: d.version for name, d in pages.items()}
    removed_id = str(pages[REMOVED].pk)
    removed_text = " ".join(Chunk.objects.filter(document_id=removed_id).order_by("index").last().content.split()[:8])
    assert removed_id in found(kb, removed_text)
    website.removed_pages = policy
    website.save(update_fields=["removed_pages"])

    edit_site(root)
    log.clear()
    run = sync_start(website_source=website, user=owner, trigger="manual")
    wait_for(lambda: SyncRun.objects.get(pk=run.pk).status in ("completed", "failed"), message="the sync")
    run.refresh_from_db()
    assert run.status == "completed", run.error
    gone = "removed" if policy == "delete" else "kept"
    expected = {"added": 1, "changed": 3, "removed": 0, "kept": 0, "unchanged": 5, "failed": 0}
    expected[gone] = 1
    assert run.counts == expected
    outcomes = {Path(row["url"]).stem: (row["outcome"], row["http_status"]) for row in run.report}
    assert outcomes[REMOVED] == (gone, 404)
    assert outcomes[ADDED] == ("added", 200)
    assert all(outcomes[name] == ("changed", 200) for name in CHANGED)
    unchanged = set(FAQ) - set(CHANGED) - {REMOVED}
    assert all(outcomes[name] == ("unchanged", 304) for name in unchanged)

    # The server's side: every known page was asked for conditionally; the unchanged ones got a bodiless 304.
    seen = {Path(path).stem: (conditional, status) for path, conditional, status in log if path.startswith("/faq/")}
    assert all(seen[name] == (True, 304) for name in unchanged), seen
    assert all(seen[name] == (True, 200) for name in CHANGED), seen
    assert seen[ADDED] == (False, 200) and seen[REMOVED] == (True, 404)
    assert any(path == "/sitemap.xml" for path, _, _ in log) and any(path == "/robots.txt" for path, _, _ in log)

    # Exactly 4 documents re-embedded or added, counted from the documents themselves.
    wait_for(lambda: all_ready(kb), message="the re-sync's indexing")
    after = {Path(d.url).stem: d for d in Document.objects.filter(kb=kb)}
    reembedded = {name for name, d in after.items() if name not in versions or d.version != versions[name]}
    assert reembedded == {*CHANGED, ADDED}
    assert all(after[name].version == versions[name] + 1 for name in CHANGED)
    assert after[ADDED].website_source_id == website.pk and after[ADDED].metadata["etag"]

    # Search reflects every change.
    for name, word in CHANGED.items():
        assert found(kb, word) == {str(after[name].pk)}
    assert found(kb, ADDED_WORD) == {str(after[ADDED].pk)}
    if policy == "delete":
        assert REMOVED not in after
        assert removed_id not in found(kb, removed_text)
        assert not Chunk.objects.filter(document_id=removed_id).exists()
        assert DeletionReceipt.objects.filter(scope="documents", reason="website_sync").exists()
    else:
        assert str(after[REMOVED].pk) == removed_id and after[REMOVED].version == versions[REMOVED]
        assert removed_id in found(kb, removed_text)

    website.refresh_from_db()
    assert website.last_synced_at is not None


def test_review_mode_holds_the_changes_in_a_draft_until_it_is_finalized(
    worker_process,
    workspace,
    owner,
    site,
    api,  # noqa: F811
):
    from drafts.models import KBDraft
    from drafts.preview import draft_preview

    root, base, _, _ = site
    worker_process()
    kb = crawl_into_kb(workspace, owner, base)
    KnowledgeBase.objects.filter(pk=kb.pk).update(review_sync_changes=True)
    [website] = WebsiteSource.objects.filter(kb=kb)
    versions = {Path(d.url).stem: d.version for d in Document.objects.filter(kb=kb)}
    edit_site(root)
    run = sync_start(website_source=website, user=owner, trigger="manual")
    wait_for(lambda: SyncRun.objects.get(pk=run.pk).status not in ("queued", "running"), message="the sync")
    run.refresh_from_db()
    assert run.status == "review", run.error
    draft = KBDraft.objects.get(sync_run=run, purpose="sync_review", target_kb=kb)

    # Nothing applied yet: same documents, same versions, none of the new text in search.
    assert {Path(d.url).stem: d.version for d in Document.objects.filter(kb=kb)} == versions
    assert not found(kb, "quokkafrost") and not found(kb, ADDED_WORD)
    # The draft's chunk preview shows the new chunks of the changed and new pages.
    preview = " ".join(c["content"] for c in draft_preview(draft=draft)["chunks"])
    assert all(word in preview for word in [*CHANGED.values(), ADDED_WORD])

    shown = api(owner).get(f"/api/v1/knowledge-bases/{kb.pk}/sync-runs/{run.pk}").json()
    assert shown["status"] == "review" and shown["review_draft_id"] == str(draft.pk)
    finalized = api(owner).post(f"/api/v1/kb-drafts/{draft.pk}/finalize")  # the draft's own door applies it
    assert finalized.status_code == 200, finalized.json()
    run.refresh_from_db()
    assert run.status == "completed" and run.counts["changed"] == 3 and run.counts["added"] == 1
    assert not KBDraft.objects.filter(pk=draft.pk).exists()
    wait_for(lambda: all_ready(kb), message="the reviewed changes' indexing")
    after = {Path(d.url).stem: d for d in Document.objects.filter(kb=kb)}
    assert {n for n, d in after.items() if n not in versions or d.version != versions[n]} == {*CHANGED, ADDED}
    assert REMOVED not in after
    assert found(kb, "quokkafrost") == {str(after["index"].pk)} and found(kb, ADDED_WORD) == {str(after[ADDED].pk)}


def test_a_sync_whose_worker_is_killed_is_retried_by_the_sweeper_and_completes(worker_process, workspace, owner, site):
    import signal

    root, base, log, slow = site
    fast_sweep = {"SWEEP_INTERVAL": "1", "DOCUMENT_STALE_AFTER": "3"}
    first = worker_process(**fast_sweep)
    kb = crawl_into_kb(workspace, owner, base)
    [website] = WebsiteSource.objects.filter(kb=kb)
    slow["/faq/help.html"] = 6  # the sync is still crawling when its worker dies
    run = sync_start(website_source=website, user=owner, trigger="manual")
    wait_for(lambda: SyncRun.objects.get(pk=run.pk).status == "running", message="the sync to start")
    wait_for(lambda: any(path == "/faq/index.html" for path, _, _ in log), message="the crawl to begin")
    os.killpg(first.pid, signal.SIGKILL)  # the worker and its crawl child
    killed = SyncRun.objects.get(pk=run.pk)
    assert (killed.status, killed.attempts) == ("running", 1)

    worker_process(**fast_sweep)
    wait_for(lambda: SyncRun.objects.get(pk=run.pk).status in ("completed", "failed"), message="the retried sync")
    run.refresh_from_db()
    assert run.status == "completed" and run.attempts == 2, run.error
    assert run.counts["unchanged"] == len(FAQ) and run.counts["failed"] == 0


def test_deleting_a_review_draft_discards_the_changes(owner, kb):
    from drafts.models import KBDraft
    from drafts.services import draft_delete

    source = WebsiteSource.objects.create(kb=kb, url="http://127.0.0.1:9/")
    run = SyncRun.objects.create(website_source=source, kb=kb, status="review", created_by=owner)
    draft = KBDraft.objects.create(workspace=kb.workspace, target_kb=kb, purpose="sync_review", sync_run=run, name="x")
    draft_delete(draft=draft, user=owner)
    assert SyncRun.objects.get(pk=run.pk).status == "cancelled"


# ---------------------------------------------------------------- the doors and the schedule (no worker)


@pytest.fixture
def website(kb, owner):
    source = WebsiteSource.objects.create(kb=kb, url="http://127.0.0.1:9/docs/", crawl_config={"max_depth": 1})
    Document.objects.create(
        kb=kb, source_type="website_crawl", name="Docs", url="http://127.0.0.1:9/docs/", website_source=source,
        status="ready", metadata={"etag": '"abc"', "last_modified": "Wed, 02 Dec 2026 10:00:00 GMT", "links": []},
    )  # fmt: skip
    return source


@pytest.mark.parametrize("slash", ["/", ""])
def test_api_lists_schedules_syncs_and_reports(api, owner, viewer, outsider, kb, website, slash):  # noqa: F811
    client = api(owner)
    base = f"/api/v1/knowledge-bases/{kb.pk}/website-sources"
    listed = client.get(base + slash)
    assert listed.status_code == 200 and [s["id"] for s in listed.json()] == [str(website.pk)]
    patched = client.patch(
        f"{base}/{website.pk}{slash}", {"schedule": "weekly", "removed_pages": "keep"}, format="json"
    )
    assert patched.status_code == 200, patched.json()
    assert patched.json()["schedule"] == "weekly" and patched.json()["next_sync_at"]
    assert client.patch(f"{base}/{website.pk}{slash}", {"schedule": "hourly"}, format="json").status_code == 400
    # The KB's "review changes before applying" is a KB setting: its PATCH, audited like the others.
    review = client.patch(f"/api/v1/knowledge-bases/{kb.pk}{slash}", {"review_sync_changes": True}, format="json")
    assert review.status_code == 200 and review.json()["review_sync_changes"] is True
    kb.refresh_from_db()
    assert kb.review_sync_changes
    assert AuditEvent.objects.filter(event_type="knowledge_base", action="update", resource_id=str(kb.pk),
                                     success=True, details__fields=["review_sync_changes"]).exists()  # fmt: skip

    started = client.post(f"{base}/{website.pk}/sync{slash}")
    assert started.status_code == 202, started.json()
    run = SyncRun.objects.get(pk=started.json()["id"])
    assert run.trigger == "api" and run.status == "queued" and run.created_by == owner
    assert client.post(f"{base}/{website.pk}/sync{slash}").status_code == 409  # one sync per source at a time
    SyncRun.objects.filter(pk=run.pk).update(
        status="completed", counts={"unchanged": 1},
        report=[{"url": website.url, "outcome": "unchanged", "reason": "not modified (HTTP 304)", "http_status": 304}],
    )  # fmt: skip
    detail = client.get(f"/api/v1/knowledge-bases/{kb.pk}/sync-runs/{run.pk}{slash}")
    assert detail.status_code == 200 and detail.json()["report"][0]["outcome"] == "unchanged"
    assert client.get(base + slash).json()[0]["recent_runs"][0]["id"] == str(run.pk)

    assert api(viewer).post(f"{base}/{website.pk}/sync{slash}").status_code == 403
    assert api(viewer).get(base + slash).status_code == 200
    assert api(outsider).get(base + slash).status_code == 404
    assert api(outsider).get(f"/api/v1/knowledge-bases/{kb.pk}/sync-runs/{run.pk}{slash}").status_code == 404


def test_kb_page_shows_sources_and_its_buttons_start_syncs(client_for, owner, outsider, kb, website):
    page = client_for(owner).get(f"/kb/{kb.pk}/")
    assert page.status_code == 200 and b"Website sources" in page.content and b"Re-sync" in page.content
    response = client_for(owner).post(f"/drafts/kb/{kb.pk}/website-sources/{website.pk}/sync/")
    assert response.status_code == 302
    assert SyncRun.objects.filter(website_source=website, trigger="manual").count() == 1
    client_for(owner).post(f"/drafts/kb/{kb.pk}/website-sources/{website.pk}/settings/", {"schedule": "daily"})
    website.refresh_from_db()
    assert website.schedule == "daily"
    client_for(owner).post(f"/drafts/kb/{kb.pk}/review-sync/", {"review_sync_changes": "true"})
    kb.refresh_from_db()
    assert kb.review_sync_changes
    assert client_for(outsider).post(f"/drafts/kb/{kb.pk}/website-sources/{website.pk}/sync/").status_code == 404


def test_bulk_resync_confirms_the_websites_then_starts_one_sync_per_website(
    client_for, owner, viewer, outsider, kb, website
):
    other = WebsiteSource.objects.create(kb=kb, url="http://127.0.0.1:9/blog/")
    pages = [
        Document.objects.create(kb=kb, source_type="website_crawl", name=f"Blog {i}", url=f"{other.url}{i}",
                                website_source=other, status="ready")
        for i in range(2)
    ]  # fmt: skip
    upload = Document.objects.create(kb=kb, source_type="file_upload", name="notes.txt", status="ready")
    docs = website.documents.get()
    WebsiteSource.objects.create(kb=kb, url="http://127.0.0.1:9/untouched/")  # no ticked page: never synced
    page = client_for(owner).get(f"/kb/{kb.pk}/")
    assert b'value="resync"' in page.content and f"/drafts/kb/{kb.pk}/documents/resync/".encode() in page.content

    url = f"/drafts/kb/{kb.pk}/documents/resync/"
    ticked = {"document_ids": [str(docs.pk), str(pages[0].pk), str(pages[1].pk), str(upload.pk)], "scope": "selected"}
    confirm = client_for(owner).post(url, ticked)
    assert confirm.status_code == 200 and b'id="resync-sources"' in confirm.content
    assert b"2 websites" in confirm.content and other.url.encode() in confirm.content
    assert b"1 of the selected documents is not a website page and is left as they are" in confirm.content
    assert not SyncRun.objects.exists()  # nothing starts before the confirmation

    SyncRun.objects.create(website_source=website, kb=kb, status="running", created_by=owner)  # already syncing
    done = client_for(owner).post(url, {**ticked, "confirmed": "yes"}, follow=True)
    assert done.status_code == 200
    assert b"Re-sync of 1 website queued" in done.content and b"already syncing" in done.content
    started = SyncRun.objects.filter(trigger="manual", status="queued")
    assert [r.website_source_id for r in started] == [other.pk]
    event = AuditEvent.objects.get(action="documents_bulk_resync")
    assert event.details["done"] == 2 and event.details["unchanged"] == 1 and event.details["refused"] == 1

    # Only an upload ticked: refused before any confirmation; a viewer cannot, another tenant gets a 404.
    only_upload = {"document_ids": [str(upload.pk)], "scope": "selected"}
    refused = client_for(owner).post(url, only_upload, follow=True)
    assert b"nothing to re-sync" in refused.content
    assert client_for(viewer).post(url, ticked).status_code == 403
    assert client_for(outsider).post(url, ticked).status_code == 404


def test_command_schedule_and_sweeper_never_leave_a_sync_stuck(owner, kb, website, settings):
    call_command("sync_website", "--user", owner.username, "--kb", str(kb.pk))
    run = SyncRun.objects.get(website_source=website)
    assert run.trigger == "command" and run.status == "queued"
    SyncRun.objects.filter(pk=run.pk).update(status="cancelled")

    WebsiteSource.objects.filter(pk=website.pk).update(
        schedule="daily", next_sync_at=timezone.now() - timezone.timedelta(minutes=1)
    )
    from drafts.sync.services import sync_sweep, syncs_start_due

    assert syncs_start_due() == 1 and syncs_start_due() == 0
    run = SyncRun.objects.get(website_source=website, trigger="schedule")
    website.refresh_from_db()
    assert website.next_sync_at > timezone.now() + timezone.timedelta(hours=23)

    silent = timezone.now() - timezone.timedelta(hours=1)
    SyncRun.objects.filter(pk=run.pk).update(status="running", attempts=1, heartbeat_at=silent)
    assert sync_sweep() == ([str(run.pk)], 0)
    assert SyncRun.objects.get(pk=run.pk).status == "queued"
    SyncRun.objects.filter(pk=run.pk).update(
        status="running", attempts=settings.DOCUMENT_MAX_ATTEMPTS, heartbeat_at=silent
    )
    assert sync_sweep() == ([], 1)
    failed = SyncRun.objects.get(pk=run.pk)
    assert failed.status == "failed" and "worker stopped" in failed.error and failed.finished_at

    # A queued run nobody took for 10 stale periods (its message lost): sent again, once per period.
    lost = SyncRun.objects.create(website_source=website, kb=kb)
    SyncRun.objects.filter(pk=lost.pk).update(created_at=silent)
    assert sync_sweep() == ([str(lost.pk)], 0)
    assert sync_sweep() == ([], 0)
    assert SyncRun.objects.get(pk=lost.pk).status == "queued"


def test_the_kb_page_lists_sources_in_a_constant_number_of_queries(client_for, owner, kb, website):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def page_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client_for(owner).get(f"/kb/{kb.pk}/").status_code == 200
        return len(queries)

    SyncRun.objects.create(website_source=website, kb=kb, status="completed", counts={"unchanged": 1})
    page_queries()  # the first request also loads the session and the login's bookkeeping
    one = page_queries()
    for n in range(3):
        other = WebsiteSource.objects.create(kb=kb, url=f"http://127.0.0.1:9/{n}/")
        for _ in range(4):
            SyncRun.objects.create(website_source=other, kb=kb, status="failed", error="HTTP 500")
    assert page_queries() == one


# ---------------------------------------------------------------- the state machine and the crawler's part


PAIRS = all_pairs(list(SyncStatus.values))


@pytest.mark.parametrize(("origin", "target"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_each_sync_run_transition_happens_exactly_when_the_table_allows_it(website, origin, target):
    from drafts.sync import states

    assert set(states.TRANSITIONS) == set(SyncStatus.values)
    run = SyncRun.objects.create(website_source=website, kb=website.kb)
    assert_move_follows_the_table(states.RUNS, run.pk, origin, target)


def _serve(root: Path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(ConditionalHandler, directory=str(root)))
    server.request_log, server.slow = [], {}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_crawler_sends_validators_follows_stored_links_on_304_and_reads_same_site_sitemaps(tmp_path):
    from drafts.crawler import CrawlConfig, start_crawl
    from drafts.crawler.urls import url_key

    site, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    site.mkdir(), elsewhere.mkdir()
    (site / "index.html").write_text("<html><body><h1>Home</h1><p>Welcome to the home page.</p></body></html>")
    (site / "linked.html").write_text("<html><body><p>Only the stored links reach this page now.</p></body></html>")
    (site / "orphan.html").write_text("<html><body><p>Listed in the sitemap, linked from nowhere.</p></body></html>")
    (elsewhere / "secret.html").write_text("<html><body><p>Another origin.</p></body></html>")
    server, base = _serve(site)
    other, other_base = _serve(elsewhere)
    try:
        (site / "robots.txt").write_text(f"User-agent: *\nSitemap: {other_base}/sitemap.xml\n")
        urls = [f"{base}/orphan.html", f"{other_base}/secret.html"]
        (site / "sitemap.xml").write_text(
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            + "".join(f"<url><loc>{u}</loc></url>" for u in urls)
            + "</urlset>"
        )
        etag = '"' + hashlib.sha256((site / "index.html").read_bytes()).hexdigest()[:20] + '"'
        known = {url_key(f"{base}/index.html"): {"etag": etag, "last_modified": None, "links": [f"{base}/linked.html"]}}
        config = CrawlConfig(start_url=f"{base}/index.html", max_depth=2, allow_private=True, use_sitemap=True)
        handle = start_crawl(config, out_dir=tmp_path / "out", known=known)
        progress = handle.wait(timeout=60)
        pages = {Path(p.url).name: p for p in handle.pages()}
    finally:
        server.shutdown(), other.shutdown()
    assert progress.finished and progress.error is None
    assert pages["index.html"].not_modified and pages["index.html"].status == 304
    assert pages["linked.html"].ok and pages["linked.html"].etag and pages["linked.html"].last_modified
    assert pages["orphan.html"].ok  # found through the sitemap only
    assert "secret.html" not in pages and other.request_log == []  # another origin's sitemap and pages: never asked
    assert ("/index.html", True, 304) in server.request_log


@pytest.mark.parametrize("policy", ["delete", "keep"])
def test_plan_gives_every_url_one_outcome_and_its_reason(policy):
    from drafts.crawler.results import PageResult
    from drafts.sync.plan import plan_sync

    def page(name, text="same", status=200):
        digest = hashlib.sha256(text.encode()).hexdigest()
        elements = [{"type": "NarrativeText", "text": text}]
        return PageResult(f"http://s/{name}", status, 1, title=name, elements=elements, content_hash=digest)

    same = hashlib.sha256(b"same").hexdigest()
    names = ["304", "hash", "changed", "gone404", "err500", "skipped", "unreached"]
    documents = [{"id": f"id-{n}", "url": f"http://s/{n}", "content_hash": same} for n in names]
    results = [
        PageResult("http://s/304", 304, 1, not_modified=True),
        page("hash"),
        page("changed", "new text"),
        page("new", "brand new"),
        PageResult("http://s/gone404", 404, 1, error="HTTP 404"),
        PageResult("http://s/err500", 500, 1, error="HTTP 500"),
        PageResult("http://s/skipped", 200, 1, skipped_reason="duplicate of http://s/hash"),
        PageResult("http://s/dead", 404, 1, error="HTTP 404"),  # a dead link the KB never held
    ]
    gone = "removed" if policy == "delete" else "kept"
    plan = plan_sync(documents=documents, results=results, policy=policy, complete=True)
    outcomes = {row["url"].rsplit("/", 1)[1]: (row["outcome"], row["reason"]) for row in plan.report()}
    assert outcomes == {
        "304": ("unchanged", "not modified (HTTP 304)"),
        "hash": ("unchanged", "same content hash"),
        "changed": ("changed", "content changed"),
        "new": ("added", "new page"),
        "gone404": (gone, "HTTP 404"),
        "err500": ("failed", "HTTP 500"),  # kept as it is: a server error is not a removal
        "skipped": (gone, "duplicate of http://s/hash"),
        "dead": ("failed", "HTTP 404"),
        "unreached": (gone, "no longer linked and not in the sitemap"),
    }
    assert sum(plan.counts().values()) == len(outcomes)
    stopped = plan_sync(documents=documents, results=[], policy=policy, complete=False, stopped_because="max_pages")
    assert {e.outcome for e in stopped.entries} == {"failed"}  # a crawl that stopped early removes nothing
