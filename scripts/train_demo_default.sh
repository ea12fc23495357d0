#!/usr/bin/env bash
# Retrains a plugin's shipped default model on its demo data (seed 0) from the plugin's committed
# default config, copies the weights into the plugin, and scores the run on the held-out split.
# Usage: bash scripts/train_demo_default.sh PLUGIN DEMO_N STEPS [extra --set args...]  (from the repo root)
# Each plugin's scripts/train_default.sh calls this with the numbers its model card reports.
set -euo pipefail
plugin=$1 n=$2 steps=$3
shift 3
work=${WORK:-runs/default-$plugin}
weights=plugins/$plugin/src/i2i_$plugin/weights/default.safetensors
mkdir -p "$work" "$(dirname "$weights")"
i2i data demo "$plugin" --out "$work/data" --n "$n" --seed 0
sets=(--set train.steps="$steps")
for s in "$@"; do sets+=(--set "$s"); done
i2i-train --plugin "$plugin" --data "$work/data" --out "$work/run" "${sets[@]}"
cp "$work/run/model.safetensors" "$weights"
chmod 644 "$weights"
i2i eval --checkpoint "$work/run" --data "$work/data" --split test --json | tee "$work/eval.json"
