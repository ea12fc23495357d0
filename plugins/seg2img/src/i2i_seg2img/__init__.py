"""i2i seg2img plugin: segmentation map -> photo (SPADE)."""

__version__ = "0.1.0"
