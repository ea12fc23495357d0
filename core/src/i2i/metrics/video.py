"""Temporal stability of a generated video, the number temporal mode and talking heads report."""

from __future__ import annotations

import torch


def frame_change(frames: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of consecutive frames of a (T,C,H,W) clip (how much it changes)."""
    return (frames[1:].float() - frames[:-1].float()).abs().mean()


def flicker(frames: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean absolute change between consecutive output frames over the same for a reference clip
    (the input or driving video): 1 means the output changes as much as the reference does."""
    return round(float(frame_change(frames) / frame_change(reference).clamp(min=1e-6)), 4)
