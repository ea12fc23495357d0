"""i2i img2img plugin: paired image-to-image translation in the layout of the original pix2pix."""

__version__ = "0.1.0"
