"""Worker liveness: every Dramatiq worker process keeps a short-lived key in Redis fresh.

/health and the document sweeper read these keys; a worker that dies simply stops refreshing its key
and drops out after WORKER_HEARTBEAT_TTL seconds.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time

import dramatiq
from django.conf import settings

KEY_PREFIX = "pxb:worker:"
logger = logging.getLogger(__name__)


def _key() -> str:
    return f"{KEY_PREFIX}{socket.gethostname()}:{os.getpid()}"


def beat(extra: dict | None = None) -> None:
    from privexbot.redis import get_client

    payload = {"host": socket.gethostname(), "pid": os.getpid(), "at": time.time(), **(extra or {})}
    get_client().set(_key(), json.dumps(payload), ex=settings.WORKER_HEARTBEAT_TTL)


def workers_alive() -> list[dict]:
    from privexbot.redis import get_client

    client = get_client()
    keys = list(client.scan_iter(match=f"{KEY_PREFIX}*", count=500))
    values = client.mget(keys) if keys else []
    return [json.loads(v) for v in values if v]


class WorkerHeartbeat(dramatiq.Middleware):
    def __init__(self):
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker, worker):
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pxb-heartbeat", daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                beat()
            except Exception:  # a Redis blip must not kill the worker; the next beat retries
                logger.warning("worker heartbeat failed", exc_info=True)
            self._stop.wait(settings.WORKER_HEARTBEAT_INTERVAL)

    def before_worker_shutdown(self, broker, worker):
        self._stop.set()
        try:
            from privexbot.redis import get_client

            get_client().delete(_key())
        except Exception:  # shutting down anyway: the key expires by itself
            logger.info("could not remove the heartbeat key", exc_info=True)
