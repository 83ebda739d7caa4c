#!/usr/bin/env bash
# The GPU check in one prepared command: one GPU, no network, no vLLM, ~6 minutes on an H200 (scripts/gpu_check.py):
#   (a) main_ppo `zero` on the tests' tiny model, generation on the GPU through rollout `hf`, reference reset every 2
#       updates, token-level TIS: step times, KL per step, the r1/ metrics;
#   (b) cold_start_sft on a random Qwen2.5-1.5B-shaped model at the recipe's token budget: step times, peak
#       allocated / reserved memory per step against the memory plan.
# Usage:
#   bash scripts/gpu_check.sh [--wheels DIR] [--site DIR] [--out DIR] [--only ppo|sft] [--cpu]
#   bash scripts/gpu_check.sh --vllm          the vLLM path instead: tests/test_gpu_main_ppo.py (needs vllm, pytest)
# --wheels DIR: install the wheelhouse of scripts/offline_bundle.sh first (pip --no-index --no-deps --target SITE,
#   SITE on PYTHONPATH; default SITE /tmp/r1_gpu_check_site); without it the Python in $PYTHON (default python3, or
#   .venv/bin/python when present) must already have verl, Ray and r1-recipe.
# --cpu: rehearse on a CPU-only host (platform cpu, small sizes, no memory figures).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
WHEELS="" SITE=/tmp/r1_gpu_check_site VLLM=0
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) WHEELS=$2; shift 2 ;;
    --site) SITE=$2; shift 2 ;;
    --vllm) VLLM=1; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ -n "$WHEELS" ]; then
  start=$(date +%s)
  rm -rf "$SITE"
  "$PYTHON" -m pip install -q --no-index --no-deps --target "$SITE" "$WHEELS"/*.whl
  echo "gpu_check: $(ls "$WHEELS"/*.whl | wc -l) wheels installed into $SITE in $(( $(date +%s) - start )) s"
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" PATH="$SITE/bin:$PATH"
fi
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
fi
if [ "$VLLM" = 1 ]; then
  exec "$PYTHON" -m pytest -q -m gpu tests/test_gpu_main_ppo.py --timeout 600 -p no:cacheprovider "${args[@]}"
fi
exec "$PYTHON" scripts/gpu_check.py ${args[@]+"${args[@]}"}
