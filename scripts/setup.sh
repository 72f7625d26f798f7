#!/usr/bin/env bash
# Idempotent setup: a virtualenv with every pinned dependency. Re-installs only when requirements change.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi

stamp=".venv/.requirements-$(cat requirements/*.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> installing Python dependencies (first run: a few minutes)"
  .venv/bin/python -m pip install --quiet --upgrade pip wheel
  # torch first and pinned: any other spec can pull a multi-GB CUDA build.
  .venv/bin/python -m pip install --quiet torch==2.13.0
  .venv/bin/python -m pip install --quiet -r requirements/dev.txt -c requirements/constraints.txt
  .venv/bin/python -m pip install --quiet --no-deps -r requirements/nodeps.txt -c requirements/constraints.txt
  rm -f .venv/.requirements-*
  touch "$stamp"
fi

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 SCARF_NO_ANALYTICS=true DO_NOT_TRACK=true
