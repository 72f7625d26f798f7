"""/metrics: this machine's figures in the Prometheus text format, for an authorised scraper only.

What one scrape shows: the sum over every process that wrote into settings.METRICS_DIR on this machine (gunicorn
workers, Dramatiq workers, commands; prometheus_client's MultiProcessCollector) plus the scrape-time gauges
(collectors.py). `manage.py serve_metrics` serves the same exposition, with the same check, on a machine that
runs only workers.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from privexbot.metrics import access
from privexbot.metrics.collectors import ScrapeTimeCollector


def exposition() -> bytes:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(settings.METRICS_DIR))
    registry.register(ScrapeTimeCollector())
    return generate_latest(registry)


class Refused(Exception):
    def __init__(self, http_status: int):
        self.http_status = http_status


def check(*, remote_addr: str, authorization: str) -> None:
    """Raises Refused(404) when metrics are not configured (the endpoint does not exist), Refused(403) when the
    scraper is not the configured one."""
    if not access.configured():
        raise Refused(404)
    if not access.allowed(remote_addr=remote_addr, authorization=authorization):
        raise Refused(403)


@never_cache
@require_GET
def metrics(request):
    try:
        check(remote_addr=request.META.get("REMOTE_ADDR", ""), authorization=request.headers.get("Authorization", ""))
    except Refused as refused:
        if refused.http_status == 404:
            raise Http404("not found") from None
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
