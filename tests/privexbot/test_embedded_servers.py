"""The embedded services are a default only: with DATABASE_URL / REDIS_URL set, nothing embedded starts."""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def test_external_urls_are_used_and_nothing_embedded_starts(db, tmp_path):
    # Point the URLs at the running test servers, as an operator would point them at their own.
    from privexbot.redis import get_client

    assert get_client().ping()  # the test servers are up (embedded), so the URLs below point at live servers
    socket_dir = connection.get_connection_params()["host"]
    db_name = connection.settings_dict["NAME"]
    database_url = f"postgresql://postgres:@/{db_name}?host={socket_dir}"
    redis_url = settings.REDIS_URL.replace("db=0", "db=3")
    fresh_var = tmp_path / "var"
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "PRIVEXBOT_VAR_DIR": str(fresh_var)}
    env["DJANGO_SETTINGS_MODULE"] = "privexbot.settings_test"
    code = (
        "import django; django.setup()\n"
        "from django.conf import settings; from django.db import connection\n"
        "from privexbot.redis import get_client\n"
        "assert not settings.DATABASE_EMBEDDED and not settings.REDIS_EMBEDDED\n"
        "cur = connection.cursor(); cur.execute('select current_database()'); print('db', cur.fetchone()[0])\n"
        "get_client().set('pxb:external-check', '1'); print('redis', get_client().ping())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert f"db {db_name}" in result.stdout
    assert "redis True" in result.stdout
    assert not (fresh_var / "pgdata").exists()
    assert not (fresh_var / "redis").exists()


def test_embedded_services_report_running(db):
    from privexbot import embedded_servers

    var_dir = Path(settings.VAR_DIR)
    assert embedded_servers.postgres_running(var_dir)
    from privexbot.redis import get_client

    assert get_client().ping()
    assert embedded_servers.redis_running(var_dir)


def test_services_start_survive_between_commands_and_stop(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update({"DJANGO_SETTINGS_MODULE": "privexbot.settings_test", "PRIVEXBOT_VAR_DIR": str(tmp_path / "var")})

    def manage(*args):
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    manage("services", "start")
    status = manage("services", "status")  # a second process finds the servers the first one started
    assert "postgres (embedded): running" in status and "redis (embedded): running" in status
    stopped = manage("services", "stop")
    assert "postgres: stopped" in stopped and "redis: stopped" in stopped
    status = manage("services", "status")
    assert "postgres (embedded): stopped" in status and "redis (embedded): stopped" in status
