"""The one GAN engine: device and precision, EMA, checkpoints, logging, and the trainer."""
