#!/bin/sh
# Starts a Dramatiq worker exactly as production runs it: the compose file, the systemd unit, the quick start
# (scripts/run.sh) and the production-mode test (tests/browser/test_production_walk.py) all run this one script.
#   WORKER_PROCESSES  worker processes (default 2)
#   WORKER_THREADS    threads per process (default 1: parsing and embedding are CPU-bound). Two processes of one
#                     thread: a long document never holds up the queue, and one document's database, parse and
#                     store work runs while the other's chunks are encoded. The encodes themselves take turns on
#                     the machine's cores (EMBEDDING_THREADS, kb/pipeline/embedding/turns.py), so more processes
#                     or threads add no CPU contention to the embedding.
#   WORKER_METRICS_BIND  host:port of this machine's /metrics (manage.py serve_metrics: the same figures and the
#                     same METRICS_TOKEN check as the web's /metrics) — for a machine or container that runs no
#                     web process. Unset: no metrics server here (a web process on the same machine serves them).
# Liveness: `python manage.py worker_health` exits 0 while a worker on this host sends heartbeats.
set -eu
cd "$(dirname "$0")/.."
if [ -n "${WORKER_METRICS_BIND:-}" ]; then
  # In the background of the worker, in its process group: stopping the worker (container, unit) stops it too.
  python manage.py serve_metrics --bind "$WORKER_METRICS_BIND" &
fi
exec python manage.py rundramatiq --processes "${WORKER_PROCESSES:-2}" --threads "${WORKER_THREADS:-1}"
