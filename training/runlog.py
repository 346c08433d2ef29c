"""The run's log: one JSON line per event in ``metrics.jsonl`` (and TensorBoard scalars when it is installed); only
the main process writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any


class RunLog:
    def __init__(self, folder: Path, enabled: bool) -> None:
        self.folder, self.enabled = folder, enabled
        self._file: IO[str] | None = None
        self._tensorboard: Any = None

    def __call__(self, record: dict[str, Any]) -> None:
        """Append ``record``; numbers of records with an ``iter`` also go to TensorBoard under ``event/key``."""
        if not self.enabled:
            return
        if self._file is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._file = (self.folder / "metrics.jsonl").open("a", encoding="utf-8")
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # TensorBoard is optional
                SummaryWriter = None  # noqa: N806
            self._tensorboard = SummaryWriter(str(self.folder / "tensorboard")) if SummaryWriter else None
        self._file.write(json.dumps(record, sort_keys=True) + "\n")
        self._file.flush()
        if self._tensorboard is not None and "iter" in record:
            for key, value in record.items():
                if isinstance(value, (int, float)) and key != "iter":
                    self._tensorboard.add_scalar(f"{record.get('event', 'train')}/{key}", value, record["iter"])

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._tensorboard is not None:
            self._tensorboard.close()
