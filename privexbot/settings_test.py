"""Test settings: the real embedded PostgreSQL and Redis, but in their own var dir so a running
development instance (and its workers) never sees test data or test jobs."""

import os
import tempfile
from pathlib import Path

_BASE = Path(__file__).resolve().parent.parent
os.environ.setdefault("PRIVEXBOT_VAR_DIR", str(_BASE / "var" / "test"))
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")
# A fixed test master key (32 random bytes, base64: privexbot/storage/keys.py refuses text). Never used outside
# the test suite.
os.environ.setdefault("ENCRYPTION_KEY", "YpZcTl1G/JqdZEv8fCQ4iWxwfjFvFKl7sOMejkIXytM=")
# Every server the tests crawl lives on 127.0.0.1; the SSRF tests switch this off where they test the refusal.
os.environ.setdefault("CRAWL_ALLOW_PRIVATE", "true")
# The test client speaks plain HTTP to the app itself; pages are rendered without collectstatic's manifest
# (tests/privexbot/test_production.py runs the production storage under gunicorn).
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("STATIC_FILES_PLAIN", "true")
os.environ.setdefault("PERMANENT_STORAGE_PATH", tempfile.mkdtemp(prefix="pxb-test-storage-"))
# Each test session (and the workers it starts, which inherit this) aggregates only its own metrics.
os.environ.setdefault("METRICS_DIR", tempfile.mkdtemp(prefix="pxb-test-metrics-"))
# Email goes to files the tests read (password reset, invitations); each session writes into its own directory.
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")

from privexbot.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_FILE_PATH = os.environ.setdefault("EMAIL_FILE_PATH", tempfile.mkdtemp(prefix="pxb-test-mail-"))

# Test sessions that run side by side (different PRIVEXBOT_DB_NAME) share the test Redis: give each its own
# queue namespace and cache prefix, so one session's workers never take another session's jobs.
# setdefault: worker processes started by the tests inherit the session of the process that started them.
_SESSION = os.environ.setdefault("PRIVEXBOT_TEST_SESSION", os.environ.get("PRIVEXBOT_DB_NAME", "privexbot"))
DRAMATIQ_BROKER["OPTIONS"]["namespace"] = f"dramatiq-{_SESSION}"  # noqa: F405
CACHES["default"]["KEY_PREFIX"] = f"pxb-{_SESSION}"  # noqa: F405

# Each test runs inside one transaction that is rolled back. Audit events written on the separate "audit"
# connection would be committed (leaking into every later test) and could not see the test's uncommitted rows,
# so the suite writes them on the test's own connection; tests/privexbot/test_audit_integrity.py switches back
# to the "audit" alias to prove an event survives the caller's rollback.
AUDIT_DB_ALIAS = "default"
# Transactional tests end with `flush` (TRUNCATE of every table): the append-only audit table refuses that, so
# the flush command sets the purge flag for its own transaction when this is on (privexbot/management/commands/
# flush.py). Never set outside the test settings: in production, `flush` is refused by the audit table.
AUDIT_TEST_FLUSH = True
