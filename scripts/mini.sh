#!/usr/bin/env bash
# The README's main command: set up (idempotent), then run the DeepSeek-R1 pipeline in miniature on this machine's CPU
# (cold-start SFT -> GRPO with r1-recipe's rule rewards -> pass@1/cons@k before and after RL -> report in outputs/mini).
# Extra arguments go to `r1-recipe mini` (see `r1-recipe mini -h`). Usage: bash scripts/mini.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/r1-recipe mini "$@"
