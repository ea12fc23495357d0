#!/usr/bin/env bash
# Retrains the shipped default seg2img model: demo street scenes (160, 20 held out), then proxy-segmenter mIoU, diversity, colours, 2500 steps by default.
# Usage: bash plugins/seg2img/scripts/train_default.sh [STEPS] [extra --set args...]  (from the repo root)
set -euo pipefail
exec bash scripts/train_demo_default.sh seg2img 160 "${1:-2500}" "${@:2}"
