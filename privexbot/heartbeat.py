"""Keeps a row's heartbeat fresh from a background thread while a long step runs without progress writes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import contextmanager

from django.db import close_old_connections

logger = logging.getLogger(__name__)


@contextmanager
def keep_alive(touch: Callable[[], object], *, interval: float, name: str = "heartbeat"):
    stop = threading.Event()

    def run():
        while not stop.wait(interval):
            try:
                touch()
            except Exception:
                logger.warning("%s failed", name, exc_info=True)
            finally:
                close_old_connections()  # this thread's own connection, not the caller's

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
