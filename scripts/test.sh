#!/usr/bin/env bash
# Set everything up and run the whole test suite: lint, Django checks, migrations check, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

export DJANGO_SETTINGS_MODULE=privexbot.settings_test
PY=.venv/bin/python
echo "==> ruff"
.venv/bin/ruff format --check .
.venv/bin/ruff check .
echo "==> django checks"
$PY manage.py check
$PY manage.py makemigrations --check --dry-run
echo "==> pytest"
$PY -m pytest "$@"
