"""No plaintext of a tenant's document stays on disk: not when a worker is killed mid-parse or mid-crawl (the
start-up sweep of the next process removes what the killed one held in its private directory), and not while a
large upload is being received (it is spooled encrypted, privexbot.uploads).

Each test first sees its unique sentence where the work puts it (a positive control: the search would find a
leftover), then proves it is gone from /tmp, /dev/shm, TMPDIR, var/ and the upload spool."""

from __future__ import annotations

import http.server
import io
import os
import signal
import stat
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from kb.pipeline.parse_child import SLEEP_MARKER
from privexbot import sandbox

ROOT = Path(__file__).resolve().parents[2]
CHUNK = 8 * 1024 * 1024
MAX_FILE = 1024**3


def sentence() -> bytes:
    return f"The pelican {uuid.uuid4().hex} counts sandcastles at dawn.".encode()


def temp_places() -> list[Path]:
    """The temporary directories and the upload spool."""
    places = [Path("/tmp"), Path("/dev/shm"), Path(tempfile.gettempdir()), *sandbox.roots()]
    if os.environ.get("TMPDIR"):
        places.append(Path(os.environ["TMPDIR"]))
    if settings.FILE_UPLOAD_TEMP_DIR:
        places.append(Path(settings.FILE_UPLOAD_TEMP_DIR))
    return _distinct(places)


def every_place() -> list[Path]:
    return _distinct([*temp_places(), ROOT / "var", Path(settings.VAR_DIR)])


def _distinct(places: list[Path]) -> list[Path]:
    out: list[Path] = []
    for place in places:
        if place.is_dir() and place.resolve() not in [p.resolve() for p in out]:
            out.append(place)
    return out


def grep(needle: bytes, places: list[Path]) -> list[str]:
    """Regular files under `places` whose bytes contain `needle` (symlinks not followed)."""
    hits: list[str] = []
    seen: set[tuple[int, int]] = set()
    for place in places:
        for dirpath, _, filenames in os.walk(place):
            for name in filenames:
                path = os.path.join(dirpath, name)
                try:
                    info = os.lstat(path)
                    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE or (info.st_dev, info.st_ino) in seen:
                        continue
                    seen.add((info.st_dev, info.st_ino))
                    if _contains(path, needle):
                        hits.append(path)
                except OSError:  # vanished or unreadable meanwhile
                    continue
    return hits


def _contains(path: str, needle: bytes) -> bool:
    with open(path, "rb") as fh:
        tail = b""
        while block := fh.read(CHUNK):
            if needle in tail + block:
                return True
            tail = block[-len(needle) :]
    return False


def in_private_dirs(needle: bytes) -> list[str]:
    return grep(needle, [d for base in sandbox.roots() for d in base.glob(f"{sandbox.PREFIX}*")])


def wait_for(what, predicate, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def processes_with(*words: bytes) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and all(word in cmdline for word in words):
            found.append(int(entry.name))
    return found


def kill_and_sweep(worker, private_dir: Path, *, child: bytes, worker_process) -> None:
    """SIGKILL the worker's whole process group, check its child died too and nobody cleaned up, then start a
    worker again and wait for its start-up sweep to remove the killed one's private directory."""
    owner = private_dir.name[len(sandbox.PREFIX) :].split("-")[0]
    mine = f"{sandbox.PREFIX}{owner}-".encode()  # in its command line: its TMPDIR or its output directory
    assert processes_with(child, mine), f"no {child.decode()} was running for worker {owner}"
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    wait_for(f"the {child.decode()} of worker {owner} to die", lambda: not processes_with(child, mine), 15)
    assert private_dir.exists(), "the killed worker's private directory should still be there before the sweep"
    # The next worker must not take the document again while the disk is searched (it would parse it anew).
    worker_process(DOCUMENT_STALE_AFTER="900", SWEEP_INTERVAL="900")
    wait_for("the start-up sweep", lambda: not private_dir.exists(), 120)


def private_dir_of(hits: list[str]) -> Path:
    """The one process directory (pxb-sandbox-<pid>-...) the hits are in."""
    found = {next(p for p in Path(hit).parents if p.parent in sandbox.roots()) for hit in hits}
    [directory] = found
    assert directory.name.startswith(sandbox.PREFIX)
    return directory


@pytest.mark.slow
def test_a_worker_killed_mid_parse_leaves_no_plaintext(worker_process, kb, owner):
    from kb.services import document_create_from_file

    needle = sentence()
    content = SLEEP_MARKER + b"\n\n" + b"\n\n".join([needle + b" Refunds take fourteen days."] * 40) + b"\n"
    worker = worker_process(PARSE_TEST_HOOKS="true")
    document_create_from_file(kb=kb, user=owner, filename="notes.txt", fileobj=io.BytesIO(content))

    # The child hangs (test hook) holding the file and a temporary copy in its TMPDIR, as parsers do.
    hits = wait_for("the file in the worker's private directory", lambda: in_private_dirs(needle))
    hits = wait_for("the parser's temporary copy", lambda: [h for h in in_private_dirs(needle) if "child-" in h])
    private_dir = private_dir_of(hits)
    assert {Path(h).parent.name.split("-")[0] for h in in_private_dirs(needle)} >= {"child", "pxb"}
    assert private_dir.stat().st_mode & 0o777 == 0o700 and private_dir.parent == sandbox.root()

    kill_and_sweep(worker, private_dir, child=b"kb.pipeline.parse_child", worker_process=worker_process)
    assert grep(needle, every_place()) == []


class _Site(http.server.BaseHTTPRequestHandler):
    """/ holds the sentence and links to pages that answer only when the test ends: the crawl is mid-run."""

    needle = b""
    release = threading.Event()

    def do_GET(self):
        if self.path != "/":
            self.release.wait(300)
        links = "".join(f'<a href="/slow/{i}">page {i}</a> ' for i in range(5))
        body = (
            f"<html><head><title>Pelicans</title></head><body><h1>Pelicans</h1>"
            f"<p>{self.needle.decode()} Their beaks hold more than their bellies.</p><p>{links}</p></body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.slow
def test_a_worker_killed_mid_crawl_leaves_no_plaintext(worker_process, workspace, owner):
    from drafts.services import draft_create, draft_source_add_website

    needle = sentence()
    handler = type("Site", (_Site,), {"needle": needle, "release": threading.Event()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        worker = worker_process()
        draft = draft_create(workspace=workspace, user=owner, name="Pelicans")
        draft_source_add_website(draft=draft, user=owner, url=f"http://127.0.0.1:{server.server_address[1]}/")

        hits = wait_for("the crawled page in the worker's private directory", lambda: in_private_dirs(needle))
        private_dir = private_dir_of(hits)
        assert any("pxb-crawl-" in h for h in hits)

        kill_and_sweep(worker, private_dir, child=b"drafts.crawler.child", worker_process=worker_process)
        assert grep(needle, every_place()) == []
    finally:
        handler.release.set()
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------------------------- uploads

DJANGO_HANDLERS = [
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]


@pytest.mark.django_db
@pytest.mark.parametrize("handlers", ["configured", "django-default"])
def test_a_large_upload_through_the_api_is_never_on_disk_in_plaintext(
    handlers, owner, workspace, settings, monkeypatch
):
    """While the view handles a 3 MB upload (over FILE_UPLOAD_MAX_MEMORY_SIZE), nothing in the temporary
    directories, the upload spool or this process's open files holds its text. The control run with Django's
    own handlers finds its plaintext spool file, so the search is real."""
    from rest_framework.test import APIClient

    from kb import services
    from tenants.tokens import api_token_create

    if handlers == "django-default":
        settings.FILE_UPLOAD_HANDLERS = DJANGO_HANDLERS
    needle = sentence()
    content = (needle + b" Shipping takes three to five working days.\n") * 30_000
    assert len(content) > settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    seen = {}
    real = services.file_accept

    def spy(*, filename, fileobj):  # the moment the request holds the whole upload
        seen["file"] = type(getattr(fileobj, "file", fileobj)).__name__
        seen["hits"] = grep(needle, temp_places()) + _open_files_containing(needle)
        return real(filename=filename, fileobj=fileobj)

    monkeypatch.setattr(services, "file_accept", spy)
    _, token = api_token_create(user=owner, name="tests", scopes=["admin"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    draft = client.post("/api/v1/kb-drafts/", {"name": "Big", "workspace_id": str(workspace.pk)}).json()["draft_id"]
    upload = io.BytesIO(content)
    upload.name = "shipping.txt"
    response = client.post(f"/api/v1/kb-drafts/{draft}/sources/upload", {"file": upload}, format="multipart")
    assert response.status_code in (200, 201), response.content
    if handlers == "configured":
        assert seen["file"] == "EncryptedSpool"
        assert seen["hits"] == []
    else:
        assert seen["file"] != "EncryptedSpool"
        assert any(".upload" in hit for hit in seen["hits"]), seen["hits"]  # Django's plaintext spool
    assert grep(needle, temp_places()) == []


def _open_files_containing(needle: bytes) -> list[str]:
    """Regular files this process has open, deleted (unlinked) ones included, whose bytes contain `needle`."""
    hits = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
            if fd.is_file() and _contains(str(fd), needle):
                hits.append(target)
        except OSError:
            continue
    return hits
