"""/health: is this installation able to do its job? JSON, 200 when everything answers, else 503.

Anyone (a load balancer, a container runtime) learns each component's ok; only staff see the details
(versions, counts, timings, error text), which would tell an attacker what runs here and how it fails."""

from __future__ import annotations

import time

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _timed(check):
    started = time.perf_counter()
    try:
        result = check()
        result.setdefault("ok", True)
    except Exception as exc:  # health reports failures, it never raises them
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    return {"pgvector": row[0] if row else None, "ok": row is not None}


def _redis():
    from privexbot.redis import get_client

    return {"ok": bool(get_client().ping())}


def _workers():
    from privexbot.workers import workers_alive

    alive = workers_alive()
    return {"ok": bool(alive), "count": len(alive)}


@never_cache
@require_GET
def health(request):
    checks = {"database": _timed(_database), "redis": _timed(_redis), "workers": _timed(_workers)}
    healthy = all(c["ok"] for c in checks.values())
    if not (request.user.is_authenticated and request.user.is_staff):
        checks = {name: {"ok": check["ok"]} for name, check in checks.items()}
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503
    )
