"""gunicorn configuration (loaded with -c python:privexbot.gunicorn_conf by deploy/start-web.sh).

Only hooks live here: bind, workers and timeout are given on the command line. The hooks keep the Prometheus
multiprocess directory (settings.METRICS_DIR, shared with any Dramatiq workers of the machine) right:
on start the files of dead processes go, and a worker that exits has its live gauges dropped at once.
"""

from __future__ import annotations


def _metrics_dir():
    """The master never loads the Django app (no --preload), only the settings module, which is cheap."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        return settings.METRICS_DIR
    except ImproperlyConfigured:  # DJANGO_SETTINGS_MODULE unset: the workers get wsgi.py's default, so do we
        import importlib

        return importlib.import_module("privexbot.settings").METRICS_DIR


def on_starting(server):
    from privexbot.metrics.files import prune_dead

    removed = prune_dead(_metrics_dir())
    if removed:
        server.log.info("metrics: removed %d files of processes that no longer run", len(removed))


def child_exit(server, worker):
    from privexbot.metrics.files import mark_dead

    mark_dead(worker.pid, _metrics_dir())
