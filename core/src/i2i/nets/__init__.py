"""Shared building blocks and standard networks (U-Net, ResNet, PatchGAN); see catalog for names."""
