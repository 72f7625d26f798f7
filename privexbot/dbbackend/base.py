"""PostgreSQL backend that starts the embedded server (pip-installed, with pgvector) on demand."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db.backends.postgresql import base

_socket_dir: str | None = None


def _ensure_server() -> str:
    global _socket_dir
    from privexbot import embedded_servers

    _socket_dir = embedded_servers.ensure_postgres(Path(settings.VAR_DIR))
    return _socket_dir


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self):
        params = super().get_connection_params()
        params["host"] = _socket_dir or _ensure_server()
        return params

    def get_new_connection(self, conn_params):
        try:
            return super().get_new_connection(conn_params)
        except base.Database.OperationalError:
            # The server was stopped since this process last saw it (e.g. `services stop`): start it again.
            conn_params["host"] = _ensure_server()
            return super().get_new_connection(conn_params)
