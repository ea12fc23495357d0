"""img2img's importer of ESRGAN and Real-ESRGAN generators (RRDBNet ``.pth`` files).

Recognising the file is spandrel's work (a maintained library that knows the published
super-resolution architectures by their keys):

- the checkpoint is read with ``torch.load(weights_only=True)`` (``.safetensors`` with safetensors)
  and unwrapped by spandrel
  (``{"params_ema": ...}`` / ``{"params": ...}`` of BasicSR and Real-ESRGAN, ``module.`` prefixes);
- spandrel's detectors name the architecture; anything but its ``ESRGAN`` (RRDBNet) is refused
  with the name spandrel found (a SwinIR or Real-ESRGAN's SRVGGNetCompact is not silently run as
  something else: img2img rebuilds only RRDBNet);
- spandrel converts the three RRDBNet key layouts (the original ESRGAN release ``model.0`` /
  ``model.1.sub.0.RDB1.conv1.0``, the later ESRGAN repository ``conv_first`` / ``RRDB_trunk``, BasicSR
  and Real-ESRGAN ``conv_first`` / ``body.0.rdb1`` / ``conv_up1``) to the first one, which is the
  layout of `i2i_img2img.rrdb.RRDBNet`, so the weights load with a strict ``load_state_dict``.

The hyper-parameters are read off the tensor shapes of that layout: in/out channels, nf (first
convolution), nb (number of RRDBs), gc (growth channels of the first dense convolution: spandrel
itself assumes 32), the number of x2 upsampling stages and Real-ESRGAN's pixel-unshuffle (x2
models: the first convolution reads 4x the image channels, x1 models 16x). The weights say
everything the network needs; one stage of upsampling is read as x2 (an x3 model has the same keys:
spandrel makes the same assumption).

torch and spandrel are imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from i2i.errors import InputError
from i2i.nets.foreign import build_for_weights, load_torch_file

if TYPE_CHECKING:
    from torch import Tensor

    from i2i_img2img.rrdb import RRDBGenerator

FORMAT = "ESRGAN RRDBNet"


class _NotRRDB(Exception):
    """The state dict is not an RRDBNet img2img can rebuild; the message says why (one line)."""


def import_esrgan(path: str | Path) -> tuple[dict[str, Any], RRDBGenerator]:
    """The img2img modality's importer hook: (config override, generator) of an ESRGAN/Real-ESRGAN file.

    The override selects the `rrdb` generator with the inferred hyper-parameters, a super-resolution
    conditioner and data settings (task sr, the model's scale), so the imported model runs, saves as
    an i2i model file, exports and fine-tunes (`i2i-train --init`) like any other.
    """
    config, generator = load_esrgan(path)
    override = {
        "model": {
            "generator": config,
            "conditioner": {"task": "sr", "input_channels": config["in_nc"]},
        },
        "data": {"task": "sr", "scale": config["scale"], "input_channels": config["in_nc"]},
    }
    return override, generator


def load_esrgan(path: str | Path) -> tuple[dict[str, Any], RRDBGenerator]:
    """(generator config for the `rrdb` factory, RRDBGenerator with the file's weights, eval, CPU)."""
    state = _read(path)
    arch = detect_architecture(state)
    if arch is None:
        sample = ", ".join(repr(k) for k in list(state)[:3])
        raise InputError(
            path, f"not an {FORMAT}: spandrel recognises no architecture in its keys ({sample}, ...)"
        )
    if arch != "ESRGAN":
        raise InputError(
            path,
            f"not an {FORMAT}: spandrel recognises it as a {arch} model, which img2img does not import "
            "(it rebuilds only ESRGAN/Real-ESRGAN RRDBNet)",
        )
    try:
        canonical = _to_original_layout(state)
        config = infer_config(canonical)
        generator = build_for_weights(lambda: _build(config), canonical, path)
        missing = generator.net.load_state_dict(canonical, strict=False)
        if missing.missing_keys or missing.unexpected_keys:
            extra = (missing.unexpected_keys or missing.missing_keys)[0]
            side = "unexpected" if missing.unexpected_keys else "missing"
            raise _NotRRDB(f"{side} key {extra!r}")
    except _NotRRDB as exc:
        raise InputError(path, f"looks like an {FORMAT} but {exc}") from None
    except RuntimeError as exc:  # a shape that does not fit the inferred network
        first = str(exc).strip().splitlines()[-1].strip()[:160]
        raise InputError(path, f"looks like an {FORMAT} but its weights do not fit ({first})") from None
    return config, generator.eval()


# ---- reading -----------------------------------------------------------------------------------
def _read(path: str | Path) -> dict[str, Tensor]:
    import torch
    from spandrel import canonicalize_state_dict

    path = Path(path)
    if path.suffix.lower() == ".safetensors":  # as chaiNNer / spandrel users keep them
        from safetensors.torch import load_file

        if not path.is_file():
            raise InputError(path, "no such file")
        try:
            obj = load_file(path, device="cpu")
        except Exception as exc:  # a torn or foreign safetensors file
            first = (str(exc).strip().splitlines() or [""])[0][:160]
            raise InputError(path, f"not a PyTorch checkpoint ({type(exc).__name__}: {first})") from None
    else:
        obj = load_torch_file(path)
    if not isinstance(obj, Mapping):
        raise InputError(path, f"not a state dict of tensors (got {type(obj).__name__})")
    state = canonicalize_state_dict(dict(obj))  # params_ema / params / state_dict, module. prefix
    if not isinstance(state, Mapping) or not state:
        raise InputError(path, "not a state dict of tensors (empty)")
    tensors = {k: v for k, v in state.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if len(tensors) != len(state):
        raise InputError(path, "not a state dict of tensors (it holds other objects)")
    return tensors


def detect_architecture(state: Mapping[str, Tensor]) -> str | None:
    """The id of the first spandrel architecture whose detector accepts `state` (in spandrel's
    detection order), or None."""
    from spandrel import MAIN_REGISTRY

    for support in MAIN_REGISTRY.architectures("detection"):
        try:
            if support.detect(state):
                return str(support.architecture.id)
        except Exception:  # a detector that trips over an odd state dict did not detect it
            continue
    return None


def _to_original_layout(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Every RRDBNet key layout -> the original ESRGAN release's (spandrel's converter)."""
    from spandrel.architectures.ESRGAN import _to_old_arch

    if any(".conv1x1." in k for k in state):
        raise _NotRRDB(
            "it is an ESRGAN+ network (1x1 convolutions in its dense blocks), which img2img does not import"
        )
    try:
        return dict(_to_old_arch(dict(state)))
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise _NotRRDB(
            f"its keys do not convert to the RRDBNet layout ({type(exc).__name__}: {exc})"
        ) from None


# ---- architecture ------------------------------------------------------------------------------
def _shape(state: Mapping[str, Tensor], key: str) -> tuple[int, ...]:
    if key not in state:
        raise _NotRRDB(f"it has no {key!r}")
    shape = tuple(state[key].shape)
    if len(shape) != 4:
        raise _NotRRDB(f"{key!r} has shape {shape}, not a 2-D convolution's")
    return shape


def infer_config(state: Mapping[str, Tensor]) -> dict[str, Any]:
    """The `rrdb` generator config of an RRDBNet state dict in the original ESRGAN layout."""
    from spandrel.util import get_seq_len

    nf, first_in = _shape(state, "model.0.weight")[:2]
    nb = get_seq_len(state, "model.1.sub") - 1
    if nb < 1:
        raise _NotRRDB("it has no RRDB blocks ('model.1.sub.0...')")
    _shape(state, f"model.1.sub.{nb}.weight")  # the trunk's closing convolution
    gc = _shape(state, "model.1.sub.0.RDB1.conv1.0.weight")[0]
    length = get_seq_len(state, "model")
    n_up, rest = divmod(length - 5, 3)  # conv, trunk, (upsample, conv, act) * n, conv, act, conv
    if length < 5 or rest:
        raise _NotRRDB(f"its 'model' sequence has {length} layers, which is no RRDBNet upsampler")
    out_nc = _shape(state, f"model.{length - 1}.weight")[0]
    unshuffle = {out_nc * 4: 2, out_nc * 16: 4}.get(first_in, 1)  # Real-ESRGAN x2 / x1 (as spandrel)
    in_nc = first_in // (unshuffle * unshuffle)
    upsample = 2**n_up
    if upsample % unshuffle:
        raise _NotRRDB(f"pixel-unshuffle x{unshuffle} with only x{upsample} upsampling")
    if in_nc not in (1, 3) or out_nc not in (1, 3):
        raise _NotRRDB(f"it reads {in_nc} and writes {out_nc} channels (img2img takes 1 or 3)")
    return {
        "name": "rrdb",
        "in_nc": int(in_nc),
        "out_nc": int(out_nc),
        "nf": int(nf),
        "nb": int(nb),
        "gc": int(gc),
        "scale": upsample // unshuffle,
        "unshuffle": unshuffle,
    }


def _build(config: Mapping[str, Any]) -> RRDBGenerator:
    from i2i_img2img.rrdb import RRDBGenerator

    kwargs = {k: v for k, v in config.items() if k != "name"}
    try:
        return RRDBGenerator(**kwargs)
    except ValueError as exc:
        raise _NotRRDB(str(exc)) from None


__all__ = ["detect_architecture", "import_esrgan", "infer_config", "load_esrgan"]
