import functools
import http.server
import threading
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


@pytest.fixture
def docs_site():
    """The real Django docs, served on 127.0.0.1 for the crawler."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=CORPUS / "site"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
