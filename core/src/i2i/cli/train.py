"""`python -m i2i.cli.train`: the i2i-train program as a module, which is what torchrun starts on
each process (`torchrun --nproc_per_node=N -m i2i.cli.train --plugin ... --data ... --out ...`)."""

from i2i.cli.main import train_main

if __name__ == "__main__":
    train_main()
