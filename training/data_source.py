"""The training batch stream: HR crops -> five-way degradation -> paired crop -> training-pair pool.

All randomness comes from generators owned here (the batch generator, seeded per rank, and the
pool's own), so their states and the pool's contents are enough to continue a run bit-for-bit.
"""

from __future__ import annotations

from typing import Any

import torch

from .config import TrainConfig
from .data import HRFolderDataset, PairPool, paired_random_crop
from .degradations import DegradationPipeline


class TrainingBatches:
    """``next()`` gives (lq5 (5, B, 3, h, w), gt_usm (B, 3, H, W), gt_plain (B, 3, H, W)) on ``device``.

    ``device`` is where the synthesis runs (the CPU unless ``data.synthesis_device = "train"``); images are
    decoded and cropped on the CPU either way.
    """

    def __init__(self, config: TrainConfig, seed: int, device: torch.device | None = None) -> None:
        data = config.data
        self.batch_size = data.batch_size
        self.gt_size = data.gt_size
        self.sharpen_gt = data.sharpen_gt
        self.dataset = HRFolderDataset(list(data.train_dirs), data.gt_size, crop_pre=data.crop_size, flips=True,
                                       rotations=data.rotations, seed=seed)
        self.pipeline = DegradationPipeline(config.degradation, scale=4)
        self.pool = PairPool(data.queue_size, data.batch_size, seed=seed) if data.queue_size else None
        self.generator = torch.Generator().manual_seed(seed)
        self.device = device or torch.device("cpu")

    def next(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        gt = self.dataset.sample_batch(self.batch_size, self.generator).to(self.device)
        # The L1/perceptual targets are always the sharpened GT; whether the LQs are synthesised from it
        # (stage 1, gt_usm) or from the plain GT (stage 2) is the config's choice.
        out = self.pipeline(gt, self.generator, sharpen_gt=True, degrade_sharpened=self.sharpen_gt)
        lq, gt_usm, gt_plain = paired_random_crop(out.lq, (out.gt, out.gt_plain), self.gt_size, self.generator)
        if self.pool is not None:
            items = self.pool({"lq": lq, "gt": gt_usm, "gt_plain": gt_plain})
            lq, gt_usm, gt_plain = items["lq"], items["gt"], items["gt_plain"]
        return lq.contiguous(), gt_usm.contiguous(), gt_plain.contiguous()

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(),
                "pool": self.pool.state_dict() if self.pool is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        if self.pool is not None:
            self.pool.load_state_dict(state["pool"])
