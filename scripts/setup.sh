#!/usr/bin/env bash
# Set up everything r1-recipe needs on a fresh machine: system packages (bubblewrap for the code sandbox), a
# virtualenv in .venv, CPU torch pinned (a CPU machine must never pull a CUDA build), the package and its test extras.
# Idempotent: a second run only checks. Usage: bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap) >/dev/null 2>&1 \
      || echo "setup: could not install bubblewrap; the code sandbox will report a weaker isolation level" >&2
  else
    echo "setup: bubblewrap (bwrap) not found; install it for full code-sandbox isolation" >&2
  fi
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.r1-recipe-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # torch is pinned in the same pip call: any resolver run that can touch torch must see the pin.
  .venv/bin/python -m pip install -q "torch==2.13.0" -e ".[test,mini]"
  touch "$stamp"
fi
