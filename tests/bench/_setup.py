"""Shared set-up for benchmarks: Django on the embedded servers, in a database of their own."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"


def django_setup(db_name: str = "privexbot_bench") -> None:
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "privexbot.settings_test")
    os.environ["PRIVEXBOT_DB_NAME"] = db_name
    # Benchmarks measure the search itself, not a Redis lookup of its last answer (kb.search.cache): the result
    # cache is off unless a benchmark turns it on (bench_search_cache.py); servers they start inherit this.
    os.environ.setdefault("SEARCH_RESULT_CACHE_SECONDS", "0")
    import django
    from django.conf import settings

    from privexbot import embedded_servers

    if settings.DATABASE_EMBEDDED:
        import psycopg

        socket_dir = embedded_servers.ensure_postgres(Path(settings.VAR_DIR))
        with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db_name]).fetchone():
                conn.execute(f'CREATE DATABASE "{db_name}"')
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def bench_user_and_workspace():
    from django.contrib.auth import get_user_model

    from tenants.services import bootstrap

    user, workspace, _ = bootstrap(
        org_name="Bench", workspace_name="Bench", username="bench", email="bench@example.com", password="bench-pw"
    )
    return get_user_model().objects.get(pk=user.pk), workspace


def machine() -> str:
    import platform

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"
