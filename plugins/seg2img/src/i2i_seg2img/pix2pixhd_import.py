"""seg2img's importer of generators trained with NVIDIA's pix2pixHD (``latest_net_G.pth``).

Those files are bare state dicts of the original ``GlobalGenerator`` (``--netG global``) or
``LocalEnhancer`` (``--netG local``). The architecture is read off the keys and shapes:

- global: ``model.<i>`` indices of one nn.Sequential. ``model.1`` is the 7x7 stem (its shape gives
  ngf and the input channels); stride-2 convolutions that double the width follow at 4, 7, ...
  (``n_downsample_global``), then residual blocks (``model.<i>.conv_block.*``,
  ``n_blocks_global``), as many transposed convolutions, and the 7x7 head (output channels);
- local: the same trunk without its head under ``model.``, plus ``model<n>_1`` (encoder of the
  finer input) and ``model<n>_2`` (blocks, upsampling, and the head on the last) per enhancer;
- norm: batch norm leaves affine weights and running statistics; instance norm (affine=False)
  leaves nothing, or, in files written by PyTorch < 0.4, statistics without weights (ignored, as
  the original ignores them).

The weights give the input channel count only, not how it splits into label classes, the
instance-edge channel and encoded features. That is in the ``opt.txt`` that training writes beside
the checkpoint (``label_nc``, ``no_instance``, ``instance_feat``/``label_feat``, ``feat_num``), and
is read from there; without it, pix2pixHD's default (label classes + the edge channel, no
features) is assumed and said in one line on stderr. A 35-class model of pix2pixHD's default data
set (no opt.txt, as the published one, or a Cityscapes dataroot) also gets the Cityscapes class
list (`classes: cityscapes`: names and colours, so colour-coded maps work; ids unchanged).

torch is imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from i2i.errors import InputError
from i2i.nets.foreign import build_for_weights, read_state_dict

if TYPE_CHECKING:
    from torch import Tensor

    from i2i_seg2img.pix2pixhd import Pix2PixHDGenerator

FORMAT = "pix2pixHD generator"
OPT_FILE = "opt.txt"
_WRAPPER_KEYS = ("state_dict", "netG", "net_G", "G", "generator", "model")
ARCH_OPTIONS = (
    "netG",
    "norm",
    "ngf",
    "n_downsample_global",
    "n_blocks_global",
    "n_local_enhancers",
    "n_blocks_local",
)
_ENHANCER = re.compile(r"^model(\d+)_([12])\.")


class _NotRecognised(Exception):
    """Not a pix2pixHD generator; the message says why (one line)."""


class _Unsupported(Exception):
    """A pix2pixHD generator this importer cannot run, or whose opt.txt contradicts it (one line)."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def import_pix2pixhd(
    path: str | Path, notice: Callable[[str], None] = _stderr
) -> tuple[dict[str, Any], Pix2PixHDGenerator]:
    """The seg2img modality's importer hook: (config override, generator) for `i2i-run --checkpoint`.

    The override sets the generator section (registered network ``pix2pixhd``), a conditioner
    making pix2pixHD's input (one-hot labels + instance edges, no style encoder) and the class
    count. `notice` receives the one line saying what was assumed when no opt.txt is beside it.
    """
    path = Path(path)
    state = read_state_dict(path, _WRAPPER_KEYS)
    try:
        arch = infer_architecture(state)
        if arch["out_channels"] != 3:
            raise _Unsupported(
                f"it outputs {arch['out_channels']} channels (output_nc); seg2img makes RGB photos"
            )
        options = read_options(path.parent / OPT_FILE)
        if options is None:
            label_nc, instance = _assume_channels(arch["in_channels"])
        else:
            label_nc, instance = _channels_from_options(options, arch)
        generator_config = {
            "name": "pix2pixhd",
            "num_classes": label_nc,
            "instance": instance,
            **{k: v for k, v in arch.items() if k not in ("in_channels", "out_channels")},
        }
        if arch["norm"] == "batch":  # generate as the original's test.py does (it never calls eval())
            generator_config["batch_norm_stats"] = "input"
        generator = build_for_weights(lambda: _build(generator_config), state, path)
        generator.load_state_dict(_convert(state, arch, generator.state_dict()), strict=True)
    except _NotRecognised as exc:
        raise InputError(path, f"not a recognised {FORMAT}: {exc}") from None
    except _Unsupported as exc:
        raise InputError(path, f"a {FORMAT}, but {exc}") from None
    if options is None:
        notice(
            f"{path}: no {OPT_FILE} beside it; assumed label_nc {label_nc} plus the instance-edge "
            "channel (pix2pixHD's default: no --no_instance, no features)"
        )
    conditioner: dict[str, Any] = {"num_classes": label_nc, "instance_edges": instance, "style_dim": 0}
    if _is_cityscapes(label_nc, options):
        conditioner["classes"] = "cityscapes"  # its class colours: *_color.png maps work too
    override = {
        "model": {"generator": generator_config, "conditioner": conditioner},
        "data": {"num_classes": label_nc},
    }
    return override, generator.eval()


# ---- reading ---------------------------------------------------------------------------------
def read_options(path: Path) -> dict[str, str] | None:
    """The ``key: value`` lines of pix2pixHD's opt.txt (values as text), or None if absent."""
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise _Unsupported(f"its {OPT_FILE} cannot be read ({exc.strerror})") from None
    options = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith("-"):
            options[key.strip()] = value.strip()
    if "label_nc" not in options:
        raise _Unsupported(f"the {OPT_FILE} beside it is not pix2pixHD's (no label_nc line)")
    return options


# ---- architecture inference ------------------------------------------------------------------
def _shape(state: Mapping[str, Tensor], key: str) -> tuple[int, ...]:
    if key not in state:
        raise _NotRecognised(f"missing key {key!r}")
    return tuple(state[key].shape)


def _conv(state: Mapping[str, Tensor], key: str, kernel: int) -> tuple[int, int] | None:
    """(dim 0, dim 1) of `key`.weight if it is a `kernel` x `kernel` convolution, else None."""
    value = state.get(f"{key}.weight")
    if value is None or value.dim() != 4 or tuple(value.shape[2:]) != (kernel, kernel):
        return None
    return int(value.shape[0]), int(value.shape[1])


def _trunk(state: Mapping[str, Tensor], has_head: bool) -> dict[str, int]:
    """Walk the global generator's Sequential under ``model.``: stem, downsampling, blocks, upsampling."""
    stem = _conv(state, "model.1", 7)
    if stem is None:
        raise _NotRecognised("no 7x7 stem convolution 'model.1.weight'")
    ngf, in_channels = stem
    width, index, n_down = ngf, 4, 0
    while _conv(state, f"model.{index}", 3) == (2 * width, width):
        width, index, n_down = 2 * width, index + 3, n_down + 1
    n_blocks = 0
    while f"model.{index}.conv_block.1.weight" in state:
        if _shape(state, f"model.{index}.conv_block.1.weight") != (width, width, 3, 3):
            raise _NotRecognised(f"residual block 'model.{index}' is not {width} channels wide")
        if f"model.{index}.conv_block.5.weight" not in state:
            raise _NotRecognised(f"residual block 'model.{index}' without its second convolution at .5")
        index, n_blocks = index + 1, n_blocks + 1
    for _ in range(n_down):
        if _conv(state, f"model.{index}", 3) != (width, width // 2):
            raise _NotRecognised(
                f"expected the transposed convolution 'model.{index}' ({width} -> {width // 2})"
            )
        width, index = width // 2, index + 3
    trunk = {
        "ngf": ngf,
        "n_downsample_global": n_down,
        "n_blocks_global": n_blocks,
        "in_channels": in_channels,
    }
    if has_head:
        head = _conv(state, f"model.{index + 1}", 7)
        if head is None or head[1] != ngf:
            raise _NotRecognised(f"no 7x7 output convolution 'model.{index + 1}' after the upsampling")
        trunk["out_channels"] = head[0]
    return trunk


def _norm(state: Mapping[str, Tensor]) -> str:
    if "model.1.bias" not in state:
        raise _NotRecognised(
            "its convolutions have no biases (a pix2pix/CycleGAN ResNet? those import with --plugin img2img)"
        )
    return "batch" if "model.2.weight" in state and "model.2.running_mean" in state else "instance"


def infer_architecture(state: Mapping[str, Tensor]) -> dict[str, Any]:
    """The factory options (netG, ngf, ..., norm) plus in_channels/out_channels of a state dict."""
    if "model.1.weight" not in state:
        raise _NotRecognised("no 'model.1.weight' (the stem of pix2pixHD's GlobalGenerator)")
    enhancers = sorted({int(m.group(1)) for k in state if (m := _ENHANCER.match(k))})
    norm = _norm(state)
    if not enhancers:
        arch = _trunk(state, has_head=True)
        return {"netG": "global", **arch, "norm": norm}
    n_local = len(enhancers)
    if enhancers != list(range(1, n_local + 1)):
        raise _NotRecognised(f"local enhancers numbered {enhancers}, expected 1..{n_local}")
    trunk = _trunk(state, has_head=False)
    ngf, in_channels = _shape(state, f"model{n_local}_1.1.weight")[:2]
    if trunk["ngf"] != ngf * 2**n_local or in_channels != trunk["in_channels"]:
        raise _NotRecognised(
            f"global stage of width {trunk['ngf']} does not fit {n_local} enhancer(s) of width {ngf}"
        )
    n_blocks_local = 0
    while f"model1_2.{n_blocks_local}.conv_block.1.weight" in state:
        n_blocks_local += 1
    head = _conv(state, f"model{n_local}_2.{n_blocks_local + 4}", 7)
    if head is None:
        raise _NotRecognised(f"no 7x7 output convolution in the last enhancer 'model{n_local}_2'")
    return {
        "netG": "local",
        **trunk,
        "ngf": ngf,
        "n_local_enhancers": n_local,
        "n_blocks_local": n_blocks_local,
        "norm": norm,
        "out_channels": head[0],
    }


# ---- input channels: opt.txt or pix2pixHD's default --------------------------------------------
CITYSCAPES_LABEL_NC = 35  # pix2pixHD's default label_nc: Cityscapes' labelIds 0..33 (+ license plate)


def _is_cityscapes(label_nc: int, options: Mapping[str, str] | None) -> bool:
    """pix2pixHD's default data set (the published model, `--dataroot ./datasets/cityscapes/`)."""
    if label_nc != CITYSCAPES_LABEL_NC:
        return False
    return options is None or "cityscapes" in options.get("dataroot", "").lower()


def _assume_channels(in_channels: int) -> tuple[int, bool]:
    if in_channels < 2:
        raise _NotRecognised(f"{in_channels} input channel(s): not a label-map model")
    return in_channels - 1, True


def _flag(options: Mapping[str, str], key: str) -> bool:
    return options.get(key, "False") == "True"


def _int(options: Mapping[str, str], key: str) -> int:
    try:
        return int(options[key])
    except (KeyError, ValueError):
        raise _Unsupported(f"its {OPT_FILE} has {key}: {options.get(key)!r}, not an integer") from None


def _channels_from_options(options: Mapping[str, str], arch: Mapping[str, Any]) -> tuple[int, bool]:
    """(label_nc, instance) from opt.txt, checked against the weights."""
    model = options.get("model", "pix2pixHD")
    if model != "pix2pixHD":
        raise _Unsupported(f"its {OPT_FILE} says model {model!r}: only pix2pixHD's own model imports")
    label_nc = _int(options, "label_nc")
    if label_nc == 0:
        raise _Unsupported(
            f"its {OPT_FILE} says label_nc 0 (RGB input images, not label maps): seg2img needs a label-map model"
        )
    instance = not _flag(options, "no_instance")
    if _flag(options, "instance_feat") or _flag(options, "label_feat"):
        raise _Unsupported(
            f"it was trained with encoded instance features (--instance_feat/--label_feat, feat_num "
            f"{_int(options, 'feat_num')}): the feature encoder and clustered features are not supported, "
            "only label maps with or without instance edges"
        )
    expected = label_nc + int(instance)
    if expected != arch["in_channels"]:
        edge = " + the instance edge" if instance else " (--no_instance)"
        raise _Unsupported(
            f"its {OPT_FILE} says label_nc {label_nc}{edge} = {expected} input channels, the weights take "
            f"{arch['in_channels']}: that {OPT_FILE} is not this checkpoint's"
        )
    for key in ARCH_OPTIONS:
        if key in arch and key in options and options[key] != str(arch[key]):
            raise _Unsupported(
                f"its {OPT_FILE} says {key} {options[key]}, the weights {arch[key]}: "
                f"that {OPT_FILE} is not this checkpoint's"
            )
    return label_nc, instance


# ---- building and key mapping -----------------------------------------------------------------
def _build(config: Mapping[str, Any]) -> Pix2PixHDGenerator:
    from i2i_seg2img.pix2pixhd import pix2pixhd

    try:
        return pix2pixhd(**{k: v for k, v in config.items() if k != "name"}, init="default")
    except ValueError as exc:
        raise _NotRecognised(str(exc)) from None


def key_map(arch: Mapping[str, Any]) -> dict[str, str]:
    """{original module path: i2i module path} for an inferred architecture."""
    n_down, n_blocks = arch["n_downsample_global"], arch["n_blocks_global"]
    g = "global_net"
    mapping = {"model.1": f"{g}.stem.conv", "model.2": f"{g}.stem.norm"}
    for i in range(n_down):
        mapping[f"model.{4 + 3 * i}"] = f"{g}.down.{i}.conv"
        mapping[f"model.{5 + 3 * i}"] = f"{g}.down.{i}.norm"
    first_block = 4 + 3 * n_down
    for j in range(n_blocks):
        block = f"model.{first_block + j}.conv_block"
        for original, ours in (("1", "conv1"), ("2", "norm1"), ("5", "conv2"), ("6", "norm2")):
            mapping[f"{block}.{original}"] = f"{g}.blocks.{j}.{ours}"
    first_up = first_block + n_blocks
    for i in range(n_down):
        mapping[f"model.{first_up + 3 * i}"] = f"{g}.up.{i}.conv"
        mapping[f"model.{first_up + 3 * i + 1}"] = f"{g}.up.{i}.norm"
    if arch["netG"] == "global":
        mapping[f"model.{first_up + 3 * n_down + 1}"] = f"{g}.head.conv"
        return mapping
    n_local, n_blocks_local = arch["n_local_enhancers"], arch["n_blocks_local"]
    for n in range(1, n_local + 1):
        e = f"enhancers.{n - 1}"
        mapping.update(
            {
                f"model{n}_1.1": f"{e}.stem.conv",
                f"model{n}_1.2": f"{e}.stem.norm",
                f"model{n}_1.4": f"{e}.down.conv",
                f"model{n}_1.5": f"{e}.down.norm",
                f"model{n}_2.{n_blocks_local}": f"{e}.up.conv",
                f"model{n}_2.{n_blocks_local + 1}": f"{e}.up.norm",
            }
        )
        for j in range(n_blocks_local):
            block = f"model{n}_2.{j}.conv_block"
            for original, ours in (("1", "conv1"), ("2", "norm1"), ("5", "conv2"), ("6", "norm2")):
                mapping[f"{block}.{original}"] = f"{e}.blocks.{j}.{ours}"
        if n == n_local:
            mapping[f"model{n}_2.{n_blocks_local + 4}"] = f"{e}.head.conv"
    return mapping


def _convert(
    state: Mapping[str, Tensor], arch: Mapping[str, Any], target: Mapping[str, Tensor]
) -> dict[str, Tensor]:
    """Rename every original key onto the i2i network; names and shapes must all match."""
    import torch

    mapping = key_map(arch)
    converted: dict[str, Tensor] = {}
    for key, value in state.items():
        module, _, name = key.rpartition(".")
        if module not in mapping:
            raise _NotRecognised(f"unexpected key {key!r}")
        new_key = f"{mapping[module]}.{name}"
        if new_key not in target:
            if arch["norm"] == "instance" and name in ("running_mean", "running_var", "num_batches_tracked"):
                continue  # InstanceNorm statistics saved by PyTorch < 0.4: unused
            raise _NotRecognised(f"unexpected key {key!r}")
        if tuple(value.shape) != tuple(target[new_key].shape):
            raise _NotRecognised(
                f"{key!r} has shape {tuple(value.shape)}, expected {tuple(target[new_key].shape)}"
            )
        converted[new_key] = value.to(target[new_key].dtype)
    for new_key, value in target.items():
        if new_key in converted:
            continue
        if new_key.endswith(".num_batches_tracked"):  # files from PyTorch < 0.4.1; eval mode ignores it
            converted[new_key] = torch.zeros_like(value)
            continue
        original = next((k for k, v in mapping.items() if new_key.startswith(v + ".")), new_key)
        raise _NotRecognised(f"missing weights for {original!r}")
    return converted


__all__ = ["import_pix2pixhd", "infer_architecture", "key_map", "read_options"]
