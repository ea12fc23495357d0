"""Generators trained with the original pix2pix/CycleGAN code (``latest_net_G.pth``) as core networks.

Shared by every plugin that imports such checkpoints (a paired plugin loads one generator, a
two-domain plugin loads the pair ``latest_net_G_A.pth`` + ``latest_net_G_B.pth``).

Those files are bare state dicts of the original ``UnetGenerator`` or ``ResnetGenerator`` and do
not record the options they were trained with, so the architecture is read off the key names and
tensor shapes:

- family: ``model.model.0.weight`` (nested U-Net blocks) or ``model.1.weight`` (ResNet sequential);
- U-Net depth (unet_128 = 7, unet_256 = 8) from how deep the ``model.3.model.`` nesting goes;
- ResNet blocks from the number of ``conv_block`` modules; dropout from the index of the second
  convolution inside a block (a Dropout layer shifts it from 5 to 6);
- ngf and channel counts from the first and last convolutions;
- norm: BatchNorm leaves ``running_mean`` and affine weights, InstanceNorm (affine=False) leaves no
  norm keys but gives the convolutions biases, "none" leaves neither.

U-Net dropout sits after the last indexed layer of a block, so it leaves no trace in the keys; the
pix2pix default (dropout on) is assumed. It only matters in training mode.

torch is imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from i2i.errors import InputError
from i2i.nets.foreign import build_for_weights, read_state_dict

if TYPE_CHECKING:
    from torch import Tensor

    from i2i.interfaces import Generator


class _NotRecognised(Exception):
    """The state dict is not a pix2pix generator; the message says why (one line)."""


def load_pix2pix_generator(path: str | Path) -> tuple[dict[str, Any], Generator]:
    """Read an original pix2pix/CycleGAN generator checkpoint and rebuild it as a core Generator.

    Returns (config, generator): config is the generator section that rebuilds the same network
    through the registered factory (e.g. ``{"name": "unet", "in_channels": 3, ..., "norm": "batch"}``),
    and generator holds the imported weights, in eval mode, on the CPU.
    Raises InputError for a file that is not a torch checkpoint or not a recognised generator.
    """
    state = read_state_dict(path)
    try:
        config, mapping = _infer(state)
        try:
            generator = build_for_weights(lambda: _build(config), state, path)
        except ValueError as exc:  # inferred hyper-parameters the core networks reject
            raise _NotRecognised(str(exc)) from None
        target = generator.state_dict()
        converted = _convert(state, mapping, target)
        generator.load_state_dict(converted, strict=True)
    except _NotRecognised as exc:
        raise InputError(path, f"not a recognised pix2pix/CycleGAN generator: {exc}") from None
    return config, generator.eval()


# ---- architecture inference -------------------------------------------------------------------
def _norm_kind(state: Mapping[str, Tensor], first_conv: str, first_norm: str) -> str:
    """batch (affine + running stats), instance (biased convs, no affine norm) or none."""
    if f"{first_norm}.weight" in state and f"{first_norm}.running_mean" in state:
        return "batch"
    if f"{first_norm}.weight" in state:
        raise _NotRecognised("affine norm without running statistics (affine InstanceNorm) is not supported")
    if f"{first_conv}.bias" in state:
        return "instance"
    if f"{first_norm}.running_mean" in state:
        # PyTorch < 0.4 saved running stats for InstanceNorm; the original deletes them on load.
        return "instance"
    return "none"


def _infer(state: Mapping[str, Tensor]) -> tuple[dict[str, Any], dict[str, str]]:
    """(factory config, {original module path: core module path})."""
    if "model.model.0.weight" in state:
        return _infer_unet(state)
    if "model.1.weight" in state:
        return _infer_resnet(state)
    raise _NotRecognised("neither a U-Net ('model.model.0.weight') nor a ResNet ('model.1.weight') key")


def _shape(state: Mapping[str, Tensor], key: str, dims: int) -> tuple[int, ...]:
    if key not in state:
        raise _NotRecognised(f"missing key {key!r}")
    shape = tuple(state[key].shape)
    if len(shape) != dims:
        raise _NotRecognised(f"{key!r} has shape {shape}, expected {dims} dimensions")
    return shape


def _infer_unet(state: Mapping[str, Tensor]) -> tuple[dict[str, Any], dict[str, str]]:
    # Level i >= 1 of the U-Net lives under "model.model.1." + "model.3." * (i - 1) + "model.".
    prefixes = []
    prefix = "model.model.1.model."
    while f"{prefix}1.weight" in state:
        prefixes.append(prefix)
        prefix += "3.model."
    if not prefixes:
        raise _NotRecognised("U-Net without inner blocks")
    num_downs = len(prefixes) + 1
    ngf, in_channels = _shape(state, "model.model.0.weight", 4)[:2]
    out_channels = _shape(state, "model.model.3.weight", 4)[1]  # ConvTranspose: (in, out, k, k)
    norm = _norm_kind(state, "model.model.0", f"{prefixes[0]}2")
    mapping = {"model.model.0": "net.encoder.0.conv", "model.model.3": "net.decoder.0.conv"}
    for level, prefix in enumerate(prefixes, start=1):
        innermost = level == num_downs - 1
        mapping[f"{prefix}1"] = f"net.encoder.{level}.conv"
        if innermost:
            mapping[f"{prefix}3"] = f"net.decoder.{level}.conv"
            mapping[f"{prefix}4"] = f"net.decoder.{level}.norm"
        else:
            mapping[f"{prefix}2"] = f"net.encoder.{level}.norm"
            mapping[f"{prefix}5"] = f"net.decoder.{level}.conv"
            mapping[f"{prefix}6"] = f"net.decoder.{level}.norm"
    config = {
        "name": "unet",
        "in_channels": in_channels,
        "out_channels": out_channels,
        "num_downs": num_downs,
        "ngf": ngf,
        "norm": norm,
        "dropout": True,
    }
    return config, mapping


_BLOCK_KEY = re.compile(r"^model\.(\d+)\.conv_block\.1\.weight$")


def _infer_resnet(state: Mapping[str, Tensor]) -> tuple[dict[str, Any], dict[str, str]]:
    # Sequential indices: 0 pad, 1 conv, 2 norm, 3 relu; 4-6 and 7-9 downsampling; 10.. blocks;
    # then two [ConvT, norm, relu] upsamplings, a pad, the last conv, tanh.
    block_ids = sorted(int(m.group(1)) for k in state if (m := _BLOCK_KEY.match(k)))
    n_blocks = len(block_ids)
    if block_ids != list(range(10, 10 + n_blocks)):
        if any(k.endswith("conv_block.0.weight") for k in state):
            raise _NotRecognised("ResNet with zero-padded blocks (--padding_type zero) is not supported")
        raise _NotRecognised("ResNet blocks are not at the expected positions (not 2 downsamplings?)")
    if n_blocks and "model.10.conv_block.6.weight" in state:
        dropout, second_conv = True, 6
    elif n_blocks and "model.10.conv_block.5.weight" in state:
        dropout, second_conv = False, 5
    elif n_blocks:
        raise _NotRecognised("ResNet block without its second convolution")
    else:
        dropout, second_conv = False, 5
    ngf, in_channels = _shape(state, "model.1.weight", 4)[:2]
    last = 17 + n_blocks
    out_channels = _shape(state, f"model.{last}.weight", 4)[0]
    norm = _norm_kind(state, "model.1", "model.2")
    mapping = {
        "model.1": "net.stem.conv",
        "model.2": "net.stem.norm",
        "model.4": "net.down.0.conv",
        "model.5": "net.down.0.norm",
        "model.7": "net.down.1.conv",
        "model.8": "net.down.1.norm",
        f"model.{10 + n_blocks}": "net.up.0.conv",
        f"model.{11 + n_blocks}": "net.up.0.norm",
        f"model.{13 + n_blocks}": "net.up.1.conv",
        f"model.{14 + n_blocks}": "net.up.1.norm",
        f"model.{last}": "net.head.conv",
    }
    for j, index in enumerate(block_ids):
        block = f"model.{index}.conv_block"
        mapping[f"{block}.1"] = f"net.blocks.{j}.conv1"
        mapping[f"{block}.2"] = f"net.blocks.{j}.norm1"
        mapping[f"{block}.{second_conv}"] = f"net.blocks.{j}.conv2"
        mapping[f"{block}.{second_conv + 1}"] = f"net.blocks.{j}.norm2"
    config = {
        "name": "resnet",
        "in_channels": in_channels,
        "out_channels": out_channels,
        "n_blocks": n_blocks,
        "ngf": ngf,
        "norm": norm,
        "dropout": dropout,
    }
    return config, mapping


# ---- building and key mapping -----------------------------------------------------------------
def _build(config: Mapping[str, Any]) -> Generator:
    from i2i.nets.wrappers import resnet_generator, unet_generator

    factory = {"unet": unet_generator, "resnet": resnet_generator}[config["name"]]
    kwargs = {k: v for k, v in config.items() if k != "name"}
    # The weights are about to be replaced: skip the random initialisation.
    return factory(**kwargs, init="default")


def _convert(
    state: Mapping[str, Tensor], mapping: Mapping[str, str], target: Mapping[str, Tensor]
) -> dict[str, Tensor]:
    """Rename every original key onto the core network and check names and shapes all match."""
    import torch

    converted: dict[str, Tensor] = {}
    for key, value in state.items():
        module, _, name = key.rpartition(".")
        if module not in mapping:
            raise _NotRecognised(f"unexpected key {key!r}")
        new_key = f"{mapping[module]}.{name}"
        if new_key not in target:
            if name in ("running_mean", "running_var"):
                continue  # legacy InstanceNorm statistics (PyTorch < 0.4), unused
            raise _NotRecognised(f"unexpected key {key!r}")
        if tuple(value.shape) != tuple(target[new_key].shape):
            raise _NotRecognised(
                f"{key!r} has shape {tuple(value.shape)}, expected {tuple(target[new_key].shape)}"
            )
        converted[new_key] = value
    for new_key, value in target.items():
        if new_key in converted:
            continue
        if new_key.endswith(".num_batches_tracked"):
            # Checkpoints from PyTorch < 0.4.1 predate this counter; eval mode does not use it.
            converted[new_key] = torch.zeros_like(value)
            continue
        original = next((k for k, v in mapping.items() if new_key.startswith(v + ".")), new_key)
        raise _NotRecognised(f"missing weights for {original!r}")
    return converted


__all__ = ["load_pix2pix_generator"]
