"""i2i text2img plugin: text -> image through a pretrained text encoder (all-MiniLM-L6-v2)."""

__version__ = "0.1.0"
