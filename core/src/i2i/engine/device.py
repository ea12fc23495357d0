"""Device and precision selection, decided once so nothing else hard-codes `.cuda()`.

`precision: auto` is decided by measurement (`i2i.engine.autoprecision.choose_precision` over
`precision_candidates(device)`); `select_precision("auto", ...)` is only the fallback guess for
callers that cannot time the model (it picked bf16 on an AMX CPU for a small model that then ran at
half its fp32 speed, which is why measurement replaced it for training).
"""

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
    """How the step runs: autocast dtype (None = fp32) and whether fp16 needs a grad scaler.

    `name` is what configs, logs and the precision cache use ("fp32", "bf16", "fp16")."""

    name: str
    dtype: torch.dtype | None
    scaler: bool

    def autocast(self, device: torch.device) -> torch.autocast:
        """The autocast context of this precision on `device` (a no-op context for fp32)."""
        return torch.autocast(device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None)


def _cpu_flags() -> set[str]:
    """The feature flags of this CPU from /proc/cpuinfo (empty where there is none: macOS, Windows)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[-1].split())
    except OSError:
        pass
    return set()


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AMX tiles or AVX-512 BF16 dot products).

    Without either, oneDNN emulates bf16 and a step is tens of times slower, so measuring bf16 there
    would only waste the start of training: it is not even a candidate."""
    return bool(_cpu_flags() & {"amx_bf16", "avx512_bf16"})


def cpu_has_amx_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (Intel AMX). Measured on a 2-core
    AMX Xeon: the pix2pix step is 1.31x faster in bf16 autocast; on an AVX2-only CPU bf16 is
    emulated and 40x slower (benchmarks/results), hence the test rather than a blanket default."""
    return "amx_bf16" in _cpu_flags()


def precision_candidates(device: torch.device) -> list[Precision]:
    """The precisions worth timing on `device`, the safe one (fp32) first.

    CPU: fp32, plus bf16 where the CPU has hardware bf16 (`cpu_has_bf16`). CUDA: fp32, bf16 where
    the GPU supports it natively (Ampere and later), and fp16 with a grad scaler. Other devices
    (MPS): fp32 only. `choose_precision` keeps the first unless another is measurably faster.
    """
    candidates = [select_precision("fp32", device)]
    if device.type == "cpu" and cpu_has_bf16():
        candidates.append(select_precision("bf16", device))
    elif device.type == "cuda":
        if _cuda_bf16_native():
            candidates.append(select_precision("bf16", device))
        candidates.append(select_precision("fp16", device))
    return candidates


def _cuda_bf16_native() -> bool:
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # torch before 2.4 has no including_emulation
        return bool(torch.cuda.is_bf16_supported())


def select_precision(name: str, device: torch.device) -> Precision:
    """The Precision called `name` on `device`; fp16 off CUDA or an unknown name is a ConfigError.

    auto: a guess without measurement (bf16 on GPUs that support it and on CPUs with AMX, fp32
    elsewhere); training measures instead (see the module doc)."""
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
