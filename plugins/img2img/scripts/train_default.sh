#!/usr/bin/env bash
# Retrains the shipped default img2img model (x4 super-resolution) from the committed `sr` preset on
# real photos that ship in scikit-image and scikit-learn, then scores it on held-out photos.
# Usage: bash plugins/img2img/scripts/train_default.sh [STEPS]   (from the repository root)
set -euo pipefail
steps=${1:-3000}
work=${WORK:-runs/default-sr}
mkdir -p "$work"
python -c "from i2i_img2img.photos import write_package_photos; write_package_photos('$work/photos')"
i2i-train --plugin img2img --config sr --data "$work/photos" --out "$work/run" --set train.steps="$steps"
cp "$work/run/model.safetensors" plugins/img2img/src/i2i_img2img/weights/sr_x4.safetensors
i2i eval --checkpoint "$work/run" --data "$work/photos" --split test --set data.crop_size=256 --json \
  | tee "$work/eval.json"
