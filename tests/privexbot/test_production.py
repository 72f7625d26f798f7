"""The production path: production settings (DEBUG off, secrets from the environment) pass `check --deploy`, and
under gunicorn, started by deploy/start-web.sh as every deployment starts it, every page's CSS and JavaScript
(htmx included) is served by WhiteNoise, hashed and long-cached."""

import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests import production_mode as prod

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def production_env(tmp_path, **extra) -> dict:
    """What a deployment behind a TLS-terminating proxy sets (deploy/.env.example, production section)."""
    return {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # start-web.sh runs `python`
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "DJANGO_SETTINGS_MODULE": "privexbot.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ENCRYPTION_KEY": settings.ENCRYPTION_KEY,
        "PRIVEXBOT_VAR_DIR": str(settings.VAR_DIR),  # the test suite's running embedded servers
        "STATIC_ROOT": str(tmp_path / "static"),
        "ALLOWED_HOSTS": "127.0.0.1,kb.example.org",
        "TRUST_X_FORWARDED_PROTO": "true",
        "SECURE_HSTS_PRELOAD": "true",
        **extra,
    }


def manage(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)


def test_check_deploy_is_clean_with_the_production_settings(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_names_what_a_bare_production_env_misses(tmp_path):
    env = production_env(tmp_path, TRUST_X_FORWARDED_PROTO="false", SECURE_SSL_REDIRECT="false")
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0 and "security.W008" in result.stdout + result.stderr  # the check can fail


def _get(url: str):
    request = urllib.request.Request(url, headers={"X-Forwarded-Proto": "https", "Host": "kb.example.org"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_gunicorn_serves_every_asset_of_a_page_hashed_and_long_cached(tmp_path):
    port = prod.free_port()
    # The suite's database is migrated already; the script still collects the static files into STATIC_ROOT.
    env = production_env(tmp_path, BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1", RUN_MIGRATIONS="false")
    log = tmp_path / "web.log"
    server = prod.start(prod.WEB_COMMAND, env=env, log=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # collectstatic first
        while True:
            try:
                status, _, page = _get(f"{base}/login/")
                break
            except (ConnectionError, urllib.error.URLError):
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.3)
        assert status == 200
        assets = re.findall(rb'(?:href|src)="(/static/[^"]+)"', page)
        names = {a.decode().rsplit("/", 1)[-1] for a in assets}
        assert any(n.startswith("app.") and n.endswith(".css") for n in names), names
        assert any(n.startswith("htmx") and n.endswith(".js") for n in names), names
        assert all(re.search(r"\.[0-9a-f]{12}\.", n) for n in names), names  # hashed by the manifest
        for asset in assets:
            status, headers, body = _get(base + asset.decode())
            assert status == 200 and body, asset
            assert "max-age=315360000" in headers.get("Cache-Control", ""), (asset, headers)
        plain_http = urllib.request.Request(f"{base}/login/", headers={"Host": "kb.example.org"})
        with pytest.raises(urllib.error.HTTPError) as redirect:

            class NoRedirect(urllib.request.HTTPRedirectHandler):
                def redirect_request(self, *args, **kwargs):
                    return None

            urllib.request.build_opener(NoRedirect).open(plain_http, timeout=10)
        assert redirect.value.code == 301 and redirect.value.headers["Location"].startswith("https://")
    finally:
        prod.stop(server)
