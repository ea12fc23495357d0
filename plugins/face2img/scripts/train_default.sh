#!/usr/bin/env bash
# Retrains the shipped default face2img model: demo talking faces (48 clips of 16 frames, 7 held out), then reenactment, identity, expression on a real portrait too, 3000 steps by default.
# Usage: bash plugins/face2img/scripts/train_default.sh [STEPS] [extra --set args...]  (from the repo root)
set -euo pipefail
exec bash scripts/train_demo_default.sh face2img 48 "${1:-3000}" "${@:2}"
