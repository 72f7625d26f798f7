"""Gauges read at scrape time, not kept by any process: Redis memory, queue lengths, storage, host CPU and load,
concurrent users. Each part is read on its own; one that fails (Redis down) is reported by
privexbot_metrics_collector_up{part} = 0 and the rest of the scrape still answers.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from django.conf import settings
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# Walking the storage tree costs a stat per file: do it at most once a minute per process (growth is a
# per-day figure: deriv(privexbot_storage_bytes[1d]) in Prometheus).
STORAGE_SCAN_SECONDS = 60.0
_storage_cache: dict[str, tuple[float, tuple[int, int]]] = {}
_storage_lock = threading.Lock()
_discovered = False


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


# ---------------------------------------------------------------- redis
def redis_memory() -> Iterable[Metric]:
    from privexbot.redis import get_client

    info = get_client().info("memory")
    yield _gauge("privexbot_redis_memory_used_bytes", "Memory Redis uses (INFO memory used_memory).",
                 info["used_memory"])  # fmt: skip
    yield _gauge("privexbot_redis_memory_max_bytes", "Redis maxmemory (0: no limit).", info.get("maxmemory", 0))


# ---------------------------------------------------------------- queues
def _queue_names(broker) -> list[str]:
    """The canonical queues of every actor. The web process imports actor modules only when it first enqueues,
    so they are discovered once here, as `rundramatiq` does (DRAMATIQ_AUTODISCOVER_MODULES)."""
    global _discovered
    if not _discovered:
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules(*settings.DRAMATIQ_AUTODISCOVER_MODULES)
        _discovered = True
    names = set(broker.get_declared_queues()) | {actor.queue_name for actor in broker.actors.values()}
    return sorted(n for n in names if not n.endswith((".DQ", ".XQ")))


def queue_lengths() -> Iterable[Metric]:
    """Messages waiting per queue, from the Redis broker's keys (dramatiq/brokers/redis/dispatch.lua):
    `<ns>:<queue>` is the list of ready message ids, `<ns>:<queue>.DQ` the delayed queue's list (messages
    waiting for their eta or a retry backoff), `<ns>:<queue>.XQ` the dead-letter sorted set."""
    import dramatiq

    from privexbot.redis import get_client

    broker = dramatiq.get_broker()
    namespace = settings.DRAMATIQ_BROKER["OPTIONS"].get("namespace", "dramatiq")
    queues = _queue_names(broker)
    pipe = get_client().pipeline(transaction=False)
    for queue in queues:
        pipe.llen(f"{namespace}:{queue}")
        pipe.llen(f"{namespace}:{queue}.DQ")
        pipe.zcard(f"{namespace}:{queue}.XQ")
    counts = pipe.execute()
    family = GaugeMetricFamily(
        "privexbot_queue_messages",
        "Messages in a Dramatiq queue: kind ready (waiting for a worker), delayed (<queue>.DQ: eta or retry "
        "backoff) or dead_letter (<queue>.XQ).",
        labels=["queue", "kind"],
    )
    for i, queue in enumerate(queues):
        ready, delayed, dead = counts[3 * i : 3 * i + 3]
        family.add_metric([queue, "ready"], ready)
        family.add_metric([queue, "delayed"], delayed)
        family.add_metric([queue, "dead_letter"], dead)
    yield family


# ---------------------------------------------------------------- storage
def _walk(root: Path) -> tuple[int, int]:
    files = size = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            try:
                size += os.stat(os.path.join(dirpath, name), follow_symlinks=False).st_size
                files += 1
            except FileNotFoundError:  # deleted while we walked
                continue
    return files, size


def _storage_usage() -> tuple[int, int]:
    """(files, bytes) of the permanent storage: the storage's own figure when it has one (it knows what it
    stores, e.g. an object store), else a walk of STORAGE_DIR."""
    root = str(settings.STORAGE_DIR)
    with _storage_lock:
        cached = _storage_cache.get(root)
        if cached and time.monotonic() - cached[0] < STORAGE_SCAN_SECONDS:
            return cached[1]
        from privexbot.storage import get_storage

        storage = get_storage()
        usage = tuple(storage.usage()) if hasattr(storage, "usage") else _walk(Path(root))
        _storage_cache[root] = (time.monotonic(), usage)
        return usage


def storage() -> Iterable[Metric]:
    files, size = _storage_usage()
    yield _gauge("privexbot_storage_files", "Files in the permanent storage (uploads, parsed elements).", files)
    yield _gauge("privexbot_storage_bytes", "Bytes in the permanent storage; growth: deriv() of this.", size)
    if not Path(settings.STORAGE_DIR).is_dir():  # blobs in the database (STORAGE_BACKEND=database): no filesystem
        return
    disk = shutil.disk_usage(settings.STORAGE_DIR)
    family = GaugeMetricFamily(
        "privexbot_storage_filesystem_bytes", "The filesystem holding the storage: total and free bytes.",
        labels=["kind"],
    )  # fmt: skip
    family.add_metric(["total"], disk.total)
    family.add_metric(["free"], disk.free)
    yield family


# ---------------------------------------------------------------- host
_CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def host() -> Iterable[Metric]:
    """CPU time of the whole machine by mode (/proc/stat, in clock ticks) and the load averages."""
    with open("/proc/stat", encoding="ascii") as fh:
        fields = fh.readline().split()
    if fields[0] != "cpu":
        raise ValueError("unexpected /proc/stat")
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = CounterMetricFamily(
        "privexbot_host_cpu_seconds", "CPU seconds the machine spent, by mode (all CPUs together).", labels=["mode"]
    )
    for mode, value in zip(_CPU_MODES, fields[1:], strict=False):
        cpu.add_metric([mode], int(value) / ticks)
    yield cpu
    yield _gauge("privexbot_host_cpus", "CPUs of the machine (to turn CPU seconds into utilisation).",
                 os.cpu_count() or 1)  # fmt: skip
    load = GaugeMetricFamily("privexbot_host_load", "Load average of the machine.", labels=["period"])
    for period, value in zip(("1m", "5m", "15m"), os.getloadavg(), strict=True):
        load.add_metric([period], value)
    yield load


# ---------------------------------------------------------------- users
def users() -> Iterable[Metric]:
    from privexbot.metrics import active_users

    yield _gauge(
        "privexbot_concurrent_users",
        f"Distinct authenticated users seen in the last METRICS_ACTIVE_USERS_WINDOW seconds "
        f"({settings.METRICS_ACTIVE_USERS_WINDOW}), installation-wide.",
        active_users.count(),
    )


PARTS: dict[str, Callable[[], Iterable[Metric]]] = {
    "redis": redis_memory,
    "queues": queue_lengths,
    "storage": storage,
    "host": host,
    "users": users,
}


class ScrapeTimeCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "privexbot_metrics_collector_up", "1 when a scrape-time part could be read, else 0.", labels=["part"]
        )
        for name, part in PARTS.items():
            try:
                metrics = list(part())
            except Exception:  # one failing source must not take the whole scrape down
                log.warning("metrics part %s failed", name, exc_info=True)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from metrics
        yield up
