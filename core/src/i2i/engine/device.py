"""Device and precision selection, decided once so nothing else hard-codes `.cuda()`."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from i2i.errors import ConfigError


def select_device(spec: str = "auto") -> torch.device:
    """auto picks cuda, then mps, then cpu; an explicit device that is absent is a config error."""
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ConfigError(f"device: unknown device {spec!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {spec!r} requested but CUDA is not available")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device: {spec!r} requested but MPS is not available")
    return device


@dataclass(frozen=True)
class Precision:
    """How the step runs: autocast dtype (None = fp32) and whether fp16 needs a grad scaler."""

    name: str
    dtype: torch.dtype | None
    scaler: bool

    def autocast(self, device: torch.device) -> torch.autocast:
        return torch.autocast(device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None)


def cpu_has_amx_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (Intel AMX). Measured on a 2-core
    AMX Xeon: the pix2pix step is 1.31x faster in bf16 autocast; on an AVX2-only CPU bf16 is
    emulated and 40x slower (benchmarks/results), hence the test rather than a blanket default."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return "amx_bf16" in line.split()
    except OSError:
        pass
    return False


def select_precision(name: str, device: torch.device) -> Precision:
    """auto: bf16 on GPUs that support it and on CPUs with AMX, fp32 elsewhere (see benchmarks/)."""
    if name == "auto":
        gpu_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        name = "bf16" if gpu_bf16 or (device.type == "cpu" and cpu_has_amx_bf16()) else "fp32"
    if name == "fp32":
        return Precision("fp32", None, False)
    if name == "bf16":
        return Precision("bf16", torch.bfloat16, False)
    if name == "fp16":
        if device.type != "cuda":
            raise ConfigError("train.precision: fp16 needs a CUDA device (use bf16 or fp32)")
        return Precision("fp16", torch.float16, True)
    raise ConfigError(f"train.precision: unknown precision {name!r} (auto, fp32, bf16, fp16)")
