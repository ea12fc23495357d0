#!/usr/bin/env bash
# Retrains the shipped default text2img model from the committed default config on the demo birds
# (512 procedurally drawn birds, CUB layout), then scores it with the attribute judge.
# Usage: bash plugins/text2img/scripts/train_default.sh [STEPS] [extra --set args...]  (from the repo root)
set -euo pipefail
steps=${1:-4000}
shift || true
work=${WORK:-runs/default-text2img}
mkdir -p "$work"
i2i data demo text2img --out "$work/birds" --n 512 --seed 0
sets=(--set train.steps="$steps")
for s in "$@"; do sets+=(--set "$s"); done
i2i-train --plugin text2img --data "$work/birds" --out "$work/run" "${sets[@]}"
cp "$work/run/model.safetensors" plugins/text2img/src/i2i_text2img/weights/default.safetensors
i2i eval --checkpoint "$work/run" --data "$work/birds" --split test --json | tee "$work/eval.json"
