"""sRGB <-> CIE Lab on tensors, with scikit-image's conventions, for any image plugin.

Colorization models often predict the chroma (a, b) of CIE Lab from the lightness L (the original
pix2pix colorization model does: input L / 50 - 1, output ab / 110). Their inputs and outputs must
then be converted exactly as in the training code, which used `skimage.color.rgb2lab` and
`lab2rgb`: sRGB (IEC 61966-2-1) with its piecewise gamma, the same XYZ matrix, the D65 white of the
2-degree observer (0.95047, 1, 1.08883), and skimage's thresholds (0.008856 and 0.2068966, slope
7.787), negative Z clipped to 0 and the result clipped to [0, 1].

These are torch ports rather than calls into skimage so that they run on any device, inside a
batch, under autograd (a generator can output RGB made from its Lab prediction and still train
with image losses) and in an exported ONNX graph. Tests check them against skimage itself.

Images are (..., 3, H, W): RGB in [0, 1]; Lab with L in [0, 100]. Arithmetic is done in float32
(float64 inputs stay float64); the result has the input's floating dtype.
"""

from __future__ import annotations

import torch
from torch import Tensor

# skimage.color.colorconv.xyz_from_rgb (sRGB primaries, D65); rgb_from_xyz is its inverse.
XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
# device="cpu": this module may first be imported while a network is built under
# `torch.device("meta")` (the size probe of i2i.nets.foreign), where a tensor has no data.
RGB_FROM_XYZ: tuple[tuple[float, ...], ...] = tuple(
    tuple(row)
    for row in torch.linalg.inv(torch.tensor(XYZ_FROM_RGB, dtype=torch.float64, device="cpu")).tolist()
)
WHITE_D65 = (0.95047, 1.0, 1.08883)  # skimage's D65 / 2-degree tristimulus values, Y = 1

_EPSILON = 0.008856  # f(t) = t^(1/3) above, 7.787 t + 16/116 below (skimage's constants)
_F_EPSILON = 0.2068966  # the same threshold on f's side, for the inverse
_KAPPA = 7.787


def _work(t: Tensor) -> Tensor:
    """float32 at least: bf16/fp16 cannot hold L to 1e-4, and integers are not images."""
    return t.double() if t.dtype == torch.float64 else t.float()


def _mix(m: tuple[tuple[float, ...], ...], x: Tensor) -> Tensor:
    """Each pixel's 3-vector times the 3x3 matrix m, channels at dim -3 (plain scalar products:
    cheap, any device, and a small ONNX graph)."""
    c = x.unbind(-3)
    return torch.stack([m[i][0] * c[0] + m[i][1] * c[1] + m[i][2] * c[2] for i in range(3)], dim=-3)


def srgb_to_linear(rgb: Tensor) -> Tensor:
    """sRGB values in [0, 1] -> linear light (the inverse gamma of IEC 61966-2-1)."""
    high = ((rgb.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4
    return torch.where(rgb > 0.04045, high, rgb / 12.92)


def linear_to_srgb(linear: Tensor) -> Tensor:
    """Linear light -> sRGB values, not clipped (the sRGB gamma)."""
    high = 1.055 * linear.clamp(min=0.0031308) ** (1 / 2.4) - 0.055
    return torch.where(linear > 0.0031308, high, linear * 12.92)


def _f(t: Tensor) -> Tensor:
    return torch.where(t > _EPSILON, t.clamp(min=_EPSILON) ** (1 / 3), _KAPPA * t + 16.0 / 116.0)


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """(..., 3, H, W) sRGB in [0, 1] -> CIE Lab (L in [0, 100]), as `skimage.color.rgb2lab`."""
    x = _work(rgb)
    xyz = _mix(XYZ_FROM_RGB, srgb_to_linear(x))
    white = torch.tensor(WHITE_D65, dtype=x.dtype, device=x.device).view(3, 1, 1)
    fx, fy, fz = _f(xyz / white).unbind(-3)
    lab = torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=-3)
    return lab.to(rgb.dtype) if rgb.is_floating_point() else lab


def rgb_to_lightness(rgb: Tensor) -> Tensor:
    """(..., 3, H, W) sRGB in [0, 1] -> (..., 1, H, W) CIE L* in [0, 100]: the L of `rgb_to_lab`
    without computing a and b (L depends on the luminance Y alone)."""
    x = _work(rgb)
    r, g, b = srgb_to_linear(x).unbind(-3)
    m = XYZ_FROM_RGB[1]
    y = (m[0] * r + m[1] * g + m[2] * b) / WHITE_D65[1]
    lightness = (116.0 * _f(y) - 16.0).unsqueeze(-3)
    return lightness.to(rgb.dtype) if rgb.is_floating_point() else lightness


def lab_to_rgb(lab: Tensor) -> Tensor:
    """(..., 3, H, W) CIE Lab -> sRGB in [0, 1], as `skimage.color.lab2rgb`: negative Z is clipped
    to 0 (skimage warns about it; here it is silent) and out-of-gamut colours are clipped."""
    x = _work(lab)
    lightness, a, b = x.unbind(-3)
    fy = (lightness + 16.0) / 116.0
    f = torch.stack([a / 500.0 + fy, fy, (fy - b / 200.0).clamp(min=0)], dim=-3)
    t = torch.where(f > _F_EPSILON, f**3, (f - 16.0 / 116.0) / _KAPPA)
    xyz = t * torch.tensor(WHITE_D65, dtype=x.dtype, device=x.device).view(3, 1, 1)
    rgb = linear_to_srgb(_mix(RGB_FROM_XYZ, xyz)).clamp(0.0, 1.0)
    return rgb.to(lab.dtype) if lab.is_floating_point() else rgb


__all__ = [
    "RGB_FROM_XYZ",
    "WHITE_D65",
    "XYZ_FROM_RGB",
    "lab_to_rgb",
    "linear_to_srgb",
    "rgb_to_lab",
    "rgb_to_lightness",
    "srgb_to_linear",
]
