#!/bin/sh
# Starts the web process exactly as production runs it. The Dockerfile (CMD), deploy/docker-compose.yml, the
# systemd unit and the production-mode test (tests/browser/test_production_walk.py) all run this one script,
# so what the test proves is what a deployment runs. Configuration comes from the environment
# (deploy/.env.example); the few variables below only shape the start itself.
#   BIND              address:port gunicorn listens on (default 0.0.0.0:8000)
#   WEB_CONCURRENCY   gunicorn worker processes (default 3)
#   RUN_MIGRATIONS    false on all but one web instance when several start at once (default true)
set -eu
cd "$(dirname "$0")/.."

if [ "${RUN_MIGRATIONS:-true}" = "true" ]; then
  python manage.py migrate --noinput
fi

# Static files: an image collects them at build into a read-only STATIC_ROOT (deploy/Dockerfile), which is final.
# A writable STATIC_ROOT (systemd, the test) is collected on every start: the code may have changed since.
if [ -n "${STATIC_ROOT:-}" ] && [ -f "$STATIC_ROOT/staticfiles.json" ] && [ ! -w "$STATIC_ROOT" ]; then
  echo "start-web: static files already collected in $STATIC_ROOT"
else
  python manage.py collectstatic --noinput --verbosity 0
fi

exec python -m gunicorn privexbot.wsgi:application -c python:privexbot.gunicorn_conf \
  --bind "${BIND:-0.0.0.0:8000}" --workers "${WEB_CONCURRENCY:-3}" --timeout 120
