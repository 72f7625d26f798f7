#!/bin/sh
# Starts a Dramatiq worker exactly as production runs it: the compose file, the systemd unit and the
# production-mode test (tests/browser/test_production_walk.py) all run this one script.
#   WORKER_PROCESSES  worker processes (default 2)
#   WORKER_THREADS    threads per process (default 1: parsing and embedding are CPU-bound)
# Liveness: `python manage.py worker_health` exits 0 while a worker on this host sends heartbeats.
set -eu
cd "$(dirname "$0")/.."
exec python manage.py rundramatiq --processes "${WORKER_PROCESSES:-2}" --threads "${WORKER_THREADS:-1}"
