#!/usr/bin/env bash
# Set up (scripts/setup.sh), lint (ruff, pinned in the test extra) and run the CPU test suite. Extra arguments go to
# pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m ruff check r1_recipe tests bench
exec .venv/bin/python -m pytest -q "$@"
