"""i2i plugin: unpaired image-to-image translation (CycleGAN)."""
