"""i2i face2img plugin: facial landmarks + a source portrait -> talking head (in progress)."""

__version__ = "0.1.0"
