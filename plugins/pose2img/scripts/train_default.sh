#!/usr/bin/env bash
# Retrains the shipped default pose2img model from the committed default config on the demo people
# (100 procedural identities x 6 poses, seed 0), then scores it on the held-out identities.
# Usage: bash plugins/pose2img/scripts/train_default.sh [STEPS] [extra --set args...]  (from the repo root)
set -euo pipefail
steps=${1:-5000}
shift || true
work=${WORK:-runs/default-pose2img}
mkdir -p "$work"
i2i data demo pose2img --out "$work/people" --n 100 --seed 0
sets=(--set train.steps="$steps" --set train.model_fp16=true)
for s in "$@"; do sets+=(--set "$s"); done
i2i-train --plugin pose2img --data "$work/people" --out "$work/run" "${sets[@]}"
cp "$work/run/model.safetensors" plugins/pose2img/src/i2i_pose2img/weights/default.safetensors
chmod 644 plugins/pose2img/src/i2i_pose2img/weights/default.safetensors
i2i eval --checkpoint "$work/run" --data "$work/people" --split test --json | tee "$work/eval.json"
