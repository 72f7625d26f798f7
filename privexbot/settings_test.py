"""Test settings: the real embedded PostgreSQL and Redis, but in their own var dir so a running
development instance (and its workers) never sees test data or test jobs."""

import os
import tempfile
from pathlib import Path

_BASE = Path(__file__).resolve().parent.parent
os.environ.setdefault("PRIVEXBOT_VAR_DIR", str(_BASE / "var" / "test"))
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")
# A fixed test master key (32 bytes, base64). Never used outside the test suite.
os.environ.setdefault("ENCRYPTION_KEY", "dGVzdC1vbmx5LWtleS0zMi1ieXRlcy1sb25nLWtleSE=")
os.environ.setdefault("PERMANENT_STORAGE_PATH", tempfile.mkdtemp(prefix="pxb-test-storage-"))

from privexbot.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
