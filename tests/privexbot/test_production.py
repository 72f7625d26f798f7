"""The production path: production settings (DEBUG off, secrets from the environment) pass `check --deploy`, and
under gunicorn every page's CSS and JavaScript (htmx included) is served by WhiteNoise, hashed and long-cached."""

import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def production_env(tmp_path, **extra) -> dict:
    """What a deployment behind a TLS-terminating proxy sets (deploy/.env.example, production section)."""
    return {
        "PATH": os.environ["PATH"],
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str):
    request = urllib.request.Request(url, headers={"X-Forwarded-Proto": "https", "Host": "kb.example.org"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_gunicorn_serves_every_asset_of_a_page_hashed_and_long_cached(tmp_path):
    env = production_env(tmp_path)
    collected = manage(env, "collectstatic", "--noinput")
    assert collected.returncode == 0, collected.stderr
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "privexbot.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _, page = _get(f"{base}/login/")
                break
            except (ConnectionError, urllib.error.URLError):
                assert server.poll() is None and time.monotonic() < deadline, server.stderr.read().decode()
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
        server.terminate()
        server.wait(timeout=30)
