"""torch.distributed set-up for ``torchrun``: one process per GPU (NCCL) or per CPU worker (gloo).

Without the ``RANK``/``WORLD_SIZE`` environment that torchrun sets, everything runs in one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from mmrealsr_plugin.errors import TrainingConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main process logs, validates and writes files."""
        return self.rank == 0


def _pick_device(requested: str, local_rank: int) -> torch.device:
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(requested)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if device.index >= count:
            found = f"only {count} CUDA device(s) are visible" if count else "no CUDA device is available to torch"
            raise TrainingConfigError(
                f"config key 'run.device' = {requested!r} asks for {device} (local rank {local_rank}), but {found}; "
                'set run.device = "cpu" or "auto", or start fewer processes per node'
            )
    return device


def setup_distributed(requested_device: str) -> DistInfo:
    """Initialise the process group when launched by torchrun and choose this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _pick_device(requested_device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank, world_size, local_rank, device)


def teardown_distributed(wait_for_peers: bool = True) -> None:
    """Leave the process group. After a successful run, first wait for every rank (rank 0 writes last):
    a rank that destroyed its gloo group while a peer was still busy aborted with "terminate called
    without an active exception". After a failure, do not wait: the peers may never arrive."""
    if dist.is_initialized():
        if wait_for_peers:
            dist.barrier()
        dist.destroy_process_group()
