#!/usr/bin/env bash
# Retrains the shipped default text2img model: 4096 demo birds (CUB layout), DF-GAN at ngf/ndf 32
# without the L1 prior, 16000 steps (about 80 minutes on a 2-core AMX CPU in bf16), then the
# attribute judge's accuracy on the held-out birds. The settings beyond default.yaml are the --set
# list below; the model card (docs/models/text2img-birds.md) reports this run.
# Usage: bash plugins/text2img/scripts/train_default.sh [STEPS] [extra --set args...]  (from the repo root)
set -euo pipefail
exec bash scripts/train_demo_default.sh text2img 4096 "${1:-16000}" \
    model.generator.ngf=32 model.discriminator.ndf=32 loss.generator.l1=0 \
    train.checkpoint_every=1000 train.sample_every=1000 train.model_fp16=true "${@:2}"
