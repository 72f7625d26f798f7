"""`manage.py serve_metrics`: the /metrics exposition on its own small HTTP server, for a machine that runs only
Dramatiq workers (a web machine serves /metrics from gunicorn).

Chosen over Dramatiq's own exposition server, which has no authentication and binds 0.0.0.0 by default: this
one serves the same figures (the machine's multiprocess directory plus the scrape-time gauges) behind the same
token/allowlist check as the web endpoint, on METRICS_BIND (default 127.0.0.1:9191).
"""

from __future__ import annotations

import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def parse_bind(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise CommandError(f"bind must be host:port, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104  (an explicit ":port" asks for every interface)


class MetricsHandler(BaseHTTPRequestHandler):
    server_version = "privexbot-metrics"

    def do_GET(self):  # noqa: N802  (http.server's naming)
        from prometheus_client import CONTENT_TYPE_LATEST

        from privexbot.metrics.views import Refused, check, exposition

        if self.path.split("?", 1)[0] not in ("/metrics", "/"):
            return self._answer(404, b"Not Found\n", "text/plain")
        try:
            check(remote_addr=self.client_address[0], authorization=self.headers.get("Authorization", ""))
        except Refused as refused:
            return self._answer(refused.http_status, b"Forbidden\n" if refused.http_status == 403 else b"Not Found\n",
                                "text/plain")  # fmt: skip
        try:
            body = exposition()
        finally:
            from django.db import connections

            # The storage figure may read the database (STORAGE_BACKEND=database); each request has its own thread.
            connections.close_all()
        return self._answer(200, body, CONTENT_TYPE_LATEST)

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002  (every scrape would otherwise print a line)
        pass


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class Command(BaseCommand):
    help = "Serve this machine's Prometheus metrics (token/allowlist protected) for a workers-only machine."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=None, help="host:port (default: METRICS_BIND)")

    def handle(self, *args, bind, **opts):
        from privexbot.metrics import access

        if not access.configured():
            raise CommandError("set METRICS_TOKEN and/or METRICS_ALLOWED_IPS first: metrics are never public")
        host, port = parse_bind(bind or settings.METRICS_BIND)
        server = (_IPv6Server if ":" in host else ThreadingHTTPServer)((host, port), MetricsHandler)
        server.daemon_threads = True
        self.stdout.write(f"serving metrics on http://{host}:{server.server_address[1]}/metrics")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
