#!/usr/bin/env bash
# Set everything up and run the whole test suite: lint, Django checks, migrations check, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

# Browser tests drive Debian's Chromium (Playwright cannot download browsers on these machines).
if [ ! -x /usr/bin/chromium ]; then
  echo "==> installing Chromium for the browser tests"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium
fi

export DJANGO_SETTINGS_MODULE=privexbot.settings_test
PY=.venv/bin/python
echo "==> ruff"
.venv/bin/ruff format --check .
.venv/bin/ruff check .
echo "==> import-linter (layer contracts)"
.venv/bin/lint-imports --no-cache
echo "==> django checks"
$PY manage.py check
$PY manage.py makemigrations --check --dry-run
echo "==> pytest"
$PY -m pytest "$@"
