"""Dramatiq's own Prometheus middleware (messages, errors, retries, dead letters, in progress, durations), writing
into this machine's multiprocess directory (settings.METRICS_DIR) like every other process.

Without its exposition server. Upstream forks an HTTP server per worker group that has no authentication and
binds 0.0.0.0:9191 unless told otherwise; two worker groups on one machine would also fight over the port. Here
the figures go into the shared directory instead: a web machine shows them at /metrics, a machine that runs only
workers serves the same protected exposition with `manage.py serve_metrics`.
"""

from __future__ import annotations

import os

from django.conf import settings
from dramatiq.middleware import prometheus as upstream

from privexbot.metrics import files


class WorkerMetrics(upstream.Prometheus):
    @property
    def forks(self):
        return []

    def after_process_boot(self, broker):
        # Upstream points PROMETHEUS_MULTIPROC_DIR at its DB_PATH (read from dramatiq_prom_db when the module was
        # imported; settings.py sets that too). Pin it to the setting in case something imported it earlier.
        upstream.DB_PATH = str(settings.METRICS_DIR)
        files.prune_dead(settings.METRICS_DIR)  # a machine with only workers has no gunicorn to do it
        super().after_process_boot(broker)

    def after_worker_shutdown(self, broker, worker):
        files.mark_dead(os.getpid(), settings.METRICS_DIR)
