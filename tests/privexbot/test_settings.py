"""Start-up checks: production settings without secrets must refuse to start."""

import base64
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEY = base64.b64encode(os.urandom(32)).decode()  # a master key must be 32 random bytes (storage/keys.py)


def _start(tmp_path, **env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ENCRYPTION_KEY", "DEBUG"}}
    env.update({"DJANGO_SETTINGS_MODULE": "privexbot.settings", "PRIVEXBOT_VAR_DIR": str(tmp_path / "var")})
    env.update(env_overrides)
    code = "import django; django.setup(); from django.conf import settings; print('started', settings.DEBUG)"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_production_without_secret_key_is_a_startup_error(tmp_path):
    result = _start(tmp_path, DEBUG="false", ENCRYPTION_KEY=KEY)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_without_encryption_key_is_a_startup_error(tmp_path):
    result = _start(tmp_path, DEBUG="false", SECRET_KEY="x" * 50)
    assert result.returncode != 0
    assert "ENCRYPTION_KEY must be set" in result.stderr
    assert not (tmp_path / "var" / "secrets").exists()  # never silently generated in production


def test_malformed_encryption_key_is_a_startup_error(tmp_path):
    result = _start(tmp_path, DEBUG="false", SECRET_KEY="x" * 50, ENCRYPTION_KEY="too-short")
    assert result.returncode != 0
    assert "ENCRYPTION_KEY entries must be 32 random bytes" in result.stderr


def test_bad_typed_setting_names_the_variable(tmp_path):
    result = _start(tmp_path, DEBUG="false", SECRET_KEY="x" * 50, ENCRYPTION_KEY=KEY, MAX_FILE_SIZE="huge")
    assert result.returncode != 0
    assert "MAX_FILE_SIZE must be a size" in result.stderr


def test_production_starts_with_keys_and_development_generates_them(tmp_path):
    ok = _start(tmp_path, DEBUG="false", SECRET_KEY="x" * 50, ENCRYPTION_KEY=KEY)
    assert ok.returncode == 0, ok.stderr
    assert "started False" in ok.stdout
    dev = _start(tmp_path, DEBUG="true")
    assert dev.returncode == 0, dev.stderr
    assert (tmp_path / "var" / "secrets" / "encryption_key").stat().st_mode & 0o077 == 0
