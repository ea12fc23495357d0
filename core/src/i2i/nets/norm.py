"""Normalisation choices and spectral normalisation, named by the strings configs use.

The three kinds reproduce what the original pix2pix/CycleGAN code builds for ``--norm``, so that
networks built here can load its checkpoints key for key:

- "batch": BatchNorm2d, affine, with running statistics (eval mode uses them).
- "instance": InstanceNorm2d without affine parameters and without running statistics; the
  original's default for CycleGAN. Because it has no shift, the convolutions before it keep a bias.
- "none": no normalisation at all (Identity).
"""

from __future__ import annotations

from torch import nn

NORM_KINDS = ("batch", "instance", "none")


def check_norm(kind: str) -> str:
    """Return `kind` if it is a known normalisation, else raise ValueError naming the choices."""
    if kind not in NORM_KINDS:
        raise ValueError(f"norm must be one of {', '.join(NORM_KINDS)}; got {kind!r}")
    return kind


def norm_layer(kind: str, channels: int) -> nn.Module:
    """A normalisation layer of `kind` ("batch", "instance" or "none") over `channels` channels."""
    check_norm(kind)
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


def conv_bias(kind: str) -> bool:
    """Whether a convolution followed by a `kind` norm needs its own bias.

    BatchNorm has a learned shift, which makes a bias redundant. The original code gives a bias only
    when the norm is InstanceNorm (even for "none"), and matching that keeps checkpoints loadable.
    """
    return check_norm(kind) == "instance"


_SPECTRAL_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)


def maybe_spectral(module: nn.Module, enabled: bool) -> nn.Module:
    """Put spectral normalisation on every convolution (and linear layer) in `module` when `enabled`.

    Spectral normalisation bounds each layer's Lipschitz constant, which stabilises discriminators
    (SN-GAN); it is opt-in because the original PatchGAN does not use it. Works on a single layer or
    on a container (all matching layers inside it); returns `module` itself for chaining.
    """
    if not enabled:
        return module
    from torch.nn.utils.parametrizations import spectral_norm

    targets = [m for m in module.modules() if isinstance(m, _SPECTRAL_TYPES) and not _is_spectral(m)]
    for layer in targets:
        # ConvTranspose stores weights as (in, out, ...): its output dimension is 1.
        dim = 1 if isinstance(layer, nn.ConvTranspose2d) else 0
        spectral_norm(layer, dim=dim)
    return module


def _is_spectral(layer: nn.Module) -> bool:
    from torch.nn.utils import parametrize

    if not parametrize.is_parametrized(layer, "weight"):
        return False
    return any(type(p).__name__ == "_SpectralNorm" for p in layer.parametrizations.weight)


def has_spectral_norm(module: nn.Module) -> bool:
    """Whether any layer inside `module` carries a spectral-norm parametrisation."""
    return any(_is_spectral(m) for m in module.modules())
