#!/usr/bin/env bash
# Set up everything r1-recipe needs on a fresh machine: system packages (bubblewrap for the code sandbox), a
# virtualenv in .venv, CPU torch pinned (a CPU machine must never pull a CUDA build), the dependencies with the test
# and mini extras, then r1-recipe itself as a user gets it: the wheel built from this tree, installed NON-editable.
# Nothing imports the source tree: the tests and the main job run the artefact, so a module or data file the wheel
# forgets fails them. The wheel is rebuilt and reinstalled on every run (a few seconds); the dependencies only when
# pyproject.toml changed. Usage: bash scripts/setup.sh
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
stamp=.venv/.r1-recipe-deps
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip "setuptools>=77"
fi
# The wheel, from a clean build directory (setuptools' build/ would carry deleted modules into it).
rm -rf build .venv/dist ./*.egg-info
.venv/bin/python -m pip wheel -q --no-deps --no-build-isolation -w .venv/dist . >/dev/null
wheel=$(ls .venv/dist/r1_recipe-*.whl)
rm -rf build ./*.egg-info
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  # torch is pinned in the same pip call: any resolver run that can touch torch must see the pin.
  .venv/bin/python -m pip install -q "torch==2.13.0" "${wheel}[test,mini]"
  touch "$stamp"
fi
.venv/bin/python -m pip install -q --no-deps --force-reinstall "$wheel"
