"""Periodic jobs run inside worker processes (Dramatiq has no scheduler).

Each worker process runs a small thread; a Redis lock makes sure only one process in the whole
installation runs a given job per period, however many workers there are.
"""

from __future__ import annotations

import logging
import threading

import dramatiq
from django.conf import settings
from django.db import close_old_connections
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class PeriodicJobs(dramatiq.Middleware):
    def __init__(self):
        self._stop = threading.Event()

    def after_worker_boot(self, broker, worker):
        self._stop.clear()
        for path, interval in settings.PERIODIC_JOBS.items():
            thread = threading.Thread(target=self._loop, args=(path, interval), name=f"periodic:{path}", daemon=True)
            thread.start()

    def before_worker_shutdown(self, broker, worker):
        self._stop.set()

    def _loop(self, path: str, interval: float) -> None:
        from privexbot.redis import get_client

        job = import_string(path)
        while not self._stop.wait(interval):
            try:
                if get_client().set(f"pxb:periodic:{path}", "1", nx=True, ex=max(1, int(interval * 0.9))):
                    result = job()
                    if result:
                        logger.info("periodic %s: %s", path, result)
            except Exception:
                logger.exception("periodic job %s failed", path)
            finally:
                close_old_connections()
