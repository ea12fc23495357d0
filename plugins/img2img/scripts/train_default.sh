#!/usr/bin/env bash
# Retrains the shipped default img2img model (`sr-x4`, x4 super-resolution) from the committed
# `sr_x4` preset on the real-photo corpus, then scores it on the held-out photos the way the model
# card does. Needs the apt packages of photo_corpus_apt.txt (the corpus script says which is
# missing); one CPU thread, so it can share a machine.
# Usage: bash plugins/img2img/scripts/train_default.sh [STEPS]   (from the repository root)
set -euo pipefail
steps=${1:-3000}
work=${WORK:-runs/default-sr}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$work"
python plugins/img2img/scripts/make_photo_corpus.py "$work/corpus"
python -c "from i2i_img2img.photos import write_package_photos; write_package_photos('$work/photos')"
i2i-train --plugin img2img --config sr_x4 --data "$work/corpus" --out "$work/run" --set train.steps="$steps"
cp "$work/run/model.safetensors" plugins/img2img/src/i2i_img2img/weights/sr_x4.safetensors
# the model card's two tables: the three pip held-out photos, then all eight held-out photos
i2i eval --checkpoint "$work/run" --data "$work/photos" --split test --set data.crop_size=256 --json \
  | tee "$work/eval-pip.json"
i2i eval --checkpoint "$work/run" --data "$work/corpus" --split test --set data.crop_size=256 --json \
  | tee "$work/eval-corpus.json"
