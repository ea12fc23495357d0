"""Import generators trained with the original SPADE code (NVlabs/SPADE): ``latest_net_G.pth``,
with ``latest_net_E.pth`` (the style encoder) beside it when trained with ``--use_vae``.

Those files are bare state dicts (``torch.save(net.state_dict())``), loaded here with
``torch.load(weights_only=True)``. The weights tell most of the architecture:

- ngf (``head_0.conv_0``'s width / 16), the number of input channels (label_nc + don't care +
  instance edges, from ``head_0.norm_0.mlp_shared.0``), SPADE's hidden width and kernel size
  (the same conv's shape), its param-free norm (batch norm leaves running statistics, instance
  norm nothing), spectral norm (``weight_orig`` / ``weight_u`` / ``weight_v``);
- the VAE (``fc`` is a linear layer of z instead of a 3x3 conv; z_dim is its input width) and
  "most" upsampling (an ``up_4`` block);
- the encoder's width, norm (``norm_E``) and spectral norm, and z_dim again (``fc_mu``).

What they do not tell comes from the original's ``opt.txt`` beside the checkpoint (written by
its training): "normal" vs "more" upsampling (one more nearest upsampling, no weights), crop_size
and aspect_ratio (the latent grid of the non-VAE generator), and how the input channels split
into label_nc, ``--contain_dontcare_label`` and the instance-edge channel (``--no_instance``);
``dataset_mode`` picks the label convention (Cityscapes, ADE20K, COCO-Stuff). Without opt.txt
the published checkpoints' settings are assumed from the channel count (36: Cityscapes, 151:
ADE20K, 184: COCO-Stuff; otherwise the original's test defaults with an instance channel), and
one line on stderr says what is missing and what was assumed. An opt.txt that contradicts the
weights (another model's) is an error naming the option.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from i2i.errors import InputError
from i2i.nets.foreign import build_for_weights, load_torch_file, tensor_state

if TYPE_CHECKING:
    from torch import Tensor

    from i2i_seg2img.spade_nvlabs import SpadeNVGenerator

FORMAT = "SPADE generator (NVlabs/SPADE latest_net_G.pth)"
PRESET_OF_DATASET = {"cityscapes": "cityscapes", "ade20k": "ade20k", "coco": "cocostuff"}


@dataclass(frozen=True)
class Options:
    """The original's options that the weights do not record (opt.txt, or assumed)."""

    label_nc: int
    contain_dontcare_label: bool
    no_instance: bool
    num_upsampling_layers: str
    crop_size: int
    aspect_ratio: float
    dataset_mode: str


# channel count of a published checkpoint -> its data set's options (the original's defaults)
PUBLISHED = {
    36: Options(35, False, False, "more", 512, 2.0, "cityscapes"),
    151: Options(150, True, True, "normal", 256, 1.0, "ade20k"),
    184: Options(182, True, False, "normal", 256, 1.0, "coco"),
}


class _NotRecognised(Exception):
    """Not a SPADE generator (or one this importer cannot rebuild); the message is one line."""


def import_spade(path: str | Path) -> tuple[dict[str, Any], SpadeNVGenerator]:
    """seg2img's importer hook: (config override, generator) for ``i2i-run --checkpoint``.

    The override holds the generator section (``spade_nvlabs``), the conditioner section that
    builds the original's input from i2i's label reading, the class count, and the
    discriminator's condition width (for fine-tuning)."""
    path = Path(path)
    state = _read_state(path)
    try:
        arch = _infer_generator(state)
    except _NotRecognised as exc:
        raise InputError(path, f"not a {FORMAT}: {exc}") from None
    opt = _options(path, arch)
    encoder_path = _encoder_path(path)
    encoder_state, encoder_arch = None, None
    if arch["use_vae"] and encoder_path is not None and encoder_path.is_file():
        try:
            encoder_state = _read_state(encoder_path)
        except InputError as exc:
            raise InputError(path, f"{encoder_path} beside it: {exc.problem}") from None
        try:
            encoder_arch = _infer_encoder(encoder_state, arch["z_dim"])
        except _NotRecognised as exc:
            raise InputError(path, f"{encoder_path} is not its SPADE style encoder: {exc}") from None
    elif arch["use_vae"]:
        missing = encoder_path if encoder_path is not None else path.parent / "latest_net_E.pth"
        _stderr(f"{missing}: not found; the VAE generator imports without its style encoder (no --style)")
    try:
        config = _generator_config(arch, opt, encoder_arch)
    except _NotRecognised as exc:
        raise InputError(path, f"{encoder_path} is not its SPADE style encoder: {exc}") from None
    weights = {**state, **(encoder_state or {})}
    generator = build_for_weights(lambda: _build(path, config), weights, path)
    try:
        converted = _convert(state, "net.", generator.state_dict())
        if encoder_state is not None:
            converted.update(_convert(encoder_state, "encoder.", generator.state_dict()))
        missing_keys = sorted(set(generator.state_dict()) - set(converted))
        if missing_keys:
            raise _NotRecognised(f"missing weights for {missing_keys[0]!r}")
    except _NotRecognised as exc:
        raise InputError(path, f"not a {FORMAT} this importer can rebuild: {exc}") from None
    generator.load_state_dict(converted, strict=True)
    return _override(config, opt, encoder_arch is not None), generator.eval()


# ---- reading ---------------------------------------------------------------------------------------
def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _read_state(path: Path) -> dict[str, Tensor]:
    obj = load_torch_file(path)
    state = tensor_state(obj)
    if state is None:
        raise InputError(path, f"not a {FORMAT}: not a state dict of tensors (got {type(obj).__name__})")
    return state


def _encoder_path(path: Path) -> Path | None:
    """``<epoch>_net_E.pth`` beside ``<epoch>_net_G.pth`` (the original's save names)."""
    if "_net_G" not in path.name:
        return None
    return path.with_name(path.name.replace("_net_G", "_net_E"))


def _opt_error(opt_path: Path, checkpoint: Path | None, problem: str) -> InputError:
    """A problem of opt.txt, reported against the checkpoint it belongs to and naming opt.txt
    (the pipeline reports every importer's problem against the checkpoint, in one line)."""
    if checkpoint is None:
        return InputError(opt_path, problem)
    return InputError(checkpoint, f"{opt_path}: {problem}")


def read_opt_txt(path: Path, checkpoint: Path | None = None) -> dict[str, str]:
    """The original's ``opt.txt`` (``{:>25}: {:<30}`` lines, optionally ``[default: x]``) -> raw strings."""
    out: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise _opt_error(path, checkpoint, f"cannot read the options file ({exc.strerror})") from None
    for line in text.splitlines():
        key, sep, rest = line.strip().partition(": ")
        if sep and re.fullmatch(r"\w+", key):
            out[key] = rest.split("\t", 1)[0].strip()
    if not out:
        raise _opt_error(path, checkpoint, "not the original's opt.txt (no 'name: value' lines)")
    return out


def _options(path: Path, arch: Mapping[str, Any]) -> Options:
    """opt.txt beside the checkpoint (checked against the weights), or the assumed values."""
    channels = arch["label_channels"]
    opt_path = path.parent / "opt.txt"
    if not opt_path.is_file():
        opt = PUBLISHED.get(channels, Options(channels - 1, False, False, "normal", 256, 1.0, "custom"))
        if arch["most"]:
            opt = Options(*[*_fields(opt)[:3], "most", *_fields(opt)[4:]])
        _stderr(
            f"{opt_path}: not found; the weights do not record num_upsampling_layers, crop_size, aspect_ratio"
            f" or how the {channels} input channels split: assumed {opt.num_upsampling_layers}, {opt.crop_size},"
            f" {opt.aspect_ratio:g}, label_nc {opt.label_nc}"
            f"{' + dontcare' if opt.contain_dontcare_label else ''}{'' if opt.no_instance else ' + instance'}"
            f" ({opt.dataset_mode})"
        )
        _check_grid(opt_path, arch, opt, path)
        return opt
    raw = read_opt_txt(opt_path, path)

    def get(key: str, kind: type, default: Any = None) -> Any:
        if key not in raw:
            if default is not None:
                return default
            raise _opt_error(opt_path, path, f"no {key!r} option (is this the original SPADE's opt.txt?)")
        value = raw[key]
        try:
            if kind is bool:
                if value not in ("True", "False"):
                    raise ValueError
                return value == "True"
            return kind(value)
        except ValueError:
            raise _opt_error(opt_path, path, f"{key}: expected {kind.__name__}, got {value!r}") from None

    opt = Options(
        get("label_nc", int),
        get("contain_dontcare_label", bool),
        get("no_instance", bool),
        get("num_upsampling_layers", str, "normal"),
        get("crop_size", int),
        get("aspect_ratio", float),
        get("dataset_mode", str, "custom"),
    )
    if get("netG", str, "spade") != "spade":
        raise _opt_error(
            opt_path, path, f"netG is {raw['netG']!r}: only the SPADE generator (--netG spade) imports here"
        )
    expected = opt.label_nc + int(opt.contain_dontcare_label) + int(not opt.no_instance)
    if expected != channels:
        raise _opt_error(
            opt_path,
            path,
            f"label_nc {opt.label_nc}, contain_dontcare_label {opt.contain_dontcare_label}, no_instance "
            f"{opt.no_instance} give {expected} input channels, but {path.name} takes {channels}",
        )
    if "ngf" in raw and get("ngf", int) != arch["ngf"]:
        raise _opt_error(opt_path, path, f"ngf is {raw['ngf']} but {path.name} has ngf {arch['ngf']}")
    if opt.num_upsampling_layers not in ("normal", "more", "most"):
        raise _opt_error(
            opt_path, path, f"num_upsampling_layers {opt.num_upsampling_layers!r} is not normal/more/most"
        )
    if (opt.num_upsampling_layers == "most") != arch["most"]:
        has = "has" if arch["most"] else "has no"
        raise _opt_error(
            opt_path,
            path,
            f"num_upsampling_layers is {opt.num_upsampling_layers} but {path.name} {has} up_4 block",
        )
    if "norm_G" in raw:
        _check_norm_g(opt_path, raw["norm_G"], arch, path)
    if arch["use_vae"] != get("use_vae", bool, arch["use_vae"]):
        raise _opt_error(
            opt_path, path, f"use_vae is {raw['use_vae']} but {path.name} says otherwise (its fc layer)"
        )
    _check_grid(opt_path, arch, opt, path)
    return opt


def _fields(opt: Options) -> list[Any]:
    return [getattr(opt, f) for f in Options.__dataclass_fields__]


def _check_norm_g(where: Path, norm_g: str, arch: Mapping[str, Any], checkpoint: Path) -> None:
    """``norm_G`` ('spectralspadesyncbatch3x3') against what the weights say."""
    found = re.fullmatch(r"(spectral)?spade(\D+)(\d)x\d", norm_g)
    if found is None:
        raise _opt_error(
            where, checkpoint, f"norm_G {norm_g!r} is not spade<norm><k>x<k> (optionally 'spectral' first)"
        )
    spectral, norm, kernel = bool(found.group(1)), found.group(2), int(found.group(3))
    norm = "batch" if norm in ("syncbatch", "batch") else norm
    if (spectral, norm, kernel) != (arch["spectral"], arch["norm"], arch["kernel_size"]):
        raise _opt_error(
            where,
            checkpoint,
            f"norm_G {norm_g!r} does not match the weights (spectral {arch['spectral']}, {arch['norm']} norm, "
            f"kernel {arch['kernel_size']})",
        )


def _check_grid(where: Path, arch: Mapping[str, Any], opt: Options, checkpoint: Path) -> None:
    """With the VAE, fc's output is 16 ngf * the latent grid: it must be the options' grid."""
    from i2i_seg2img.spade_nvlabs import latent_grid

    try:
        sh, sw = latent_grid(opt.crop_size, opt.aspect_ratio, opt.num_upsampling_layers)
    except ValueError as exc:
        raise _opt_error(where, checkpoint, str(exc)) from None
    if arch["use_vae"] and arch["fc_out"] != 16 * arch["ngf"] * sh * sw:
        raise _opt_error(
            where,
            checkpoint,
            f"crop_size {opt.crop_size}, aspect_ratio {opt.aspect_ratio:g} and {opt.num_upsampling_layers} "
            f"upsampling give a {sh}x{sw} latent grid, but fc has {arch['fc_out']} outputs "
            f"(16 * ngf {arch['ngf']} * h * w)",
        )


# ---- architecture from the weights ----------------------------------------------------------------
def _shape(state: Mapping[str, Tensor], key: str, dims: int | None = None) -> tuple[int, ...]:
    for name in (key, key.replace(".weight", ".weight_orig")):
        if name in state:
            shape = tuple(state[name].shape)
            if dims is not None and len(shape) != dims:
                raise _NotRecognised(f"{name!r} has shape {shape}, expected {dims} dimensions")
            return shape
    raise _NotRecognised(f"missing key {key!r}")


def _infer_generator(state: Mapping[str, Tensor]) -> dict[str, Any]:
    if "fc.weight" not in state or not any(k.startswith("head_0.") for k in state):
        raise _NotRecognised("no 'fc.weight' and 'head_0.*' keys")
    width = _shape(state, "head_0.conv_0.weight", 4)[0]
    if width % 16:
        raise _NotRecognised(f"head_0 is {width} wide, not 16 * ngf")
    mlp = _shape(state, "head_0.norm_0.mlp_shared.0.weight", 4)
    fc = tuple(state["fc.weight"].shape)
    use_vae = len(fc) == 2
    if not use_vae and fc != (width, mlp[1], 3, 3):
        raise _NotRecognised(f"'fc.weight' has shape {fc}, expected {(width, mlp[1], 3, 3)}")
    return {
        "ngf": width // 16,
        "label_channels": mlp[1],
        "hidden": mlp[0],
        "kernel_size": mlp[2],
        "norm": "batch" if "head_0.norm_0.param_free_norm.running_mean" in state else "instance",
        "spectral": "head_0.conv_0.weight_orig" in state,
        "use_vae": use_vae,
        "z_dim": fc[1] if use_vae else 256,
        "fc_out": fc[0],
        "most": any(k.startswith("up_4.") for k in state),
    }


def _infer_encoder(state: Mapping[str, Tensor], z_dim: int) -> dict[str, Any]:
    if not any(k.startswith("layer1") for k in state) or "fc_mu.weight" not in state:
        raise _NotRecognised("no 'layer1.*' and 'fc_mu.weight' keys")
    if not any(k.startswith("layer6") for k in state):
        raise _NotRecognised("no layer6 (trained with crop_size < 256, which the original cannot run)")
    bare = "layer1.weight" in state or "layer1.weight_orig" in state
    conv = "layer1" if bare else "layer1.0"
    ngf = _shape(state, f"{conv}.weight", 4)[0]
    if "layer1.1.running_mean" in state:
        norm = "batch"
    elif bare:
        norm = "none"
    else:
        norm = "instance"
    out = _shape(state, "fc_mu.weight", 2)
    if out != (z_dim, 8 * ngf * 16):
        raise _NotRecognised(
            f"'fc_mu.weight' has shape {out}, expected {(z_dim, 8 * ngf * 16)} (z_dim {z_dim})"
        )
    return {"ngf": ngf, "norm": norm, "spectral": f"{conv}.weight_orig" in state}


def _generator_config(
    arch: Mapping[str, Any], opt: Options, encoder: Mapping[str, Any] | None
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "spade_nvlabs",
        "label_channels": arch["label_channels"],
        "ngf": arch["ngf"],
        "num_upsampling_layers": opt.num_upsampling_layers,
        "crop_size": opt.crop_size,
        "aspect_ratio": float(opt.aspect_ratio),
        "use_vae": arch["use_vae"],
        "z_dim": arch["z_dim"],
        "norm": arch["norm"],
        "kernel_size": arch["kernel_size"],
        "hidden": arch["hidden"],
        "spectral": arch["spectral"],
        "encoder": encoder is not None,
    }
    if encoder is not None:
        if encoder["ngf"] != arch["ngf"]:
            raise _NotRecognised(f"encoder width {encoder['ngf']} is not the generator's ngf {arch['ngf']}")
        config.update(encoder_norm=encoder["norm"], encoder_spectral=encoder["spectral"])
    return config


def _build(path: Path, config: Mapping[str, Any]) -> SpadeNVGenerator:
    from i2i_seg2img.spade_nvlabs import spade_nvlabs

    kwargs = {k: v for k, v in config.items() if k != "name"}
    try:
        return spade_nvlabs(**kwargs, init="default")  # the weights are about to be replaced
    except ValueError as exc:
        raise InputError(path, f"not a {FORMAT} this importer can rebuild: {exc}") from None


_SPECTRAL = {"weight_orig": "parametrizations.weight.original", "weight_u": "parametrizations.weight.0._u",
             "weight_v": "parametrizations.weight.0._v"}  # fmt: skip


def _convert(state: Mapping[str, Tensor], prefix: str, target: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Original keys -> i2i keys (spectral norm's hook names -> parametrization names), checked."""
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        module, _, name = key.rpartition(".")
        new = f"{prefix}{module}.{_SPECTRAL.get(name, name)}"
        if new not in target:
            raise _NotRecognised(f"unexpected key {key!r}")
        if tuple(value.shape) != tuple(target[new].shape):
            raise _NotRecognised(
                f"{key!r} has shape {tuple(value.shape)}, expected {tuple(target[new].shape)}"
            )
        out[new] = value
    return out


def _override(config: Mapping[str, Any], opt: Options, has_encoder: bool) -> dict[str, Any]:
    from i2i_seg2img.labels import preset

    label_preset = PRESET_OF_DATASET.get(opt.dataset_mode)
    if label_preset is not None and len(preset(label_preset)) != opt.label_nc:
        label_preset = None  # a data set's mode with another class count: index maps only
    # the label-map size the original's test-time transform gives its generator ('fixed' mode;
    # resize_and_crop at load_size = crop_size and aspect 1 is the same)
    size = [round(opt.crop_size / opt.aspect_ratio), opt.crop_size]
    conditioner = {
        "num_classes": opt.label_nc,
        "ignore_index": 255,
        "instance_edges": True,
        "style_dim": 0,
        "dontcare_channel": opt.contain_dontcare_label,
        "edge_channel": not opt.no_instance,
        "style_image": has_encoder,
        "classes": label_preset,
        "size": size,
    }
    return {
        "data": {"num_classes": opt.label_nc},
        "model": {
            "generator": dict(config),
            "conditioner": conditioner,
            "discriminator": {"cond_channels": config["label_channels"]},
        },
    }


__all__ = ["PUBLISHED", "Options", "import_spade", "read_opt_txt"]
