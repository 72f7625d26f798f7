#!/usr/bin/env bash
# Quick start: set everything up, then run the web app on http://127.0.0.1:8000 and one worker,
# on the embedded PostgreSQL + Redis under var/ unless DATABASE_URL / REDIS_URL are set.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

export DEBUG=${DEBUG:-true}
PY=.venv/bin/python
$PY manage.py migrate --noinput
$PY manage.py bootstrap --password-file var/secrets/admin_password
$PY manage.py setup_models

$PY manage.py rundramatiq --processes "${WORKER_PROCESSES:-1}" --threads "${WORKER_THREADS:-2}" &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT INT TERM

echo "==> web app on http://127.0.0.1:8000/  (stop with Ctrl-C; 'manage.py services stop' stops the databases)"
$PY manage.py runserver 127.0.0.1:8000 --noreload
