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

# The worker as production starts it (2 processes x 1 thread; encodes take turns on the cores: issue 18).
PATH="$PWD/.venv/bin:$PATH" sh deploy/start-worker.sh &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT INT TERM

echo "==> web app on http://127.0.0.1:8000/  (stop with Ctrl-C; 'manage.py services stop' stops the databases)"
$PY manage.py runserver 127.0.0.1:8000 --noreload
