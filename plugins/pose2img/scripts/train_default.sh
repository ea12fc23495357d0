#!/usr/bin/env bash
# Retrains the shipped default pose2img model: demo people (100 identities x 6 poses, 12 held out), then SSIM/PSNR/L1, colour, keypoints, 5000 steps by default.
# Usage: bash plugins/pose2img/scripts/train_default.sh [STEPS] [extra --set args...]  (from the repo root)
set -euo pipefail
exec bash scripts/train_demo_default.sh pose2img 100 "${1:-5000}" "${@:2}"
