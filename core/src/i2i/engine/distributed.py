"""Multi-process training under torchrun: one process per device, gradients averaged by DDP.

torchrun (alone, on several nodes through its rendezvous, or started by SLURM's srun) puts RANK,
WORLD_SIZE and LOCAL_RANK in each process's environment; without them a run is one process and
everything here is a no-op, so the trainer has a single code path. Rank 0 is the only process that
writes (logs, samples, checkpoints); every rank reads the same checkpoint on resume.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from i2i.errors import ConfigError


@dataclass(frozen=True)
class World:
    """Where this process stands among the training processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} in the environment is not an integer") from None


def world_from_env() -> World:
    world = World(_env_int("RANK", 0), _env_int("WORLD_SIZE", 1), _env_int("LOCAL_RANK", 0))
    if world.size < 1 or not 0 <= world.rank < world.size:
        raise ConfigError(f"RANK={world.rank} WORLD_SIZE={world.size} in the environment are inconsistent")
    return world


def local_device(world: World, device: torch.device) -> torch.device:
    """Each process of a multi-GPU node takes the GPU of its local rank."""
    if world.distributed and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", world.local_rank % max(1, torch.cuda.device_count()))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def init(world: World, device: torch.device) -> None:
    """Join the process group: NCCL between GPUs, gloo on CPUs (MASTER_ADDR/PORT from torchrun)."""
    if not world.distributed or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, rank=world.rank, world_size=world.size)


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_ranks(flag: torch.Tensor, world: World) -> bool:
    """True only where every rank's flag is true, so all ranks skip (or apply) a step together."""
    if not world.distributed:
        return bool(flag)
    value = flag.detach().to(torch.int32).reshape(1)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def any_rank(flag: bool, world: World, device: torch.device) -> bool:
    """True on every rank where any rank's flag is true: a stop one rank was signalled for is
    taken by all at the same step boundary (a rank stopping alone would leave the others waiting
    in the next step's collectives, and rank 0 might never reach its save)."""
    if not world.distributed:
        return bool(flag)
    value = torch.tensor([int(bool(flag))], dtype=torch.int32, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def wrap(module: torch.nn.Module, world: World, device: torch.device) -> torch.nn.Module:
    """DDP around `module` in a multi-process run; the module itself otherwise."""
    if not world.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, broadcast_buffers=True)
