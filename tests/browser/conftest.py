"""Browser tests: Playwright driving Debian's Chromium (`playwright install` cannot download browsers here)
against pytest-django's live server, with real worker processes (tests/conftest.py `worker_process`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"
SCREENSHOTS = ROOT / "docs" / "screenshots"


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives a real Chromium against the live server")


@pytest.fixture(scope="module")
def browser(django_db_setup):
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}. Browser tests use Debian's chromium package: "
            "run scripts/setup.sh (it installs it) or `apt-get install -y chromium`."
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -r requirements/dev.txt")
    # Playwright's sync API keeps an event loop running on this thread until it stops; the ORM calls made
    # meanwhile (the tests' own, database flushes) are still synchronous, so Django's async check must be off.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:  # each launch gets a fresh, empty profile
            instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield instance
            instance.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser_env(settings):
    settings.SESSION_COOKIE_SECURE = False  # the live server speaks plain http
    settings.CSRF_COOKIE_SECURE = False


# Runs before any page script (Playwright injects it outside the page's CSP): every violation of the policy
# is also logged as a console error with what was blocked and where, so `console_errors` names it.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error("CSP violation: " + event.effectiveDirective + " blocked " + (event.blockedURI || "inline")
    + " in " + event.sourceFile + ":" + event.lineNumber + " (" + event.sample + ")");
});
"""


def watch(tab):
    """Collects into `tab.console_errors` uncaught exceptions, console errors (Chromium logs each CSP refusal as
    one) and `securitypolicyviolation` events; tab.csp_violations() is the part that names the policy."""
    tab.console_errors = []
    tab.on("pageerror", lambda exc: tab.console_errors.append(f"uncaught: {exc}"))
    tab.on(
        "console",
        lambda msg: (
            msg.type == "error"
            and tab.console_errors.append(f"console error: {msg.text} ({msg.location.get('url', '')})")
        ),
    )
    tab.add_init_script(CSP_LISTENER)
    tab.csp_violations = lambda: [e for e in tab.console_errors if _is_csp(e)]
    return tab


def _is_csp(message: str) -> bool:
    return "CSP violation" in message or "Content Security Policy" in message


@pytest.fixture
def page(browser, browser_env, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(20_000)
    tab = watch(context.new_page())
    yield tab
    context.close()
    # Every browser test: nothing the app served was refused by its own Content-Security-Policy.
    assert not tab.csp_violations(), tab.csp_violations()


def login(page, username: str, password: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


def screenshot(page, name: str, *, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)
