"""Running the training loop under ``torchrun``: the process group, the device, and what ranks share.

What is here: ``World`` (rank, size, device, and the few collectives the loop needs: a shared stop
flag, every rank's generator states for a checkpoint, batch-norm buffers from rank 0 at the end)
and ``distributed(device)``, the context that joins and leaves the process group. With
``WORLD_SIZE`` unset or 1 everything is local and no collective runs.

Under DDP every rank draws its own patches (the streams are seeded with the rank), gradients are
averaged by ``DistributedDataParallel``, batch norm is not synchronised (rank 0's statistics are
kept at the end), and only rank 0 validates and writes files.

What is not here: the loop (``eqlab.train.loop``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn

__all__ = ["World", "distributed", "resolve_device"]


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> CUDA when present, else the CPU; ``"cuda"`` -> this rank's GPU.

    Raises:
        ValueError: CUDA asked for but not available.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for, but torch.cuda.is_available() is False")
    if name == "cuda":
        name = f"cuda:{local_rank}"
    return torch.device(name)


@dataclass
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        """Rank 0: the process that validates and writes files."""
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` itself, or a ``DistributedDataParallel`` around it when there are several ranks."""
        if self.size == 1:
            return model
        return nn.parallel.DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda"
                                                   else None)

    def any(self, flag: bool) -> bool:
        """``True`` on every rank when it is ``True`` on one (every rank stops together, or a collective hangs)."""
        if self.size == 1:
            return bool(flag)
        value = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def generator_states(self, generators: dict[str, torch.Generator]) -> dict[str, torch.Tensor]:
        """Every rank's generator states, ``{"r<rank>.<stream>": state}`` (a collective under DDP)."""
        local = {name: g.get_state() for name, g in generators.items()}
        everyone = [local]
        if self.size > 1:
            everyone = [None] * self.size
            dist.all_gather_object(everyone, local)
        return {f"r{r}.{name}": state for r, states in enumerate(everyone) for name, state in states.items()}

    def share_buffers(self, model: nn.Module) -> None:
        """Batch-norm statistics are per rank: end with rank 0's."""
        if self.size > 1:
            for buffer in model.buffers():
                dist.broadcast(buffer, 0)


@contextlib.contextmanager
def distributed(device: str):
    """A ``World`` from ``torchrun``'s environment, joining (and leaving) the process group.

    nccl on CUDA (one GPU per rank), gloo on the CPU.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        yield World(device=resolve_device(device))
        return
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = resolve_device(device, local_rank).type == "cuda"
    if cuda:  # nccl and all_gather_object use the current device
        torch.cuda.set_device(local_rank)
    created = not dist.is_initialized()
    if created:
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    try:
        yield World(dist.get_rank(), dist.get_world_size(), resolve_device(device, local_rank))
    finally:
        if created:
            dist.destroy_process_group()
