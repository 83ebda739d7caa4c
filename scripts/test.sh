#!/usr/bin/env bash
# Set up (scripts/setup.sh: the built wheel, installed non-editable), lint (ruff, pinned in the test extra) and run
# the CPU test suite from an empty directory outside the clone, so that every import (and every `python -m` a test
# starts) reads the installed package, never the source tree. Extra arguments go to pytest; paths are relative to the
# clone (`bash scripts/test.sh tests/test_format.py -k box`). `bash scripts/test.sh -m "not slow"` is the fast lane.
# The whole suite (no path given) runs on R1_RECIPE_TEST_WORKERS pytest-xdist workers (default 2: one per core of
# the CI machine), a test file per worker (`--dist loadfile`: a file's shared end-to-end run is made once); `-n 0`
# runs it in one process.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/setup.sh
.venv/bin/python -m ruff check r1_recipe tests bench
args=() paths=0 workers=0
for a in "$@"; do
  if [[ "$a" != -* && -e "$root/${a%%::*}" ]]; then args+=("$root/$a"); paths=1; else args+=("$a"); fi
  if [[ "$a" == -n* || "$a" == --numprocesses* ]]; then workers=1; fi
done
if [ $paths = 0 ]; then
  args+=("$root/tests")   # pytest reads testpaths only when started in the rootdir
  if [ $workers = 0 ]; then args+=(-n "${R1_RECIPE_TEST_WORKERS:-2}" --dist loadfile); fi
fi
away=$(mktemp -d)
trap 'rm -rf "$away"' EXIT
cd "$away"
R1_RECIPE_TEST_INSTALLED=1 "$root/.venv/bin/python" -m pytest -q -c "$root/pyproject.toml" --rootdir "$root" "${args[@]}"
