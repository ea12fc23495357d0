"""Tiny configs shared by engine and CLI tests (32x32, a few thousand parameters): img2img and
the unpaired plugin's CycleGAN."""

TINY = [
    "train.batch_size=2",
    "train.log_every=1",
    "train.sample_every=3",
    "train.checkpoint_every=3",
    "train.tensorboard=false",
    "data.load_size=36",
    "data.crop_size=32",
    "model.generator.num_downs=5",
    "model.generator.ngf=8",
    "model.discriminator.ndf=8",
    "model.discriminator.n_layers=2",
]

TINY_CYCLE = [  # the unpaired plugin's CycleGAN at 32x32: one residual block, ngf/ndf 8
    "train.batch_size=2",
    "train.log_every=1",
    "train.tensorboard=false",
    "data.load_size=32",
    "data.crop_size=32",
    "model.generator.ngf=8",
    "model.generator.n_blocks=1",
    "model.discriminator.ndf=8",
    "model.discriminator.n_layers=2",
]
