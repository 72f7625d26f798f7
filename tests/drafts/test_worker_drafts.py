"""Draft sources processed by a real worker: an upload is parsed, a crawl reports progress and can be cancelled."""

import io
import time

import pytest

from drafts.models import DraftSource
from drafts.services import draft_create, draft_source_add_file, draft_source_add_website, draft_source_cancel

pytestmark = pytest.mark.slow


def wait_for(predicate, timeout=180, message="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {message}"
        time.sleep(0.1)


def test_worker_parses_uploads_and_crawls_with_progress_and_cancel(worker_process, workspace, owner, corpus, docs_site):
    worker_process()
    draft = draft_create(workspace=workspace, user=owner, name="Docs")
    path = corpus / "md" / "nodejs-path.md"
    upload = draft_source_add_file(draft=draft, user=owner, filename=path.name, fileobj=io.BytesIO(path.read_bytes()))
    site = draft_source_add_website(
        draft=draft, user=owner, url=docs_site + "/index.html", crawl_config={"max_depth": 5, "max_pages": 600}
    )
    wait_for(lambda: DraftSource.objects.get(pk=upload.pk).status == "completed", message="the upload to be parsed")
    wait_for(lambda: DraftSource.objects.get(pk=site.pk).pages_processed >= 5, message="crawl progress")
    running = DraftSource.objects.get(pk=site.pk)
    assert running.status == "processing" and running.pages_found >= running.pages_processed >= 5
    draft_source_cancel(source=running)
    wait_for(lambda: not DraftSource.objects.get(pk=site.pk).is_unfinished, timeout=60, message="the cancel")
    done = DraftSource.objects.get(pk=site.pk)
    assert done.status == "completed" and done.error_code == "cancelled"
    assert 5 <= done.pages_processed < 600
    assert len([r for r in done.crawl_report if r["stored"]]) == done.pages_processed
    assert DraftSource.objects.get(pk=upload.pk).content_preview
