"""Several processes on one batch (``torchrun --nproc_per_node=N -m mmrealsr_plugin restore ...``).

torchrun (or any launcher that sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``) starts one process per device; each
takes every ``WORLD_SIZE``-th job of the same, deterministic plan, so no two ranks ever write the same file, and runs
on its own device. At the end the ranks exchange their counts and failures once (a gloo group, CPU only, made just
for that), so every rank's summary and exit code count each input exactly once.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import UsageError

T = TypeVar("T")

GATHER_TIMEOUT = datetime.timedelta(days=7)
"""How long a rank that finished waits for the others at the final exchange (ranks of a long archive finish hours
apart; the default 30 minutes of torch.distributed would fail the fastest one)."""


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise UsageError(f"environment variable {name}={raw!r} must be a whole number (set by torchrun)") from None


@dataclass(frozen=True)
class Ranks:
    """This process's place among the processes of one batch."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    def __post_init__(self) -> None:
        if self.world < 1 or not 0 <= self.rank < self.world or self.local_rank < 0:
            raise UsageError(f"invalid process group: RANK={self.rank}, WORLD_SIZE={self.world}, "
                             f"LOCAL_RANK={self.local_rank}; launch with torchrun --nproc_per_node=N")

    @classmethod
    def from_env(cls) -> Ranks:
        """From torchrun's variables; a plain run is rank 0 of 1."""
        return cls(_env_int("RANK", 0), _env_int("WORLD_SIZE", 1), _env_int("LOCAL_RANK", 0))

    @property
    def lead(self) -> bool:
        """Rank 0 reports what concerns the whole batch (plan refusals, the summary)."""
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's share: every ``world``-th item from ``rank`` (balanced within one item)."""
        return list(items[self.rank :: self.world])

    def device(self, requested: str | None, cuda_devices: int) -> str | None:
        """One device per rank: ``auto``/``cuda`` become ``cuda:LOCAL_RANK`` when there are CUDA devices.

        ``cuda_devices`` is how many this machine has (``torch.cuda.device_count()``). A single process keeps what
        was asked; an explicit ``cuda:N`` or ``cpu`` is kept too (the user's choice).
        """
        if self.world == 1 or requested not in (None, "auto", "cuda"):
            return requested
        if cuda_devices == 0:
            if requested == "cuda":
                raise UsageError("--device cuda was given but this machine has no CUDA device; use --device cpu")
            return "cpu"
        if self.local_rank >= cuda_devices:
            raise UsageError(f"rank {self.rank} has LOCAL_RANK {self.local_rank} but this machine has only "
                             f"{cuda_devices} CUDA device(s); start at most {cuda_devices} processes per node")
        return f"cuda:{self.local_rank}"

    def gather(self, payload: Any) -> list[Any]:
        """Every rank's ``payload`` (picklable), in rank order; the only exchange between ranks."""
        if self.world == 1:
            return [payload]
        import torch.distributed as dist

        dist.init_process_group("gloo", rank=self.rank, world_size=self.world, timeout=GATHER_TIMEOUT)
        try:
            gathered: list[Any] = [None] * self.world
            dist.all_gather_object(gathered, payload)
            return gathered
        finally:
            dist.destroy_process_group()
