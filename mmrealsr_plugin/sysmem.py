"""How much host memory is free, for sizing tiles automatically on the CPU (no psutil dependency)."""

from __future__ import annotations

from pathlib import Path

MEMINFO = Path("/proc/meminfo")


def available_bytes() -> int | None:
    """The kernel's estimate of memory available without swapping (Linux ``MemAvailable``); None elsewhere."""
    try:
        lines = MEMINFO.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None
