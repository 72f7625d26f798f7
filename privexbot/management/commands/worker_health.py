"""Worker liveness for a container or service manager: exit 0 while a worker process on this host keeps its
heartbeat (privexbot/workers.py) fresh, else exit 1. It asks no worker to do anything: a busy worker whose
every thread runs a long parse is alive, and says so through its heartbeat thread."""

from __future__ import annotations

import socket
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Exit 0 when a Dramatiq worker on this host sent a heartbeat within WORKER_HEARTBEAT_TTL seconds."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=None, help="host name to look for (default: this machine's)")

    def handle(self, *args, host, **opts):
        from privexbot.workers import workers_alive

        host = host or socket.gethostname()
        try:
            beats = [w for w in workers_alive() if w.get("host") == host]
        except Exception as exc:  # Redis down: the worker cannot work either
            raise CommandError(f"cannot read worker heartbeats: {type(exc).__name__}: {exc}") from exc
        # The key expires after the TTL already; the timestamp check also covers a clock-skewed or stuck writer.
        fresh = [w for w in beats if time.time() - float(w.get("at", 0)) <= settings.WORKER_HEARTBEAT_TTL]
        if not fresh:
            raise CommandError(f"no worker heartbeat from {host} in the last {settings.WORKER_HEARTBEAT_TTL}s")
        self.stdout.write(f"{len(fresh)} worker process(es) alive on {host}")
