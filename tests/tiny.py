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


def tiny_model_file(path, seed=0, sets=(), plugin="img2img", mask_bias=None):
    """A tiny untrained img2img model file (TINY's U-Net, weights drawn from `seed` at a scale that
    gives images of visible contrast, std ~0.3 in [-1, 1]), for tests that need real model files
    without training; `plugin` is the name written in its metadata.
    `mask_bias` (temporal models) sets the blending mask's bias, so the previous frame weighs
    sigmoid(mask_bias) in every output pixel instead of the initial 0.12."""
    import torch

    from i2i.config import load_config
    from i2i.engine import checkpoint
    from i2i.engine.build import build_conditioner, build_generator
    from i2i.plugins import get_modality

    modality = get_modality("img2img")
    config = load_config(modality, None, [*TINY, *sets])
    torch.manual_seed(seed)
    conditioner, generator = build_conditioner(modality, config), build_generator(config)
    for module in generator.modules():  # pix2pix's N(0, 0.02) init draws an almost flat gray image
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            torch.nn.init.normal_(module.weight, 0.0, module.weight[0].numel() ** -0.5)
    if mask_bias is not None:
        torch.nn.init.constant_(generator.mask[-1].bias, float(mask_bias))
    modules = {"generator": generator, "conditioner": conditioner}
    checkpoint.save_model(path, config.to_json(), modules, {"plugin": plugin})
    return path
