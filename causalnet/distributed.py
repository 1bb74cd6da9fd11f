"""Work across processes and machines with torch.distributed: which share of a build this
process does, and how the shares come back together.

A build started by ``torchrun --nproc-per-node N -m causalnet build ...`` joins the process
group torchrun describes (gloo on CPU, NCCL on CUDA); every rank draws the same images and
discovers the same units, then takes every N-th block of units of each layer (global effects)
and every N-th class (class walks). Shares are gathered with ``all_gather_object`` so every rank
holds the same numbers; rank 0 writes the graph. The blocks do not depend on N, so the file is
byte-identical to a single-process build, and a resumed build (with any N) reuses every block
and class any rank finished (each rank checkpoints its own share, see
:class:`causalnet.checkpoint.BuildCheckpoint`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from .errors import CausalnetInputError

T = TypeVar("T")

# units per block of a layer's global effects: the unit of work a rank takes and checkpoints
# (fixed, so that the numbers never depend on the number of ranks)
BLOCK_UNITS = 32


@dataclass(frozen=True)
class Shard:
    """This process's place among ``world`` processes (``Shard()``: alone)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """Whether this process writes files and shows progress (rank 0)."""
        return self.rank == 0

    def mine(self, items: Sequence[T]) -> list[T]:
        """Every ``world``-th item, starting at ``rank``."""
        return list(items[self.rank::self.world])

    def gather(self, obj: Any) -> list[Any]:
        """``obj`` of every rank, in rank order, on every rank."""
        if self.world == 1:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def current_shard() -> Shard:
    """The shard of this process: its rank in the default process group, or alone."""
    if dist.is_available() and dist.is_initialized():
        return Shard(dist.get_rank(), dist.get_world_size())
    return Shard()


def init_from_env(device: str = "cpu") -> tuple[Shard, str]:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1), once.

    Returns the shard and the device this rank uses (``cuda`` becomes ``cuda:LOCAL_RANK``).
    Alone (no torchrun), returns ``(Shard(), device)`` without touching torch.distributed."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return Shard(), device
    if not dist.is_available():
        raise CausalnetInputError("this torch build has no torch.distributed; run without torchrun")
    if device.startswith("cuda"):
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = f"cuda:{local}"
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return current_shard(), device


def blocks(units: Sequence[int], size: int = BLOCK_UNITS) -> list[list[int]]:
    """``units`` cut into consecutive blocks of ``size`` (the last one shorter)."""
    units = list(units)
    return [units[i:i + size] for i in range(0, len(units), size)]


__all__ = ["BLOCK_UNITS", "Shard", "blocks", "current_shard", "init_from_env"]
