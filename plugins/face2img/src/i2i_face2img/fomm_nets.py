"""First Order Motion Model networks (Siarohin et al., NeurIPS 2019) as i2i networks.

A portrait is animated by a driving video in three learned stages:

1. a keypoint detector (hourglass -> K softmax heatmaps) finds K keypoints, each with the 2x2
   Jacobian of the motion around it, in the portrait and in the driving frame;
2. a dense-motion network turns the K local affine motions (plus the identity, for the
   background) into one dense backward flow and an occlusion map, at a reduced resolution;
3. a ResNet-style generator encodes the portrait, warps its features with the flow, multiplies
   them by the occlusion map and decodes the frame (sigmoid output in [0, 1]).

At inference the motion is taken relative to the driving video's first frame and moved onto the
portrait's own keypoints, scaled by the ratio of the keypoints' convex-hull areas
(`relative_motion`), as the original demo does with ``--relative --adapt_scale``.

The keypoint detector lives inside the i2i generator: the keypoints are an internal bottleneck
that the generator's losses (and the equivariance terms of the ``fomm`` recipe) train, and an
importer returns one network. Module names follow the original checkpoint layout (``first``,
``down_blocks``, ``dense_motion_network.hourglass...``, ``kp_detector.predictor...``) so its
state dicts load without a key map; the code is i2i's own.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i.interfaces import Condition, Discriminator, DOutput, Generator


class Keypoints(NamedTuple):
    """K keypoints per image: `value` (B,K,2) as (x, y) in [-1, 1], `jacobian` (B,K,2,2) or None."""

    value: Tensor
    jacobian: Tensor | None = None

    def take(self, index: Tensor | slice) -> Keypoints:
        """Rows of the batch (`index` along dim 0)."""
        jac = None if self.jacobian is None else self.jacobian[index]
        return Keypoints(self.value[index], jac)

    def expand(self, batch: int) -> Keypoints:
        """A batch of one repeated `batch` times (a video's portrait for every frame)."""
        jac = None if self.jacobian is None else self.jacobian.expand(batch, -1, -1, -1)
        return Keypoints(self.value.expand(batch, -1, -1), jac)


# ---- geometry -------------------------------------------------------------------------------------
def coordinate_grid(h: int, w: int, like: Tensor) -> Tensor:
    """(h, w, 2) pixel-centre coordinates in [-1, 1], last dim (x, y), in `like`'s dtype/device.

    The corner pixels sit at exactly -1 and 1 (the convention the keypoints are expressed in)."""
    x = torch.arange(w, dtype=like.dtype, device=like.device)
    y = torch.arange(h, dtype=like.dtype, device=like.device)
    x = 2 * (x / (w - 1)) - 1
    y = 2 * (y / (h - 1)) - 1
    return torch.stack([x.view(1, w).expand(h, w), y.view(h, 1).expand(h, w)], dim=-1)


def keypoint_gaussians(value: Tensor, h: int, w: int, variance: float) -> Tensor:
    """(B,K,2) keypoints -> (B,K,h,w) isotropic Gaussian blobs of the given variance."""
    grid = coordinate_grid(h, w, value)
    diff = grid.view(1, 1, h, w, 2) - value.view(*value.shape[:2], 1, 1, 2)
    return torch.exp(-0.5 * diff.pow(2).sum(-1) / variance)


def upsample_flow(flow: Tensor, size: tuple[int, int]) -> Tensor:
    """A (B,h,w,2) sampling grid resized to (B,H,W,2) bilinearly (no-op at the same size)."""
    if tuple(flow.shape[1:3]) == tuple(size):
        return flow
    return F.interpolate(flow.permute(0, 3, 1, 2), size=size, mode="bilinear").permute(0, 2, 3, 1)


def anti_alias_kernel(channels: int, scale: float) -> Tensor:
    """The depthwise Gaussian kernel (channels,1,k,k) that band-limits an image before taking
    every (1/scale)-th pixel: sigma = (1/scale - 1) / 2, k = 2 * round(4 sigma) + 1."""
    sigma = (1 / scale - 1) / 2
    size = 2 * round(sigma * 4) + 1
    taps = torch.arange(size, dtype=torch.float32)
    g = torch.exp(-((taps - (size - 1) / 2) ** 2) / (2 * sigma**2))
    kernel = g.view(-1, 1) * g.view(1, -1)
    kernel = kernel / kernel.sum()
    return kernel.view(1, 1, size, size).repeat(channels, 1, 1, 1)


class AntiAliasDownsample(nn.Module):
    """Gaussian blur then keep every (1/scale)-th pixel, as one strided depthwise convolution
    (the same values as blurring everywhere and subsampling, a fraction of the work). The kernel
    is a buffer named `weight`, so it travels in state dicts as the original's does."""

    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        self.register_buffer("weight", anti_alias_kernel(channels, scale))
        size = self.weight.shape[-1]
        self.pad = (size // 2, size // 2 - (1 - size % 2))
        self.stride = int(1 / scale)
        self.channels = channels

    def forward(self, x: Tensor) -> Tensor:
        lo, hi = self.pad
        x = F.pad(x, (lo, hi, lo, hi))
        return F.conv2d(x, self.weight.to(x.dtype), stride=self.stride, groups=self.channels)


def _width(block_expansion: int, max_features: int, level: int) -> int:
    return min(max_features, block_expansion * 2**level)


# ---- building blocks --------------------------------------------------------------------------------
def _folded(conv: nn.Conv2d, norm: nn.BatchNorm2d, upsampling: bool = False) -> tuple[Tensor, Tensor]:
    """Weight and bias of conv followed by `norm` in eval mode (running statistics) as one conv;
    with `upsampling`, of nearest 2x upsampling + that conv as one transposed convolution.

    Kept on the conv until any of the tensors it came from changes (in place, e.g. an optimiser
    step, or by a move to another device or layout): folding a large layer costs as much as a
    small convolution, so it is done once, not per frame."""
    sources = [conv.weight, conv.bias, norm.weight, norm.bias, norm.running_mean, norm.running_var]
    key = (upsampling, *((t._version, t.data_ptr()) if t is not None else None for t in sources))
    cache = conv.__dict__.setdefault("_i2i_folded", {})  # not a buffer: never saved
    if cache.get(upsampling, (None,))[0] == key:
        return cache[upsampling][1], cache[upsampling][2]
    with torch.no_grad():
        scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
        weight = conv.weight * scale.view(-1, 1, 1, 1)
        bias = (bias - norm.running_mean) * scale + norm.bias
        if upsampling:
            layout = torch.channels_last if weight.is_contiguous(memory_format=torch.channels_last) else None
            weight = upsampling_deconv_weight(weight)
            weight = weight.contiguous(memory_format=layout) if layout is not None else weight
    cache[upsampling] = (key, weight, bias)
    return weight, bias


def upsampling_deconv_weight(weight: Tensor) -> Tensor:
    """(out, in, 3, 3) weight of a padded 3x3 conv applied after nearest 2x upsampling -> the
    (in, out, 4, 4) weight of the transposed convolution (stride 2, padding 1) that computes the
    same output from the small input: along each axis output 2i takes input i-1 with tap 0 and
    input i with taps 1 + 2, output 2i+1 input i with taps 0 + 1 and input i+1 with tap 2. Same
    values with 16 instead of 36 multiplications per input pixel and output channel."""

    def along(w: Tensor, dim: int) -> Tensor:
        t0, t1, t2 = w.unbind(dim)
        return torch.stack([t2, t1 + t2, t0 + t1, t0], dim)

    return along(along(weight, 2), 3).transpose(0, 1).contiguous()


class ConvBlock(nn.Module):
    """conv -> BatchNorm -> ReLU; `resample` "down" average-pools by 2 after, "up" doubles the
    size (nearest) before."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, resample: str | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2)
        self.norm = nn.BatchNorm2d(c_out)
        self.resample = resample

    def forward(self, x: Tensor) -> Tensor:
        if self.training or torch.is_grad_enabled():
            if self.resample == "up":
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = self.norm(self.conv(x))
        elif self.resample == "up" and self.conv.kernel_size == (3, 3) and x.shape[-2] * x.shape[-1] >= 64:
            # upsampling + conv + BatchNorm as one transposed conv (2x faster from 8x8 up, measured)
            weight, bias = _folded(self.conv, self.norm, upsampling=True)
            x = F.conv_transpose2d(x, weight, bias, stride=2, padding=1)
        else:  # the eval BatchNorm folded into the convolution: one pass over the output fewer
            if self.resample == "up":
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            weight, bias = _folded(self.conv, self.norm)
            x = F.conv2d(x, weight, bias, padding=self.conv.padding)
        x = F.relu(x)
        return F.avg_pool2d(x, 2) if self.resample == "down" else x


class ResidualBlock(nn.Module):
    """Pre-activation residual block: x + conv(relu(bn(conv(relu(bn(x))))))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        if self.training or torch.is_grad_enabled():
            out = F.relu(self.norm2(self.conv1(F.relu(self.norm1(x)))))
        else:  # norm2 folded into conv1 (norm1 comes before a ReLU: it cannot be)
            weight, bias = _folded(self.conv1, self.norm2)
            out = F.relu(F.conv2d(F.relu(self.norm1(x)), weight, bias, padding=1))
        return x + self.conv2(out)


class Hourglass(nn.Module):
    """U-Net-like encoder/decoder: `num_blocks` halvings, widths block_expansion * 2^i capped at
    max_features, skip concatenations; output channels block_expansion + in_features."""

    def __init__(self, in_features: int, block_expansion: int, num_blocks: int, max_features: int) -> None:
        super().__init__()
        w = [_width(block_expansion, max_features, i) for i in range(num_blocks + 1)]
        downs = [
            ConvBlock(in_features if i == 0 else w[i], w[i + 1], resample="down") for i in range(num_blocks)
        ]
        ups = [
            ConvBlock((1 if i == num_blocks - 1 else 2) * w[i + 1], w[i], resample="up")
            for i in reversed(range(num_blocks))
        ]
        self.encoder = nn.ModuleDict({"down_blocks": nn.ModuleList(downs)})
        self.decoder = nn.ModuleDict({"up_blocks": nn.ModuleList(ups)})
        self.out_channels = w[0] + in_features

    def forward(self, x: Tensor) -> Tensor:
        skips = [x]
        for down in self.encoder["down_blocks"]:
            skips.append(down(skips[-1]))
        out = skips.pop()
        for up in self.decoder["up_blocks"]:
            out = torch.cat([up(out), skips.pop()], dim=1)
        return out


# ---- keypoints ----------------------------------------------------------------------------------------
class KeypointDetector(nn.Module):
    """Image in [0, 1] -> Keypoints: the expected position under each softmax heatmap (with
    `temperature`), and the heatmap-weighted average of a predicted 2x2 Jacobian per keypoint."""

    def __init__(
        self,
        num_kp: int,
        num_channels: int = 3,
        block_expansion: int = 32,
        max_features: int = 1024,
        num_blocks: int = 5,
        temperature: float = 0.1,
        estimate_jacobian: bool = True,
        scale_factor: float = 0.25,
        single_jacobian_map: bool = False,
        pad: int = 0,
    ) -> None:
        super().__init__()
        self.predictor = Hourglass(num_channels, block_expansion, num_blocks, max_features)
        features = self.predictor.out_channels
        self.kp = nn.Conv2d(features, num_kp, 7, padding=pad)
        self.jacobian_maps = (1 if single_jacobian_map else num_kp) if estimate_jacobian else 0
        if estimate_jacobian:
            self.jacobian = nn.Conv2d(features, 4 * self.jacobian_maps, 7, padding=pad)
            with torch.no_grad():  # start as identity Jacobians, as the paper trains them
                self.jacobian.weight.zero_()
                self.jacobian.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0] * self.jacobian_maps))
        self.temperature = float(temperature)
        self.scale_factor = float(scale_factor)
        if self.scale_factor != 1:
            self.down = AntiAliasDownsample(num_channels, self.scale_factor)

    def forward(self, image: Tensor) -> Keypoints:
        x = self.down(image) if self.scale_factor != 1 else image
        features = self.predictor(x)
        logits = self.kp(features)
        b, k, h, w = logits.shape
        heat = F.softmax(logits.view(b, k, h * w).float() / self.temperature, dim=2).view(b, k, h, w)
        grid = coordinate_grid(h, w, heat)
        value = torch.stack([(heat * grid[..., 0]).sum((2, 3)), (heat * grid[..., 1]).sum((2, 3))], dim=-1)
        if not self.jacobian_maps:
            return Keypoints(value)
        maps = self.jacobian(features).float().view(b, self.jacobian_maps, 4, h, w)
        jacobian = (heat.unsqueeze(2) * maps).sum((3, 4)).view(b, k, 2, 2)
        return Keypoints(value, jacobian)


def convex_hull_area(points: Tensor) -> float:
    """Area of the convex hull of (K,2) points (scipy's Qhull, as the original demo)."""
    from scipy.spatial import ConvexHull

    return float(ConvexHull(points.detach().float().cpu().numpy()).volume)


def relative_motion(
    source: Keypoints, driving: Keypoints, initial: Keypoints, adapt_scale: bool
) -> Keypoints:
    """The driving keypoints' motion since the video's first frame, applied to the portrait's
    keypoints: value = source + s * (driving - initial), jacobian = J_d J_initial^-1 J_source,
    where s = sqrt(hull area of source / hull area of initial) when `adapt_scale` (so a small
    face in the video moves a large face in the portrait as far, relatively), else 1."""
    diff = driving.value - initial.value
    if adapt_scale:
        scales = [
            math.sqrt(convex_hull_area(source.value[i])) / math.sqrt(convex_hull_area(initial.value[i]))
            for i in range(diff.shape[0])
        ]
        diff = diff * torch.tensor(scales, dtype=diff.dtype, device=diff.device).view(-1, 1, 1)
    value = diff + source.value
    if driving.jacobian is None or initial.jacobian is None or source.jacobian is None:
        return Keypoints(value)
    jacobian = driving.jacobian @ torch.inverse(initial.jacobian) @ source.jacobian
    return Keypoints(value, jacobian)


# ---- dense motion -------------------------------------------------------------------------------------
class DenseMotion(nn.Module):
    """(portrait, driving and portrait keypoints) -> a backward flow (B,h,w,2) that, sampled, takes
    the portrait to the driving pose, and an occlusion map (B,1,h,w) or None, at `scale_factor` of
    the input size. The flow is a softmax-weighted mix of K local affine motions plus identity."""

    def __init__(
        self,
        num_kp: int,
        num_channels: int = 3,
        block_expansion: int = 64,
        max_features: int = 1024,
        num_blocks: int = 5,
        scale_factor: float = 0.25,
        kp_variance: float = 0.01,
        estimate_occlusion_map: bool = True,
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        self.num_kp = num_kp
        self.hourglass = Hourglass(
            (num_kp + 1) * (num_channels + 1), block_expansion, num_blocks, max_features
        )
        self.mask = nn.Conv2d(self.hourglass.out_channels, num_kp + 1, 7, padding=3)
        if estimate_occlusion_map:
            self.occlusion = nn.Conv2d(self.hourglass.out_channels, 1, 7, padding=3)
        else:
            self.occlusion = None
        self.scale_factor = float(scale_factor)
        self.kp_variance = float(kp_variance)
        self.align_corners = bool(align_corners)
        if self.scale_factor != 1:
            self.down = AntiAliasDownsample(num_channels, self.scale_factor)

    def sparse_motions(self, h: int, w: int, driving: Keypoints, source: Keypoints) -> Tensor:
        """(B,K+1,h,w,2): for each keypoint, where each driving-frame pixel comes from in the
        portrait under that keypoint's affine motion; index 0 is the identity (background)."""
        b = source.value.shape[0]
        identity = coordinate_grid(h, w, source.value).view(1, 1, h, w, 2)
        offset = identity - driving.value.view(b, self.num_kp, 1, 1, 2)
        if driving.jacobian is not None and source.jacobian is not None:
            affine = source.jacobian @ torch.inverse(driving.jacobian)  # (B,K,2,2)
            offset = torch.einsum("bkij,bkhwj->bkhwi", affine, offset)
        moved = offset + source.value.view(b, self.num_kp, 1, 1, 2)
        return torch.cat([identity.expand(b, 1, h, w, 2), moved], dim=1)

    def forward(
        self, source: Tensor, driving: Keypoints, kp_source: Keypoints
    ) -> tuple[Tensor, Tensor | None]:
        image = self.down(source) if self.scale_factor != 1 else source
        b, c, h, w = image.shape
        k = self.num_kp + 1
        heat = keypoint_gaussians(driving.value, h, w, self.kp_variance) - keypoint_gaussians(
            kp_source.value, h, w, self.kp_variance
        )
        heat = torch.cat([heat.new_zeros(b, 1, h, w), heat], dim=1).unsqueeze(2)  # (B,K+1,1,h,w)
        motions = self.sparse_motions(h, w, driving, kp_source)
        repeated = image.unsqueeze(1).expand(b, k, c, h, w).reshape(b * k, c, h, w)
        deformed = F.grid_sample(
            repeated, motions.reshape(b * k, h, w, 2).to(image.dtype), align_corners=self.align_corners
        ).view(b, k, c, h, w)
        inputs = torch.cat([heat.to(image.dtype), deformed], dim=2).view(b, k * (c + 1), h, w)
        features = self.hourglass(inputs)
        mask = F.softmax(self.mask(features).float(), dim=1)  # (B,K+1,h,w)
        flow = torch.einsum("bkhw,bkhwi->bhwi", mask, motions.float())
        occlusion = torch.sigmoid(self.occlusion(features).float()) if self.occlusion is not None else None
        return flow, occlusion


# ---- the generator --------------------------------------------------------------------------------------
def _same_rows(x: Tensor) -> bool:
    """Whether every row of the batch equals the first (a video's one portrait for all frames)."""
    return x.shape[0] > 1 and bool(torch.equal(x, x[:1].expand_as(x)))


class FommGenerator(Generator):
    """Condition(refs = portrait, parts = {"driving": frame, "driving_initial": the video's first
    frame (relative motion; absent: absolute)}) -> the portrait moved as the driving face, in
    [-1, 1]. No noise. In eval mode a batch whose portraits (or first frames) are all the same is
    encoded and detected once, so a chunk of video frames shares that work."""

    def __init__(
        self,
        num_kp: int = 10,
        num_channels: int = 3,
        estimate_jacobian: bool = True,
        block_expansion: int = 64,
        max_features: int = 512,
        num_down_blocks: int = 2,
        num_bottleneck_blocks: int = 6,
        estimate_occlusion_map: bool = True,
        motion_block_expansion: int = 64,
        motion_max_features: int = 1024,
        motion_num_blocks: int = 5,
        motion_scale_factor: float = 0.25,
        motion_kp_variance: float = 0.01,
        kp_block_expansion: int = 32,
        kp_max_features: int = 1024,
        kp_num_blocks: int = 5,
        kp_temperature: float = 0.1,
        kp_scale_factor: float = 0.25,
        kp_single_jacobian_map: bool = False,
        kp_pad: int = 0,
        adapt_movement_scale: bool = True,
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        self.kp_detector = KeypointDetector(
            num_kp, num_channels, kp_block_expansion, kp_max_features, kp_num_blocks, kp_temperature,
            estimate_jacobian, kp_scale_factor, kp_single_jacobian_map, kp_pad,
        )  # fmt: skip
        self.dense_motion_network = DenseMotion(
            num_kp, num_channels, motion_block_expansion, motion_max_features, motion_num_blocks,
            motion_scale_factor, motion_kp_variance, estimate_occlusion_map, align_corners,
        )  # fmt: skip
        w = [_width(block_expansion, max_features, i) for i in range(num_down_blocks + 1)]
        self.first = ConvBlock(num_channels, block_expansion, kernel=7)
        self.down_blocks = nn.ModuleList(
            ConvBlock(w[i], w[i + 1], resample="down") for i in range(num_down_blocks)
        )
        self.bottleneck = nn.Sequential(
            OrderedDict((f"r{i}", ResidualBlock(w[-1])) for i in range(num_bottleneck_blocks))
        )
        self.up_blocks = nn.ModuleList(
            ConvBlock(w[i + 1], w[i], resample="up") for i in reversed(range(num_down_blocks))
        )
        self.final = nn.Conv2d(block_expansion, num_channels, 7, padding=3)
        self.adapt_movement_scale = bool(adapt_movement_scale)
        self.align_corners = bool(align_corners)
        motion_stride = int(1 / motion_scale_factor) * 2**motion_num_blocks
        kp_stride = int(1 / kp_scale_factor) * 2**kp_num_blocks
        self._multiple = math.lcm(2**num_down_blocks, motion_stride, kp_stride)
        self._inference_cache: dict[str, tuple] = {}  # see _once; never saved

    @property
    def size_multiple(self) -> int:  # type: ignore[override]
        return self._multiple

    def train(self, mode: bool = True) -> FommGenerator:
        """In eval mode the weights (and so the activations) are kept channels-last: measured 1.4x
        faster inference on a 2-core CPU than the contiguous layout, same values (fp32)."""
        super().train(mode)
        self._inference_cache.clear()
        if not mode:
            self.to(memory_format=torch.channels_last)
        return self

    # ---- pieces the recipe and the tests call ----------------------------------------------
    def keypoints(self, image01: Tensor) -> Keypoints:
        """Keypoints of images in [0, 1]."""
        return self.kp_detector(image01)

    def encode(self, source01: Tensor) -> Tensor:
        """The portrait's features before warping."""
        out = self.first(source01)
        for down in self.down_blocks:
            out = down(out)
        return out

    def animate(
        self, source01: Tensor, kp_source: Keypoints, kp_driving: Keypoints, features: Tensor | None = None
    ) -> Tensor:
        """The portrait (in [0, 1]) moved from its keypoints to `kp_driving`: the frame in [0, 1].
        `features`: the portrait's `encode`, when already at hand."""
        features = self.encode(source01) if features is None else features
        flow, occlusion = self.dense_motion_network(source01, kp_driving, kp_source)
        size = features.shape[2:]
        features = F.grid_sample(
            features, upsample_flow(flow, size).to(features.dtype), align_corners=self.align_corners
        )
        if occlusion is not None:
            if occlusion.shape[2:] != size:
                occlusion = F.interpolate(occlusion, size=size, mode="bilinear")
            features = features * occlusion.to(features.dtype)
        out = self.bottleneck(features)
        for up in self.up_blocks:
            out = up(out)
        return torch.sigmoid(self.final(out))

    # ---- inference: a video's portrait and first frame are worked on once ------------------------
    def _weights_key(self) -> tuple[int, int]:
        """Changes whenever any weight or statistic changes in place or moves."""
        versions = sum(t._version for t in self.parameters()) + sum(t._version for t in self.buffers())
        return versions, self.first.conv.weight.data_ptr()

    def _once(self, name: str, images: Tensor, work: Callable[[Tensor], tuple]) -> tuple:
        """work(image) for a batch whose rows are all one image, remembered from the previous call
        while the image and the weights stay the same (the frames of one video arrive in chunks,
        each with the same portrait and first frame). Outputs of a batch of one."""
        one = images[:1]
        key = self._weights_key()
        kept = self._inference_cache.get(name)
        if kept is not None and kept[0] == key and kept[1].shape == one.shape and torch.equal(kept[1], one):
            return kept[2]
        out = work(one)
        self._inference_cache[name] = (key, one.clone(), out)
        return out

    def _portrait(self, source: Tensor) -> tuple[Tensor | None, Keypoints]:
        """(features or None, keypoints) of the portraits, shared across the batch in inference."""
        b = source.shape[0]
        if self.training or torch.is_grad_enabled() or not (b == 1 or _same_rows(source)):
            return None, self.keypoints(source)
        features, kp = self._once("portrait", source, lambda x: (self.encode(x), self.keypoints(x)))
        return features.expand(b, -1, -1, -1), kp.expand(b)

    def _initial(self, initial: Tensor) -> Keypoints:
        b = initial.shape[0]
        if self.training or torch.is_grad_enabled() or not (b == 1 or _same_rows(initial)):
            return self.keypoints(initial)
        return self._once("initial", initial, lambda x: (self.keypoints(x),))[0].expand(b)

    def forward(self, cond: Condition, z: Tensor | None = None) -> Tensor:
        if cond.refs is None or "driving" not in cond.parts:
            raise ValueError("the first-order-model generator needs refs (the portrait) and parts['driving']")
        b = cond.refs.shape[0]
        if b > 1 and not self.training and not torch.is_grad_enabled() and cond.refs.device.type == "cpu":
            # one frame at a time: on a CPU a batch of 256x256 frames outgrows the caches (measured
            # 1.2x slower per frame at 8 than at 1); the portrait's work is shared all the same
            return torch.cat(
                [self._animate_condition(cond.map(lambda t, i=i: t[i : i + 1])) for i in range(b)]
            )
        return self._animate_condition(cond)

    def _animate_condition(self, cond: Condition) -> Tensor:
        assert cond.refs is not None
        channels_last = self.first.conv.weight.is_contiguous(memory_format=torch.channels_last)

        def image(t: Tensor) -> Tensor:
            t = (t + 1) / 2
            return t.contiguous(memory_format=torch.channels_last) if channels_last else t

        source, driving = image(cond.refs), image(cond.parts["driving"])
        features, kp_source = self._portrait(source)
        kp_driving = self.keypoints(driving)
        if "driving_initial" in cond.parts:
            kp_initial = self._initial(image(cond.parts["driving_initial"]))
            kp_driving = relative_motion(kp_source, kp_driving, kp_initial, self.adapt_movement_scale)
        return self.animate(source, kp_source, kp_driving, features) * 2 - 1


# ---- the discriminator ---------------------------------------------------------------------------------
class _DBlock(nn.Module):
    """4x4 conv (spectral norm), optional affine InstanceNorm, LeakyReLU 0.2, optional 2x2 pool."""

    def __init__(self, c_in: int, c_out: int, norm: bool, pool: bool, sn: bool) -> None:
        super().__init__()
        conv = nn.Conv2d(c_in, c_out, 4)
        self.conv = nn.utils.spectral_norm(conv) if sn else conv
        self.norm = nn.InstanceNorm2d(c_out, affine=True) if norm else None
        self.pool = pool

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        x = F.leaky_relu(x, 0.2)
        return F.avg_pool2d(x, 2) if self.pool else x


class _FommPatchD(nn.Module):
    def __init__(
        self, num_channels: int, block_expansion: int, num_blocks: int, max_features: int, sn: bool
    ) -> None:
        super().__init__()
        blocks = [
            _DBlock(
                num_channels if i == 0 else _width(block_expansion, max_features, i),
                _width(block_expansion, max_features, i + 1),
                norm=i != 0,
                pool=i != num_blocks - 1,
                sn=sn,
            )
            for i in range(num_blocks)
        ]
        self.down_blocks = nn.ModuleList(blocks)
        conv = nn.Conv2d(_width(block_expansion, max_features, num_blocks), 1, 1)
        self.conv = nn.utils.spectral_norm(conv) if sn else conv

    def forward(self, x: Tensor) -> DOutput:
        features = []
        for block in self.down_blocks:
            x = block(x)
            features.append(x)
        return DOutput(self.conv(x), features)


class FommDiscriminator(Discriminator):
    """The paper's pix2pix-like patch discriminator on the image (in [0, 1], as the original
    feeds it), one per pyramid scale (anti-aliased downsampling); keypoint heatmaps as extra input
    (`use_kp`) are not offered: none of the published configs use them."""

    def __init__(
        self,
        scales: tuple[float, ...] | list[float] = (1,),
        num_channels: int = 3,
        block_expansion: int = 32,
        num_blocks: int = 4,
        max_features: int = 512,
        sn: bool = True,
    ) -> None:
        super().__init__()
        self.scales = [float(s) for s in scales]
        self.discs = nn.ModuleDict(
            {
                str(s).replace(".", "-"): _FommPatchD(
                    num_channels, block_expansion, num_blocks, max_features, sn
                )
                for s in scales
            }
        )
        self.downs = nn.ModuleDict(
            {str(s).replace(".", "-"): AntiAliasDownsample(num_channels, s) for s in scales if float(s) != 1}
        )

    def forward(self, image: Tensor, cond: Condition) -> list[DOutput]:
        x = (image + 1) / 2
        outs = []
        for key, disc in self.discs.items():
            outs.append(disc(self.downs[key](x) if key in self.downs else x))
        return outs


def fomm_discriminator(
    scales: list[float] | tuple[float, ...] = (1,),
    num_channels: int = 3,
    block_expansion: int = 32,
    num_blocks: int = 4,
    max_features: int = 512,
    sn: bool = True,
) -> FommDiscriminator:
    """Factory registered as `fomm_discriminator`."""
    return FommDiscriminator(tuple(scales), num_channels, block_expansion, num_blocks, max_features, sn)


__all__ = [
    "DenseMotion",
    "FommDiscriminator",
    "FommGenerator",
    "KeypointDetector",
    "Keypoints",
    "fomm_discriminator",
    "relative_motion",
]
