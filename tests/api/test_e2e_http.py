"""The whole API flow over real HTTP: a live server (pytest-django's `live_server`) and a real worker process
(`worker_process`, a `manage.py rundramatiq` on the test database). The test talks to the product only through
HTTP with a bearer token; the ORM is used only to create the user's token and, at the end, to check that the
deleted knowledge base left no chunks behind.

draft -> text + PDF + DOCX + the local docs website -> sources parsed -> preview -> validate -> finalize ->
documents ready -> search finds the expected chunk of each source in every mode -> delete -> chunks gone."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from kb.models import Chunk, Document, KnowledgeBase

pytestmark = pytest.mark.slow

SOURCES_TIMEOUT = 180  # seconds: the worker parses the PDF/DOCX and crawls the site
DOCUMENTS_TIMEOUT = 300  # seconds: parse, chunk, embed and index every document
PAUSE = 0.5

TEXT_TITLE = "Lighthouse log"
TEXT = (
    "Harbour maintenance notes.\n\n"
    "The Zephyrine lighthouse keeper records every storm in a copper-bound ledger kept beneath the spiral stairs. "
    "Each entry names the wind direction, the height of the swell and the hour the lamp was relit.\n\n"
    "The lamp lens is polished with chamois leather every Thursday at dawn, and the brass fittings are oiled "
    "once a month so that salt cannot seize the rotating mechanism.\n"
)
PDF_TITLE = "Exam class"
DOCX_TITLE = "Paragraphs and tables"

# source -> (name of the document it must come from, text its expected chunk contains, search query)
EXPECTED = {
    "text": (TEXT_TITLE, "copper-bound ledger", "Zephyrine lighthouse keeper storm ledger"),
    "pdf": (
        PDF_TITLE,
        "addressed to the exams convener",
        "a document addressed to the exams convener responsible for the overall exam",
    ),
    "docx": (DOCX_TITLE, "facilisis", "Donec semper facilisis metus finibus malesuada"),
    "website": (None, "recipes", "How-to guides are recipes"),  # None: the crawl's start page, whatever its title
}


class Http:
    """A tiny JSON client over urllib: every call returns (status, parsed body or None)."""

    def __init__(self, base_url: str, token: str):
        self.base_url = base_url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body=None, *, query: dict | None = None, raw: bytes | None = None,
             content_type: str | None = None):  # fmt: skip
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        assert url.startswith("http://"), url  # the live server only, never file: or another scheme
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, exc.read()
        return status, (json.loads(payload) if payload else None)

    def get(self, path, **query):
        return self.call("GET", path, query=query or None)

    def post(self, path, body=None):
        return self.call("POST", path, {} if body is None else body)

    def delete(self, path):
        return self.call("DELETE", path)

    def upload(self, path, *, filename: str, content: bytes, mime: str, fields: dict):
        """multipart/form-data with one file and plain text fields, built by hand."""
        boundary = f"----pxb-e2e-{uuid.uuid4().hex}"
        parts = []
        for name, value in fields.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {mime}\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
        parts.append(f"--{boundary}--\r\n".encode())
        return self.call("POST", path, raw=b"".join(parts), content_type=f"multipart/form-data; boundary={boundary}")


def ok(result, status=200):
    code, body = result
    assert code == status, (code, body)
    return body


def poll(fetch, *, done, failed, timeout: float, what: str):
    """Call fetch() until done(value); fail at once when failed(value) says why, or at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if reason := failed(value):
            pytest.fail(f"{what}: {reason}")
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}; last state: {json.dumps(value, indent=1)}")
        time.sleep(PAUSE)


def test_draft_to_search_to_delete_over_http(live_server, worker_process, settings, owner, corpus, docs_site):
    from tenants.tokens import api_token_create

    settings.CRAWL_ALLOW_PRIVATE = True  # the docs site is on 127.0.0.1 (the live server runs in this process)
    worker_process(CRAWL_ALLOW_PRIVATE="true")
    _, token = api_token_create(user=owner, name=f"e2e-http-{uuid.uuid4().hex[:8]}", scopes=["write"])
    http = Http(live_server.url, token)
    started = time.monotonic()

    # -- the workspace, from the API
    workspaces = ok(http.get("/api/v1/workspaces/"))
    assert len(workspaces) == 1 and workspaces[0]["role"] == "owner", workspaces
    workspace_id = workspaces[0]["id"]

    # -- a draft with four sources
    created = ok(
        http.post("/api/v1/kb-drafts/", {"name": "E2E", "description": "over HTTP", "workspace_id": workspace_id})
    )
    assert created["status"] == "created" and created["message"]
    base = f"/api/v1/kb-drafts/{created['draft_id']}"

    text = ok(http.post(f"{base}/sources/text", {"title": TEXT_TITLE, "content": TEXT, "metadata": {"lang": "en"}}))
    assert (text["type"], text["status"]) == ("text_input", "completed"), text
    pdf_path = corpus / "pdf" / "exam-n.pdf"
    pdf = ok(
        http.upload(
            f"{base}/sources/upload", filename=pdf_path.name, content=pdf_path.read_bytes(), mime="application/pdf",
            fields={"title": PDF_TITLE, "metadata": json.dumps({"team": "docs"})},
        )
    )  # fmt: skip
    assert (pdf["type"], pdf["name"], pdf["status"]) == ("file_upload", PDF_TITLE, "pending"), pdf
    assert pdf["metadata"]["team"] == "docs"
    docx_path = corpus / "docx" / "blk-paras-and-tables.docx"
    docx = ok(
        http.upload(
            f"{base}/sources/upload", filename=docx_path.name, content=docx_path.read_bytes(),
            mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            fields={"title": DOCX_TITLE},
        )
    )  # fmt: skip
    assert (docx["type"], docx["name"]) == ("file_upload", DOCX_TITLE), docx
    start_url = docs_site + "/index.html"
    site = ok(
        http.post(
            f"{base}/sources/website",
            {"url": start_url, "crawl_config": {"max_depth": 1, "max_pages": 3}, "metadata": {"site": "django"}},
        )
    )
    assert (site["type"], site["status"]) == ("website_crawl", "pending"), site
    source_ids = {"text": text["id"], "pdf": pdf["id"], "docx": docx["id"], "website": site["id"]}

    # -- the worker parses the files and crawls the site
    def source_errors(sources):
        broken = [(s["name"], s["error_code"], s["error"]) for s in sources if s["status"] == "error"]
        return f"sources ended in error: {broken}" if broken else None

    sources = poll(
        lambda: ok(http.get(f"{base}/sources")),
        done=lambda sources: all(s["status"] == "completed" for s in sources),
        failed=source_errors, timeout=SOURCES_TIMEOUT, what="the draft's sources to be parsed",
    )  # fmt: skip
    assert {s["id"] for s in sources} == set(source_ids.values())
    crawled = next(s for s in sources if s["id"] == site["id"])
    assert 1 <= crawled["pages_processed"] <= 3, crawled
    sources_done = time.monotonic()

    # -- preview: chunks of every source
    preview = ok(http.post(f"{base}/preview-chunks", {"limit": 1000}))
    assert preview["total_chunks"] == len(preview["chunks"]) > 0 and preview["total_tokens"] > 0, preview["warnings"]
    per_source = {kind: [c for c in preview["chunks"] if c["source_id"] == sid] for kind, sid in source_ids.items()}
    assert all(per_source.values()), {kind: len(chunks) for kind, chunks in per_source.items()}
    for kind, (_, needle, _) in EXPECTED.items():
        assert any(needle in c["content"] for c in per_source[kind]), (kind, needle)

    # -- validate, finalize
    validation = ok(http.post(f"{base}/validate"))
    assert validation["valid"] is True and validation["errors"] == [], validation
    assert validation["stats"]["completed_sources"] == 4, validation
    finalized = ok(http.post(f"{base}/finalize"))
    assert finalized["status"] == "processing" and finalized["message"], finalized
    kb_id = finalized["kb_id"]
    kb_url = f"/api/v1/knowledge-bases/{kb_id}/"
    assert http.get(base)[0] == 404  # the draft is gone

    # -- the worker processes every document
    def document_problems(page):
        bad = [(d["name"], d["status"], d["error_code"], d["error"]) for d in page["results"] if d["status"] in
               ("failed", "quarantined")]  # fmt: skip
        return f"documents did not get ready: {bad}" if bad else None

    documents = poll(
        lambda: ok(http.get(f"{kb_url}documents/", page_size=200)),
        done=lambda page: page["count"] and all(d["status"] == "ready" for d in page["results"]),
        failed=document_problems, timeout=DOCUMENTS_TIMEOUT, what="every document to be ready",
    )  # fmt: skip
    documents = documents["results"]
    assert len(documents) == 3 + crawled["pages_processed"], [d["name"] for d in documents]
    assert all(d["chunk_count"] > 0 and d["progress"] == 100 for d in documents), documents
    detail = ok(http.get(kb_url))
    assert detail["summary"]["status"] == "ready" and detail["summary"]["documents"] == len(documents), detail
    assert detail["summary"]["chunks"] == sum(d["chunk_count"] for d in documents) > 0
    ready = time.monotonic()

    by_source = {
        kind: [d for d in documents if d["metadata"].get("draft_source_id") == sid] for kind, sid in source_ids.items()
    }
    assert [len(by_source[k]) for k in ("text", "pdf", "docx")] == [1, 1, 1], by_source
    assert {d["url"] for d in by_source["website"]} >= {start_url}, [d["url"] for d in by_source["website"]]
    expected_document = {kind: docs[0] for kind, docs in by_source.items() if kind != "website"}
    expected_document["website"] = next(d for d in by_source["website"] if d["url"] == start_url)
    for kind, (title, _, _) in EXPECTED.items():
        assert title is None or expected_document[kind]["name"] == title, (kind, expected_document[kind]["name"])

    # the expected chunk of each source, as indexed
    expected_chunks = {}
    for kind, (_, needle, _) in EXPECTED.items():
        chunks = ok(http.get(f"{kb_url}chunks/", document_id=expected_document[kind]["id"], page_size=200))
        assert chunks["count"] == len(chunks["results"]) > 0
        expected_chunks[kind] = {c["id"] for c in chunks["results"] if needle in c["content"]}
        assert expected_chunks[kind], (kind, needle, [c["content"][:80] for c in chunks["results"]])

    # -- search: each source's expected chunk is found in every mode
    for mode in ("vector", "keyword", "hybrid"):
        for kind, (_, needle, query) in EXPECTED.items():
            response = ok(http.post(f"{kb_url}search", {"query": query, "mode": mode, "top_k": 5}))
            results = response["results"]
            assert response["mode"] == mode and 0 < len(results) <= 5, (mode, kind, response)
            assert [r["rank"] for r in results] == list(range(1, len(results) + 1))
            hits = [r for r in results if r["chunk_id"] in expected_chunks[kind]]
            assert hits, (mode, kind, query, [(r["document_name"], r["content"][:80]) for r in results])
            hit = hits[0]
            assert hit["document_id"] == expected_document[kind]["id"] and needle in hit["content"]
            if kind == "pdf":
                assert hit["page"] is not None, hit
            if mode == "hybrid":
                assert hit["vector_rank"] or hit["keyword_rank"], hit
    searched = time.monotonic()

    # -- delete the KB: it and its chunks are gone
    assert http.delete(kb_url) == (204, None)
    for path in (kb_url, f"{kb_url}documents/", f"{kb_url}chunks/"):
        status, body = http.get(path)
        assert status == 404 and set(body) == {"error"} and body["error"]["code"], (path, status, body)
    assert http.post(f"{kb_url}search", {"query": "convener"})[0] == 404
    assert all(w["id"] != kb_id for w in ok(http.get("/api/v1/knowledge-bases/"))["results"])
    assert not KnowledgeBase.objects.filter(pk=kb_id).exists()
    assert not Document.objects.filter(kb_id=kb_id).exists()
    assert not Chunk.objects.filter(kb_id=kb_id).exists()
    print(
        f"\ne2e over HTTP: sources parsed {sources_done - started:.1f}s, documents ready {ready - sources_done:.1f}s, "
        f"search {searched - ready:.1f}s, total {time.monotonic() - started:.1f}s"
    )
