#!/usr/bin/env bash
# Does the `gpu` extra resolve? Metadata only (pip --dry-run: nothing is installed; pip fetches wheel metadata, and
# wheels where an index has no separate metadata). The static twin, tests/test_launch.py, runs offline in the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
report=$(mktemp)
.venv/bin/python -m pip install --dry-run --ignore-installed --quiet --report "$report" ".[gpu,test,mini]"
.venv/bin/python - "$report" <<'PY'
import json, sys
pkgs = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.load(open(sys.argv[1]))["install"]}
print(f"gpu extra resolves: {len(pkgs)} packages; torch {pkgs['torch']}, vllm {pkgs['vllm']}, "
      f"transformers {pkgs['transformers']}, trl {pkgs.get('trl')}, nvidia-cuda-runtime {pkgs.get('nvidia-cuda-runtime')}")
assert "flash-attn" not in pkgs
PY
