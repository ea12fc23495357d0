#!/usr/bin/env bash
# Retrains the shipped `colorize` img2img model from the committed `colorize_photos` preset on the
# colour photos of the real-photo corpus, scores it on the held-out photos and redraws the sample
# sheet, as the model card (docs/models/img2img-colorize.md) reports them. Needs the apt packages
# of photo_corpus_apt.txt; one CPU thread.
# Usage: bash plugins/img2img/scripts/train_colorize.sh [STEPS]   (from the repository root)
set -euo pipefail
steps=${1:-2800}
work=${WORK:-runs/colorize}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$work"
python plugins/img2img/scripts/make_photo_corpus.py "$work/corpus" --color-only
i2i-train --plugin img2img --config colorize_photos --data "$work/corpus" --out "$work/run" --set train.steps="$steps"
cp "$work/run/model.safetensors" plugins/img2img/src/i2i_img2img/weights/colorize.safetensors
i2i eval --checkpoint "$work/run" --data "$work/corpus" --split test --set data.resize_mode=short_side \
  --set data.load_size=256 --set data.crop_size=256 --json | tee "$work/eval.json"
tint=$(python -c "import json; print(*json.load(open('$work/eval.json'))['metrics']['mean_ab_tint'])")
python plugins/img2img/scripts/colorize_sheet.py "$work/run" "$work/corpus" docs/models/img2img-colorize-samples.png \
  --size 128 --tint $tint
