#!/usr/bin/env bash
# The GPU check in one prepared command (one GPU, < 10 min): verl's main_ppo with vLLM runs the zero recipe for 3 steps
# on a tiny local model (tests/test_gpu_main_ppo.py). Needs the GPU install (README "GPU install") in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
exec .venv/bin/python -m pytest -q -m gpu tests/test_gpu_main_ppo.py --timeout 600 -p no:cacheprovider "$@"
