"""The wizard walk against the app started exactly as production starts it: deploy/start-web.sh (migrate,
collectstatic, gunicorn) and deploy/start-worker.sh (a separate Dramatiq worker with its own working and var
directories), DEBUG off, fresh secrets, DATABASE_URL / REDIS_URL over TCP (password-protected, loopback) to a
fresh PostgreSQL and Valkey, STORAGE_BACKEND=database. Real Chromium walks login → draft → upload → preview →
finalize → ready → search, and every asset and HTMX request it made must have succeeded: the CSS and htmx
hashed and 200.

Chromium speaks plain HTTP to 127.0.0.1, so it plays the TLS-terminating proxy production expects: every request
carries `X-Forwarded-Proto: https` and the app trusts it (TRUST_X_FORWARDED_PROTO=true, as deployed). Secure
cookies, the HTTPS redirect and HSTS all stay on. The one addition is CSRF_TRUSTED_ORIGINS for the browser's
own origin (http://127.0.0.1:PORT): behind a real proxy the browser's origin is the https one the app sees."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests import production_mode as prod
from tests.browser import wizard
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, CORPUS, login, watch

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HASHED = re.compile(r"\.[0-9a-f]{12}\.")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Web and worker as two production processes on their own servers; yields what the walk needs."""
    tmp = tmp_path_factory.mktemp("production")
    with prod.tcp_servers() as (database_url, redis_url):
        port = prod.free_port()
        base_url = f"http://127.0.0.1:{port}"
        web_env = prod.production_env(
            database_url=database_url,
            redis_url=redis_url,
            var_dir=tmp / "web-var",
            static_root=tmp / "static",
            BIND=f"127.0.0.1:{port}",
            WEB_CONCURRENCY="2",
            CSRF_TRUSTED_ORIGINS=base_url,
        )
        # The worker shares only what machines in a deployment share: the secrets and the servers' URLs.
        worker_metrics = f"127.0.0.1:{prod.free_port()}"
        worker_env = {
            **web_env,
            "PRIVEXBOT_VAR_DIR": str(tmp / "worker-var"),  # and so its own METRICS_DIR: another machine
            "WORKER_PROCESSES": "1",
            "WORKER_METRICS_BIND": worker_metrics,
        }
        worker_cwd = tmp / "worker-cwd"
        worker_cwd.mkdir()
        web_log, worker_log = tmp / "web.log", tmp / "worker.log"
        web = prod.start(prod.WEB_COMMAND, env=web_env, log=web_log)
        worker = None
        try:
            prod.wait_until(
                lambda: web.poll() is None and _answers(base_url),
                timeout=240,
                what="gunicorn did not answer (migrate, collectstatic, start)",
                logs=[web_log],
            )
            # Before any worker runs, both health checks must fail: they can.
            assert prod.run(prod.WORKER_HEALTHCHECK, env=worker_env).returncode != 0
            assert prod.run(prod.WEB_HEALTHCHECK, env=web_env).returncode != 0
            password_file = tmp / "admin_password"
            boot = prod.run(
                ["python", "manage.py", "bootstrap", "--username", "owner", "--password-file", str(password_file)],
                env=web_env,
            )
            assert boot.returncode == 0, boot.stderr[-3000:]
            worker = prod.start(prod.WORKER_COMMAND, env=worker_env, log=worker_log, cwd=worker_cwd)
            prod.wait_until(
                lambda: worker.poll() is None and prod.run(prod.WORKER_HEALTHCHECK, env=worker_env).returncode == 0,
                timeout=120,
                what="the worker sent no heartbeat",
                logs=[worker_log],
            )
            health = prod.run(prod.WEB_HEALTHCHECK, env=web_env)
            assert health.returncode == 0, health.stderr  # database, Redis and the worker all answer /health
            yield {
                "base_url": base_url,
                "password": password_file.read_text().strip(),
                "metrics_token": web_env["METRICS_TOKEN"],
                "worker_metrics_url": f"http://{worker_metrics}/metrics",
                "logs": [web_log, worker_log],
            }
        finally:
            if worker is not None:
                prod.stop(worker)
            prod.stop(web)


def _answers(base_url: str) -> bool:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{base_url}/login/", headers={"X-Forwarded-Proto": "https"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


@pytest.fixture
def prod_page(stack):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(
            base_url=stack["base_url"],
            viewport={"width": 1280, "height": 900},
            extra_http_headers={"X-Forwarded-Proto": "https"},  # the TLS proxy's header (module docstring)
        )
        context.set_default_timeout(30_000)
        tab = watch(context.new_page())  # console errors and CSP violations (tests/browser/conftest.py)
        tab.responses = []
        tab.on("response", lambda response: tab.responses.append(_seen(response)))
        yield tab
        context.close()
        browser.close()


def _seen(response) -> dict:
    request = response.request
    return {
        "path": urlsplit(response.url).path,
        "origin": "{0.scheme}://{0.netloc}".format(urlsplit(response.url)),
        "status": response.status,
        "method": request.method,
        "htmx": request.headers.get("hx-request") == "true",
        "type": request.resource_type,
    }


def assert_page_styled_and_htmx_loaded(page) -> None:
    """This document applied a stylesheet from /static/ and runs htmx (a failed asset leaves either missing)."""
    loaded = page.evaluate(
        """() => ({
            htmx: typeof window.htmx === 'object',
            css: [...document.styleSheets].some(s => s.href && s.href.includes('/static/') && s.cssRules.length > 0),
        })"""
    )
    assert loaded == {"htmx": True, "css": True}, (page.url, loaded)


def test_the_wizard_walk_against_production_gunicorn(stack, prod_page):
    page = prod_page
    login(page, "owner", stack["password"])
    assert_page_styled_and_htmx_loaded(page)

    wizard.fill_basics(page, name="Exam handbook", description="The exam-n class, in production mode.")
    assert_page_styled_and_htmx_loaded(page)
    wizard.submit_basics(page)
    assert_page_styled_and_htmx_loaded(page)

    # The web process stores the upload; the worker, with another var dir, reads it through STORAGE_BACKEND.
    wizard.upload_file(page, CORPUS / "pdf" / "exam-n.pdf")
    wizard.wait_sources_completed(page, 1, timeout=180_000)
    expect(page.locator("#source-list")).to_contain_text("17 pages")

    wizard.open_chunking(page)
    assert_page_styled_and_htmx_loaded(page)
    assert wizard.total_chunks(page) > 1
    expect(page.locator("#preview .chunk").first).to_contain_text("tokens")
    wizard.save_chunking(page)
    assert_page_styled_and_htmx_loaded(page)
    wizard.save_embedding(page)
    assert_page_styled_and_htmx_loaded(page)
    expect(page.locator("#report")).to_contain_text("1 / 1")
    wizard.finalize(page)
    assert_page_styled_and_htmx_loaded(page)

    wizard.wait_documents_ready(page, 1, timeout=240_000)
    results = wizard.search(page, "author command")
    expect(results).to_contain_text("The \\author command is a convenience")
    expect(results).to_contain_text("exam-n.pdf")
    assert not page.console_errors

    own = [r for r in page.responses if r["origin"] == stack["base_url"]]
    assets = [r for r in own if r["path"].startswith("/static/")]
    htmx_requests = [r for r in own if r["htmx"]]
    assert htmx_requests, "the walk made no HTMX request: the check below would prove nothing"
    failed = [r for r in assets + htmx_requests if r["status"] >= 400]
    assert failed == [], failed
    for name, pattern in {"css": r"/static/css/app\.[^/]+\.css$", "htmx": r"/static/.*htmx[^/]*\.js$"}.items():
        served = [r for r in assets if re.search(pattern, r["path"])]
        assert served, f"no {name} request was seen: {sorted({r['path'] for r in assets})}"
        assert all(r["status"] == 200 and HASHED.search(r["path"]) for r in served), served
    assert [r for r in own if r["status"] >= 400] == []  # no page or form answered an error either
    for log in stack["logs"]:  # and neither process failed along the way (a retried job logs its traceback)
        assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-5000:]


def test_the_server_answers_as_deployed(stack, prod_page):
    """The same server: a 404 is the plain production page (DEBUG lists no URL patterns), plain HTTP goes to
    HTTPS, and /metrics answers a scraper that sends METRICS_TOKEN, and nobody else."""
    missing = prod_page.request.get("/no-such-page/", headers={"X-Forwarded-Proto": "https"})
    assert missing.status == 404
    assert "URLconf" not in missing.text()
    plain = prod_page.request.get("/login/", headers={"X-Forwarded-Proto": "http"}, max_redirects=0)
    assert plain.status == 301 and plain.headers["location"].startswith("https://")
    scraper = {"X-Forwarded-Proto": "https", "Authorization": f"Bearer {stack['metrics_token']}"}
    metrics = prod_page.request.get("/metrics", headers=scraper)
    assert metrics.status == 200 and "# TYPE" in metrics.text()
    stranger = prod_page.request.get("/metrics", headers={"X-Forwarded-Proto": "https"})
    assert stranger.status in {401, 403, 404}
    # After the walk: the web counted its search; the worker machine, scraped on its own, its jobs.
    web_figures = _figures(metrics.text())
    searches = sum(v for (name, _), v in web_figures.items() if name == "privexbot_searches_total")
    assert searches >= 1, "the walk's search is not counted on the web machine"
    worker = prod_page.request.get(
        stack["worker_metrics_url"], headers={"Authorization": f"Bearer {stack['metrics_token']}"}
    )
    assert worker.status == 200
    worker_figures = _figures(worker.text())
    assert sum(v for (name, _), v in worker_figures.items() if name == "dramatiq_messages_total") >= 2
    assert worker_figures.get(("privexbot_documents_processed_total", (("outcome", "ready"),)), 0) >= 1
    assert prod_page.request.get(stack["worker_metrics_url"]).status in {403, 404}


def _figures(text: str) -> dict:
    """(sample name, sorted labels) -> value, from a Prometheus exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
