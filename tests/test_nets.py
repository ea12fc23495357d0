"""The shared networks: pix2pix shapes, options, and the memory format / precision the engine uses."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from i2i.interfaces import Condition, DOutput, Generator
from i2i.nets import wrappers
from i2i.nets.norm import has_spectral_norm, maybe_spectral, norm_layer
from i2i.nets.patchgan import MultiScalePatchGAN, PatchGAN
from i2i.nets.resnet import ResnetGenerator
from i2i.nets.unet import UNet


def _maps(b: int, c: int, size: int) -> Condition:
    return Condition(maps=torch.randn(b, c, size, size))


@pytest.mark.parametrize("num_downs,size", [(7, 128), (8, 256)])
def test_unet_keeps_size(num_downs: int, size: int) -> None:
    gen = wrappers.unet_generator(in_channels=3, out_channels=2, num_downs=num_downs, ngf=8)
    assert isinstance(gen, Generator) and gen.noise_dim == 0
    with torch.no_grad():
        out = gen(_maps(2, 3, size))
    assert out.shape == (2, 2, size, size)
    assert out.abs().max() <= 1


def test_unet_dropout_only_in_wide_middle_levels() -> None:
    net = UNet(3, 3, num_downs=8, ngf=8, dropout=True)
    with_dropout = [i for i, up in enumerate(net.decoder) if isinstance(up.dropout, nn.Dropout)]
    assert with_dropout == [4, 5, 6]  # num_downs - 5 levels, never the innermost (7)
    assert not any(isinstance(m, nn.Dropout) for m in UNet(3, 3, num_downs=8, ngf=8, dropout=False).modules())


def test_unet_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="divisible by 128"):
        UNet(3, 3, num_downs=7, ngf=4)(torch.randn(1, 3, 96, 96))
    with pytest.raises(ValueError, match="num_downs"):
        UNet(3, 3, num_downs=4)


@pytest.mark.parametrize("n_blocks", [6, 9])
def test_resnet_keeps_size(n_blocks: int) -> None:
    gen = wrappers.resnet_generator(in_channels=1, out_channels=3, n_blocks=n_blocks, ngf=8)
    assert len(gen.net.blocks) == n_blocks
    with torch.no_grad():
        assert gen(_maps(1, 1, 64)).shape == (1, 3, 64, 64)


@pytest.mark.parametrize("upscale,downsample", [(2, 2), (4, 0)])
def test_resnet_super_resolution(upscale: int, downsample: int) -> None:
    gen = wrappers.resnet_generator(
        in_channels=3, out_channels=3, n_blocks=2, ngf=8, upscale=upscale, downsample=downsample
    )
    assert sum(isinstance(m, nn.PixelShuffle) for m in gen.modules()) == upscale.bit_length() - 1
    with torch.no_grad():
        assert gen(_maps(1, 3, 24)).shape == (1, 3, 24 * upscale, 24 * upscale)


def test_resnet_options_are_checked() -> None:
    with pytest.raises(ValueError, match="upscale"):
        ResnetGenerator(3, 3, upscale=3)
    with pytest.raises(ValueError, match="norm"):
        ResnetGenerator(3, 3, norm="group")
    blocks = ResnetGenerator(3, 3, n_blocks=2, ngf=4, dropout=True).blocks
    assert all(isinstance(b.dropout, nn.Dropout) for b in blocks)


def test_patchgan_is_70x70() -> None:
    disc = PatchGAN(6, ndf=8, n_layers=3)
    with torch.no_grad():
        logits, features = disc(torch.randn(1, 6, 256, 256))
    assert logits.shape == (1, 1, 30, 30)
    assert [f.shape[1] for f in features] == [8, 16, 32, 64]
    # Receptive field: one logit depends on exactly a 70x70 input window.
    x = torch.zeros(1, 6, 256, 256, requires_grad=True)
    disc.eval()
    disc(x)[0][0, 0, 10, 10].backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero()
    assert rows.max() - rows.min() + 1 == 70


def test_multiscale_patchgan_returns_every_scale() -> None:
    disc = wrappers.patchgan(image_channels=3, cond_channels=2, ndf=8, num_scales=3)
    image = torch.randn(2, 3, 128, 128)
    cond = Condition(maps=torch.randn(2, 2, 32, 32))  # smaller: resized to the image
    with torch.no_grad():
        outs = disc(image, cond)
    assert len(outs) == 3 and all(isinstance(o, DOutput) for o in outs)
    assert [tuple(o.logits.shape) for o in outs] == [(2, 1, 14, 14), (2, 1, 6, 6), (2, 1, 2, 2)]
    assert all(len(o.features) == 4 for o in outs)
    assert isinstance(disc.net, MultiScalePatchGAN)


def test_discriminator_puts_condition_first() -> None:
    disc = wrappers.patchgan(image_channels=1, cond_channels=1, ndf=4, n_layers=1, norm="none")
    first = disc.net.scales[0].layers[0].conv
    with torch.no_grad():
        first.weight.zero_()
        first.bias.zero_()
        first.weight[:, 0] = 1.0  # only the first input channel counts
    cond, image = torch.ones(1, 1, 16, 16), torch.zeros(1, 1, 16, 16)
    with torch.no_grad():
        feature = disc(image, Condition(maps=cond))[0].features[0]
    assert feature.abs().sum() > 0


def test_spectral_option() -> None:
    assert not has_spectral_norm(wrappers.patchgan(ndf=4))
    disc = wrappers.patchgan(ndf=4, norm="none", spectral=True, num_scales=2)
    convs = [m for m in disc.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(hasattr(c, "parametrizations") for c in convs)
    assert has_spectral_norm(disc)
    layer = maybe_spectral(nn.ConvTranspose2d(4, 2, 3), True)
    assert has_spectral_norm(maybe_spectral(layer, True))  # idempotent
    assert len(layer.parametrizations.weight) == 1


def test_norm_choices() -> None:
    bn = norm_layer("batch", 4)
    assert isinstance(bn, nn.BatchNorm2d) and bn.affine and bn.track_running_stats
    inorm = norm_layer("instance", 4)
    assert isinstance(inorm, nn.InstanceNorm2d) and not inorm.affine and not inorm.track_running_stats
    assert isinstance(norm_layer("none", 4), nn.Identity)
    with pytest.raises(ValueError):
        norm_layer("layer", 4)
    # Biases only where the norm has no shift of its own, as pix2pix does.
    assert UNet(3, 3, num_downs=5, ngf=4, norm="instance").encoder[1].conv.bias is not None
    assert UNet(3, 3, num_downs=5, ngf=4, norm="batch").encoder[1].conv.bias is None


def _builders():
    return {
        "unet": lambda norm: wrappers.unet_generator(3, 3, num_downs=6, ngf=4, norm=norm),
        "resnet": lambda norm: wrappers.resnet_generator(3, 3, n_blocks=2, ngf=4, norm=norm, dropout=True),
        "resnet_sr": lambda norm: wrappers.resnet_generator(3, 3, n_blocks=1, ngf=4, norm=norm, upscale=2),
        "patchgan": lambda norm: wrappers.patchgan(ndf=4, norm=norm, spectral=True, num_scales=2),
    }


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
@pytest.mark.parametrize("kind", list(_builders()))
def test_channels_last_bf16_autocast(kind: str, norm: str) -> None:
    model = _builders()[kind](norm).to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 64, 64).to(memory_format=torch.channels_last)
    cond = Condition(maps=x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        if kind == "patchgan":
            outs = [o.logits for o in model(x, cond)]
        else:
            outs = [model(cond)]
            assert outs[0].is_contiguous(memory_format=torch.channels_last)
    assert all(torch.isfinite(o.float()).all() for o in outs)
    sum(o.float().mean() for o in outs).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


def test_catalog_registers_factories() -> None:
    from i2i.modality import resolve_object
    from i2i.nets import catalog

    registered: dict[tuple[str, str], str] = {}
    catalog.register_networks(
        register=lambda name, target, kind: registered.__setitem__((kind, name), target)
    )
    assert registered[("generator", "unet")] == "i2i.nets.wrappers:unet_generator"
    assert registered[("generator", "resnet")] == "i2i.nets.wrappers:resnet_generator"
    assert registered[("discriminator", "patchgan")] == "i2i.nets.wrappers:patchgan"
    assert all(callable(resolve_object(target)) for target in registered.values())
    gen = resolve_object(registered[("generator", "unet_128")])(ngf=4)
    assert gen.net.num_downs == 7


def test_catalog_does_not_import_torch() -> None:
    code = "import sys, i2i.nets.catalog; assert 'torch' not in sys.modules, 'torch imported'"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
