"""Prometheus metrics: what is measured (definitions), what is read at scrape time (collectors), who may scrape
(access) and the protected exposition (views, `manage.py serve_metrics`).

Every process of a machine (gunicorn workers, Dramatiq workers, commands) writes its figures into one
multiprocess directory, settings.METRICS_DIR (prometheus_client's multiprocess mode, switched on in settings.py
before anything imports prometheus_client); the exposition adds them up. README.md "Metrics" lists every metric.

Layers: this package imports nothing above `privexbot` at module level; kb, tenants and drafts import the
metric objects of `definitions` and observe them where the work happens.
"""
