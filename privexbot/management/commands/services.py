import time
import uuid
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from privexbot import embedded_servers


class Command(BaseCommand):
    help = "Start, stop or inspect the embedded PostgreSQL and Redis (used when DATABASE_URL/REDIS_URL are unset)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["start", "stop", "status", "ping"])
        parser.add_argument("--timeout", type=float, default=30, help="ping: seconds to wait for a worker")

    def handle(self, *args, action, timeout, **opts):
        var_dir = Path(settings.VAR_DIR)
        if action == "start":
            if settings.DATABASE_EMBEDDED:
                embedded_servers.ensure_postgres(var_dir)
            if settings.REDIS_EMBEDDED:
                embedded_servers.ensure_redis(var_dir)
        elif action == "stop":
            stopped_pg = settings.DATABASE_EMBEDDED and embedded_servers.stop_postgres(var_dir)
            stopped_redis = settings.REDIS_EMBEDDED and embedded_servers.stop_redis(var_dir)
            self.stdout.write(f"postgres: {'stopped' if stopped_pg else 'was not running'}")
            self.stdout.write(f"redis: {'stopped' if stopped_redis else 'was not running'}")
            return
        elif action == "ping":
            return self._ping(timeout)
        self.stdout.write(f"var dir: {var_dir}")
        if settings.DATABASE_EMBEDDED:
            self.stdout.write(
                f"postgres (embedded): {'running' if embedded_servers.postgres_running(var_dir) else 'stopped'}"
            )
        else:
            self.stdout.write("postgres: external (DATABASE_URL)")
        if settings.REDIS_EMBEDDED:
            self.stdout.write(
                f"redis (embedded): {'running' if embedded_servers.redis_running(var_dir) else 'stopped'}"
            )
        else:
            self.stdout.write("redis: external (REDIS_URL)")

    def _ping(self, timeout):
        from privexbot.actors import ping
        from privexbot.redis import get_client

        token = uuid.uuid4().hex
        ping.send(token)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if get_client().get(f"pxb:ping:{token}") == b"pong":
                self.stdout.write(self.style.SUCCESS("a worker executed the ping job"))
                return
            time.sleep(0.2)
        raise CommandError(
            f"no worker executed the ping job within {timeout:.0f}s (is `manage.py rundramatiq` running?)"
        )
