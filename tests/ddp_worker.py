"""Started by torchrun from test_distributed.py: trains the tiny img2img config, then every rank
writes the weights it holds, so the test can compare ranks with each other and with one process."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from safetensors.torch import save_file

from i2i.config import load_config
from i2i.engine import distributed
from i2i.engine.trainer import Trainer
from i2i.plugins import get_modality

from tiny import TINY


def main() -> None:
    data, out, *sets = sys.argv[1:]
    modality = get_modality("img2img")
    trainer = Trainer(
        load_config(modality, sets=[*TINY, *sets]), modality, data, Path(out) / "run", progress=False
    )
    trainer.fit()
    weights = {f"{name}.{k}": v.contiguous() for name in ("generator", "discriminator")
               for k, v in getattr(trainer, name).state_dict().items()}  # fmt: skip
    save_file(weights, str(Path(out) / f"rank{trainer.world.rank}.safetensors"))
    distributed.shutdown()


if __name__ == "__main__":
    main()
