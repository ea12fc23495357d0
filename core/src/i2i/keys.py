"""Names that cross the boundary between a plugin's data, its conditioner and the core.

A light module (no torch) so plugin entry modules, datasets and conditioners can import it.
A dataset sample (and so a training batch) is a dict; the engine reads only these keys, every
other key belongs to the modality that wrote it.
"""

from __future__ import annotations

TARGET = "target"
"""The real image a sample's condition describes, (3,H,W) in [-1, 1]: what D sees as real and
reconstruction terms compare with. Paired recipes need it in every training sample."""

INPUT = "input"
"""The spatial input image of image-to-image modalities, (C,H,W) in [-1, 1] (optional: temporal
mode and flow warping use it when present)."""

VIDEO_FRAME = "video_frame"
"""Set to True in `prepare()`'s inputs for frames decoded from a (lossy) video."""

DOMAIN_A = "a"
DOMAIN_B = "b"
"""Two-domain samples (the cycle recipe): an image of domain A and an unrelated one of domain B."""
