"""Import checkpoints of the original first-order-model code (``vox-cpk.pth.tar`` & co.).

Those files are ``torch.save`` dicts of state dicts: ``generator`` (OcclusionAwareGenerator with
its dense-motion network), ``kp_detector``, ``discriminator``, the three optimisers and
``epoch``; they load with ``torch.load(weights_only=True)``. The architecture is read off the
weights: number of keypoints and channels (the keypoint head and the dense-motion input width),
depths (how many ``down_blocks`` / ``up_blocks`` / ``bottleneck.r<i>`` exist), widths (the
convolutions' shapes; ``max_features`` is the widest one), Jacobians and occlusion (whether
their heads exist), and the two anti-aliasing scale factors (from the Gaussian kernel stored as
a buffer: sigma, hence scale = 1 / (2 sigma + 1)).

What the weights cannot tell comes from the original's YAML config beside the checkpoint (the
one ``*.yaml`` there, e.g. ``vox-256.yaml``): the softmax temperature of the keypoint heatmaps,
the keypoint conv's padding, the dense motion's Gaussian variance and the frame size. Without
one, the published configs' values are assumed and one line says so. A YAML that contradicts
the weights (another model's config) is an error naming the key.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from i2i.errors import InputError
from i2i.nets.foreign import build_for_weights, load_torch_file

if TYPE_CHECKING:
    from torch import Tensor

    from i2i_face2img.fomm_nets import FommGenerator

FORMAT = "first-order-model checkpoint"
ASSUMED = {"kp_temperature": 0.1, "kp_pad": 0, "motion_kp_variance": 0.01, "frame_size": 256}
_ASSUMED_WHERE = {
    "kp_temperature": "kp_detector_params.temperature",
    "kp_pad": "kp_detector_params.pad",
    "motion_kp_variance": "dense_motion_params.kp_variance",
    "frame_size": "dataset_params.frame_shape",
}


class _NotRecognised(Exception):
    """Not a first-order-model checkpoint (or not one this importer can rebuild); one line."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


# ---- reading ---------------------------------------------------------------------------------------
def read_checkpoint(path: Path) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """(generator state, keypoint-detector state) of the file, or InputError."""
    import torch

    obj = load_torch_file(path)
    if not isinstance(obj, Mapping) or not {"generator", "kp_detector"} <= set(obj):
        found = ", ".join(sorted(map(str, obj))[:8]) if isinstance(obj, Mapping) else type(obj).__name__
        raise InputError(path, f"not a {FORMAT}: no 'generator' and 'kp_detector' entries (found {found})")
    states = []
    for key in ("generator", "kp_detector"):
        state = obj[key]
        if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise InputError(path, f"not a {FORMAT}: its {key!r} entry is not a state dict")
        state = dict(state)
        if state and all(k.startswith("module.") for k in state):  # saved from DataParallel
            state = {k[len("module.") :]: v for k, v in state.items()}
        states.append(state)
    return states[0], states[1]


def _yaml_files(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The original's configs in `folder`: YAML files with a `model_params` mapping."""
    import yaml

    found = []
    for path in sorted(folder.glob("*.y*ml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and isinstance(data.get("model_params"), dict):
            found.append((path, data))
    return found


def yaml_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """The generator options a first-order-model YAML gives, under i2i's names."""
    params = data.get("model_params") or {}
    common = params.get("common_params") or {}
    kp = params.get("kp_detector_params") or {}
    gen = params.get("generator_params") or {}
    motion = gen.get("dense_motion_params") or {}
    out: dict[str, Any] = {}

    def put(name: str, section: Mapping[str, Any], key: str) -> None:
        if key in section:
            out[name] = section[key]

    for key in ("num_kp", "num_channels", "estimate_jacobian"):
        put(key, common, key)
    for key in (
        "block_expansion",
        "max_features",
        "num_down_blocks",
        "num_bottleneck_blocks",
        "estimate_occlusion_map",
    ):
        put(key, gen, key)
    for key in ("block_expansion", "max_features", "num_blocks", "scale_factor", "kp_variance"):
        put(f"motion_{key}", motion, key)
    for key in (
        "block_expansion",
        "max_features",
        "num_blocks",
        "temperature",
        "scale_factor",
        "single_jacobian_map",
        "pad",
    ):
        put(f"kp_{key}", kp, key)
    shape = (data.get("dataset_params") or {}).get("frame_shape")
    if isinstance(shape, (list, tuple)) and len(shape) >= 2:
        out["frame_size"] = int(shape[0])
    return out


# ---- architecture inference ---------------------------------------------------------------------------
def _shape(state: Mapping[str, Tensor], key: str) -> tuple[int, ...]:
    if key not in state:
        raise _NotRecognised(f"missing key {key!r}")
    return tuple(state[key].shape)


def _count(state: Mapping[str, Tensor], pattern: str) -> int:
    """How many consecutive indices i have a key matching pattern.format(i)."""
    n = 0
    while pattern.format(n) in state:
        n += 1
    return n


def _scale_from_kernel(state: Mapping[str, Tensor], key: str) -> float:
    """The anti-aliasing scale whose Gaussian kernel is stored under `key` (1 when there is none)."""
    if key not in state:
        return 1.0
    kernel = state[key][0, 0].double()
    size = kernel.shape[-1]
    mid = size // 2
    if size < 3:
        raise _NotRecognised(f"{key!r} is not an anti-aliasing kernel")
    ratio = float(kernel[mid, mid] / kernel[mid, mid + 1])
    sigma = math.sqrt(1 / (2 * math.log(ratio)))
    inverse = 2 * sigma + 1
    scale = 1 / round(inverse) if abs(inverse - round(inverse)) < 1e-3 else round(1 / inverse, 6)
    if 2 * round(4 * (1 / scale - 1) / 2) + 1 != size:
        raise _NotRecognised(f"{key!r} is not the Gaussian kernel of any scale factor")
    return scale


def _hourglass(state: Mapping[str, Tensor], prefix: str) -> dict[str, int]:
    """num_blocks, block_expansion, max_features and input channels of an hourglass."""
    blocks = _count(state, prefix + "encoder.down_blocks.{}.conv.weight")
    if not blocks or _count(state, prefix + "decoder.up_blocks.{}.conv.weight") != blocks:
        raise _NotRecognised(f"no hourglass under {prefix!r}")
    widths = [_shape(state, f"{prefix}encoder.down_blocks.{i}.conv.weight")[0] for i in range(blocks)]
    expansion = _shape(state, f"{prefix}decoder.up_blocks.{blocks - 1}.conv.weight")[0]
    in_channels = _shape(state, f"{prefix}encoder.down_blocks.0.conv.weight")[1]
    return {
        "num_blocks": blocks,
        "block_expansion": expansion,
        "max_features": max(widths),
        "in": in_channels,
    }


def infer_architecture(gen: Mapping[str, Tensor], kp: Mapping[str, Tensor]) -> dict[str, Any]:
    """The FommGenerator options that the two state dicts determine."""
    kp_net = _hourglass(kp, "predictor.")
    num_kp, kp_features = _shape(kp, "kp.weight")[:2]
    channels = kp_net["in"]
    arch: dict[str, Any] = {"num_kp": num_kp, "num_channels": channels}
    jac = _shape(kp, "jacobian.weight")[0] if "jacobian.weight" in kp else 0
    if jac not in (0, 4, 4 * num_kp):
        raise _NotRecognised(f"'jacobian.weight' has {jac} maps, expected 4 or 4 x {num_kp} keypoints")
    arch["estimate_jacobian"] = bool(jac)
    arch.update(kp_block_expansion=kp_net["block_expansion"], kp_max_features=kp_net["max_features"])
    arch.update(kp_num_blocks=kp_net["num_blocks"], kp_scale_factor=_scale_from_kernel(kp, "down.weight"))
    arch["kp_single_jacobian_map"] = jac == 4 and num_kp != 1
    if kp_features != kp_net["block_expansion"] + channels:
        raise _NotRecognised(
            f"'kp.weight' reads {kp_features} channels, the hourglass gives {kp_net['block_expansion'] + channels}"
        )

    if "dense_motion_network.mask.weight" not in gen:
        raise _NotRecognised(
            "the generator has no dense-motion network (dense_motion_params) — not supported"
        )
    motion = _hourglass(gen, "dense_motion_network.hourglass.")
    if motion["in"] != (num_kp + 1) * (channels + 1):
        raise _NotRecognised(
            f"the dense-motion network reads {motion['in']} channels, {num_kp} keypoints give {(num_kp + 1) * (channels + 1)}"
        )
    arch.update(motion_block_expansion=motion["block_expansion"], motion_max_features=motion["max_features"])
    arch["motion_num_blocks"] = motion["num_blocks"]
    arch["motion_scale_factor"] = _scale_from_kernel(gen, "dense_motion_network.down.weight")
    arch["estimate_occlusion_map"] = "dense_motion_network.occlusion.weight" in gen

    expansion = _shape(gen, "first.conv.weight")[0]
    downs = _count(gen, "down_blocks.{}.conv.weight")
    bottleneck = _count(gen, "bottleneck.r{}.conv1.weight")
    widths = [expansion] + [_shape(gen, f"down_blocks.{i}.conv.weight")[0] for i in range(downs)]
    arch.update(block_expansion=expansion, max_features=max(widths), num_down_blocks=downs)
    arch["num_bottleneck_blocks"] = bottleneck
    return arch


def _widths(expansion: int, maximum: int, levels: int) -> list[int]:
    return [min(maximum, expansion * 2**i) for i in range(levels + 1)]


def _check_yaml(arch: Mapping[str, Any], given: Mapping[str, Any], where: Path) -> None:
    """Every architecture value the YAML gives must be what the weights say."""
    levels = {
        "max_features": "num_down_blocks",
        "motion_max_features": "motion_num_blocks",
        "kp_max_features": "kp_num_blocks",
    }
    for key, value in given.items():
        if key not in arch:
            continue
        if key in levels:  # any cap that gives the same widths builds the same network
            prefix = key[: -len("max_features")]
            n = arch[levels[key]]
            same = _widths(arch[f"{prefix}block_expansion"], int(value), n) == _widths(
                arch[f"{prefix}block_expansion"], arch[key], n
            )
        elif isinstance(arch[key], float):
            same = math.isclose(float(value), arch[key], rel_tol=1e-4)
        else:
            same = value == arch[key]
        if not same:
            raise InputError(
                where,
                f"does not describe the checkpoint beside it ({key} is {value!r} here, {arch[key]!r} in the weights)",
            )


def _options(path: Path, arch: Mapping[str, Any], notice: Callable[[str], None]) -> dict[str, Any]:
    """The values the weights do not hold: from the one fitting YAML beside the checkpoint, or
    assumed (with one line saying so)."""
    configs = _yaml_files(path.parent)
    fitting = []
    for where, data in configs:
        values = yaml_values(data)
        try:
            _check_yaml(arch, values, where)
        except InputError:
            if len(configs) == 1:
                raise
            continue
        fitting.append((where, values))
    if not fitting:
        missing = ", ".join(f"{_ASSUMED_WHERE[k]} {v}" for k, v in ASSUMED.items())
        why = (
            "no first-order-model YAML config beside it"
            if not configs
            else "no YAML config beside it fits its weights"
        )
        notice(f"{path}: {why}; assumed {missing} (the published configs' values)")
        return dict(ASSUMED)
    chosen = {k: fitting[0][1].get(k, v) for k, v in ASSUMED.items()}
    for _, values in fitting[1:]:
        other = {k: values.get(k, v) for k, v in ASSUMED.items()}
        if other != chosen:
            names = ", ".join(p.name for p, _ in fitting)
            raise InputError(
                path,
                f"several first-order-model configs beside it fit its weights ({names}) and disagree; keep the one it was trained with",
            )
    return chosen


# ---- the importer ----------------------------------------------------------------------------------------
def generator_section(arch: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """The `model.generator` config that rebuilds the network (registered name `fomm`)."""
    section = {"name": "fomm", **arch}
    section.update({k: options[k] for k in ("kp_temperature", "kp_pad", "motion_kp_variance")})
    section["kp_temperature"] = float(section["kp_temperature"])
    section["motion_kp_variance"] = float(section["motion_kp_variance"])
    return section


def import_fomm(
    path: str | Path, notice: Callable[[str], None] = _stderr
) -> tuple[dict[str, Any], FommGenerator]:
    """The face2img importer hook: (config override, generator with the keypoint detector inside).

    The override sets `model.generator` (network `fomm`), `model.conditioner` (name `fomm`,
    the frame size the reader resizes portrait and driving frames to, relative motion) and
    `data.size`; the generator holds the checkpoint's generator and keypoint-detector weights,
    in eval mode, on the CPU."""
    from i2i_face2img.fomm_nets import FommGenerator

    path = Path(path)
    gen_state, kp_state = read_checkpoint(path)
    try:
        arch = infer_architecture(gen_state, kp_state)
    except _NotRecognised as exc:
        raise InputError(path, f"not a recognised {FORMAT}: {exc}") from None
    options = _options(path, arch, notice)
    section = generator_section(arch, options)
    kwargs = {k: v for k, v in section.items() if k != "name"}
    generator = build_for_weights(lambda: FommGenerator(**kwargs), {**gen_state, **kp_state}, path)
    target = generator.state_dict()
    merged = {**gen_state, **{f"kp_detector.{k}": v for k, v in kp_state.items()}}
    for key, value in target.items():
        if key not in merged:
            if key.endswith("num_batches_tracked"):  # torch < 0.4.1 checkpoints predate it; eval ignores it
                merged[key] = value
                continue
            raise InputError(path, f"not a recognised {FORMAT}: missing weights {_original(key)!r}")
        if tuple(merged[key].shape) != tuple(value.shape):
            raise InputError(
                path,
                f"not a recognised {FORMAT}: {_original(key)!r} has shape {tuple(merged[key].shape)}, expected {tuple(value.shape)}",
            )
    unexpected = sorted(set(merged) - set(target))
    if unexpected:
        raise InputError(path, f"not a recognised {FORMAT}: unexpected key {_original(unexpected[0])!r}")
    generator.load_state_dict(merged, strict=True)
    frame = int(options["frame_size"])
    if frame % generator.size_multiple:
        raise InputError(
            path,
            f"frame size {frame} is not a multiple of {generator.size_multiple}, which this network needs",
        )
    conditioner = {"name": "fomm", "frame_size": frame, "motion": "relative"}
    override = {"model": {"generator": section, "conditioner": conditioner}, "data": {"size": frame}}
    return override, generator.eval()


def _original(key: str) -> str:
    """A key of the i2i generator as the original names it (`kp_detector` entry or `generator`)."""
    return (
        re.sub(r"^kp_detector\.", "kp_detector:", key)
        if key.startswith("kp_detector.")
        else f"generator:{key}"
    )


__all__ = ["import_fomm", "infer_architecture", "read_checkpoint", "yaml_values"]
