#!/usr/bin/env bash
# Retrains the shipped default text2img model: demo birds (512, CUB layout), then the attribute judge's accuracy, 4000 steps by default.
# Usage: bash plugins/text2img/scripts/train_default.sh [STEPS] [extra --set args...]  (from the repo root)
set -euo pipefail
exec bash scripts/train_demo_default.sh text2img 512 "${1:-4000}" "${@:2}"
