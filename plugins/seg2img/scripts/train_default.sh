#!/usr/bin/env bash
# Retrains the shipped default seg2img model from the committed default config on the demo street
# scenes (160 procedural scenes, seed 0), then scores it (proxy-segmenter mIoU, diversity, colours).
# Usage: bash plugins/seg2img/scripts/train_default.sh [STEPS] [extra --set args...]  (from the repo root)
set -euo pipefail
steps=${1:-2500}
shift || true
work=${WORK:-runs/default-seg2img}
mkdir -p "$work"
i2i data demo seg2img --out "$work/scenes" --n 160 --seed 0
sets=(--set train.steps="$steps")
for s in "$@"; do sets+=(--set "$s"); done
i2i-train --plugin seg2img --data "$work/scenes" --out "$work/run" "${sets[@]}"
cp "$work/run/model.safetensors" plugins/seg2img/src/i2i_seg2img/weights/default.safetensors
chmod 644 plugins/seg2img/src/i2i_seg2img/weights/default.safetensors
i2i eval --checkpoint "$work/run" --data "$work/scenes" --split test --json | tee "$work/eval.json"
