"""pose2img networks: a U-Net refines the warped source (core `unet`, reading `Condition.maps`),
judged by two PatchGANs as in pose-transfer work (PATN, GFLA): one on (image, target pose:
`parts["pose"]`) for shape, one on (image, source person: `refs`) for appearance."""

from __future__ import annotations

from torch import Tensor, nn

from i2i.interfaces import Condition, Discriminator, DOutput
from i2i.nets.init import init_weights
from i2i.nets.patchgan import MultiScalePatchGAN
from i2i_pose2img.conditioner import POSE_CHANNELS


class PoseDiscriminators(Discriminator):
    def __init__(
        self, ndf: int = 32, n_layers: int = 3, norm: str = "instance", spectral: bool = True
    ) -> None:
        super().__init__()
        self.pose = init_weights(
            MultiScalePatchGAN(POSE_CHANNELS + 3, ndf, n_layers, norm, spectral), "normal"
        )
        self.appearance = init_weights(MultiScalePatchGAN(3 + 3, ndf, n_layers, norm, spectral), "normal")

    def forward(self, image: Tensor, cond: Condition) -> list[DOutput]:
        import torch

        if "pose" not in cond.parts or cond.refs is None:
            raise ValueError("the pose2img discriminators need parts['pose'] and refs (the source)")
        pose = cond.parts["pose"].to(image.dtype)
        source = cond.refs.to(image.dtype)
        outs = self.pose(torch.cat([pose, image], dim=1)) + self.appearance(torch.cat([source, image], dim=1))
        return [DOutput(logits, features) for logits, features in outs]


def pose_discriminators(
    ndf: int = 32, n_layers: int = 3, norm: str = "instance", spectral: bool = True
) -> nn.Module:
    """(image, target pose) and (image, source person) PatchGANs."""
    return PoseDiscriminators(ndf, n_layers, norm, spectral)
