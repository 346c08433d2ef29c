"""Training data: HR image folders, the training-pair pool, and the paired crop after degradation.

* ``HRFolderDataset`` yields GT crops (3, crop, crop) in [0, 1]; degradation happens later, batched, in
  ``mmrealsr_plugin.training.degradations`` (so crops are larger than the training patch, as the official
  400 px pre-crop: blur and resize need context).
* ``paired_random_crop`` cuts the same window out of the five LQ versions and the GT(s) after degradation.
* ``PairPool`` is the official training-pair queue: batches of one image folder are highly correlated
  (neighbouring crops, one degradation draw per branch setting), so each step trains on a random mix of
  recent batches instead.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from mmrealsr_plugin.errors import DatasetError, ImageError, TrainingConfigError
from mmrealsr_plugin.imageio import FORMATS_BY_SUFFIX, list_images, read_image

_JPEG_FORMATS = {"JPEG"}
"""Formats as the core's reader names them (an MPO, a JPEG with a preview, is read as JPEG)."""


def image_files(folder: str | Path) -> list[Path]:
    """Every image under ``folder`` (recursively) that the core's reader reads, sorted for reproducibility; a missing
    or image-less folder is a :class:`DatasetError`."""
    root = Path(folder)
    try:
        files = list_images(root, recursive=True)
    except FileNotFoundError:
        raise DatasetError(f"training image folder {root} does not exist or is not a folder") from None
    if not files:
        raise DatasetError(f"training image folder {root} holds no images (looked recursively for "
                           f"{', '.join(sorted(FORMATS_BY_SUFFIX))})")
    return files


def read_rgb(path: Path) -> tuple[np.ndarray, str]:
    """The core's reader (EXIF orientation, 16-bit precision, the pixel limit) as float32 RGB (H, W, 3) and the format;
    an unreadable file is a :class:`DatasetError` naming it."""
    try:
        image = read_image(path)
    except ImageError as exc:
        raise DatasetError(f"cannot read training image {path}: {exc}; remove or re-save the file") from exc
    return image.rgb(), image.format


@functools.cache
def _decoder_pool() -> ThreadPoolExecutor:
    """Threads that decode a batch's files together (PIL's decoders release the GIL); created on first use."""
    return ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1), thread_name_prefix="mmrealsr-decode")


def _item_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """An independent stream per (seed, epoch, index): the same item is the same crop in any worker."""
    digest = hashlib.blake2b(f"{seed}:{epoch}:{index}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") & ((1 << 63) - 1))


def _uniform(generator: torch.Generator) -> float:
    return float(torch.rand((), generator=generator))


class HRFolderDataset(torch.utils.data.Dataset):
    """Random GT crops from every image under a folder (any PIL format, recursively).

    Several folders may be given (e.g. DF2K and OST). Per item: pick a scale from ``multiscale`` and
    downscale with antialiasing (DF2K-style multi-scale);
    JPEG files are first downscaled by ``jpeg_downscale`` (>= 2 hides their block artefacts, which
    would otherwise be learnt as "clean") when still at least ``crop`` px; reflect-pad images smaller
    than the crop; random crop; horizontal flip (``flips``); 90-degree rotation and vertical flip
    (``rotations``; with flips, all 8 orientations). ``set_epoch`` changes all draws; ``seed`` fixes them.
    """

    def __init__(
        self,
        folder: str | Path | Sequence[str | Path],
        gt_size: int,
        *,
        crop_pre: int | None = 400,
        flips: bool = True,
        rotations: bool = True,
        multiscale: Sequence[float] = (1.0,),
        jpeg_downscale: float = 1.0,
        seed: int = 0,
    ) -> None:
        crop = gt_size if crop_pre is None else crop_pre
        if gt_size < 16 or crop < gt_size:
            raise TrainingConfigError(f"crop_pre ({crop_pre}) must be >= gt_size ({gt_size}) >= 16")
        if not multiscale or any(not 0 < s <= 1 for s in multiscale):
            raise TrainingConfigError(f"multiscale factors must be in (0, 1], got {list(multiscale)}")
        if jpeg_downscale < 1:
            raise TrainingConfigError(f"jpeg_downscale must be >= 1 (1 = off), got {jpeg_downscale}")
        folders = [folder] if isinstance(folder, (str, Path)) else list(folder)
        if not folders:
            raise TrainingConfigError("no training image folder given")
        self.folders = [Path(f) for f in folders]
        self.files = [path for f in self.folders for path in image_files(f)]
        self.gt_size = gt_size
        self.crop = crop
        self.flips = flips
        self.rotations = rotations
        self.multiscale = tuple(float(s) for s in multiscale)
        self.jpeg_downscale = float(jpeg_downscale)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """New crops, flips and scales for a new pass over the data."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.load_crop(index, _item_generator(self.seed, self.epoch, index))

    def sample_batch(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """(B, 3, crop, crop): random images (with replacement) and crops, all drawn from ``generator``.

        For a single-process trainer that keeps one generator for everything (one state to checkpoint).
        The files are decoded in parallel threads (a batch of 32 crops took 40 ms to decode, a tenth of an
        H200 estimator step); the random draws still happen in order, so the batch is the same as a
        one-by-one load.
        """
        indices = torch.randint(0, len(self.files), (batch_size,), generator=generator).tolist()
        decoded = list(_decoder_pool().map(read_rgb, [self.files[i] for i in indices]))
        return torch.stack([self._augment(pixels, fmt, generator) for pixels, fmt in decoded])

    def load_crop(self, index: int, generator: torch.Generator) -> torch.Tensor:
        """Read file ``index`` and apply scale, padding, crop and flips drawn from ``generator``."""
        return self._augment(*read_rgb(self.files[index]), generator)

    def _augment(self, pixels: np.ndarray, fmt: str, generator: torch.Generator) -> torch.Tensor:
        image = torch.from_numpy(pixels).permute(2, 0, 1)
        factor = 1.0
        if fmt in _JPEG_FORMATS and self.jpeg_downscale > 1:
            factor = max(1.0, min(self.jpeg_downscale, min(image.shape[-2:]) / self.crop))
        scale = self.multiscale[int(_uniform(generator) * len(self.multiscale)) % len(self.multiscale)]
        image = _downscale(image, scale / factor)
        image = _pad_to(image, self.crop)
        h, w = image.shape[-2:]
        top = int(_uniform(generator) * (h - self.crop + 1))
        left = int(_uniform(generator) * (w - self.crop + 1))
        image = image[:, top: top + self.crop, left: left + self.crop]
        if self.flips and _uniform(generator) < 0.5:
            image = image.flip(-1)
        if self.rotations:
            image = torch.rot90(image, int(_uniform(generator) * 4) % 4, dims=(-2, -1))
            if _uniform(generator) < 0.5:
                image = image.flip(-2)
        return image.contiguous()


def _downscale(image: torch.Tensor, factor: float) -> torch.Tensor:
    """Antialiased bicubic downscale by ``factor`` (< 1); 1 leaves the image untouched."""
    if factor >= 1.0:
        return image
    h, w = image.shape[-2:]
    size = (max(1, round(h * factor)), max(1, round(w * factor)))
    out = torch.nn.functional.interpolate(image[None], size=size, mode="bicubic", antialias=True, align_corners=False)
    return out[0].clamp(0, 1)


def _pad_to(image: torch.Tensor, size: int) -> torch.Tensor:
    """Mirror-pad bottom/right up to ``size`` (repeatedly for very small images)."""
    h, w = image.shape[-2:]
    if h >= size and w >= size:
        return image
    pixels = np.pad(image.numpy(), ((0, 0), (0, max(0, size - h)), (0, max(0, size - w))), mode="reflect")
    return torch.from_numpy(pixels)


def paired_random_crop(
    lq: torch.Tensor, gts: Sequence[torch.Tensor], gt_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, ...]:
    """Cut one random window (the same for every sample, as the reference) from the LQs and the GT(s).

    lq: (..., B, C, h, w), e.g. the (5, B, 3, h, w) stack; gts: tensors (B, C, h*s, w*s) for one integer
    scale s (inferred). Returns (lq crop (..., gt_size/s square), *GT crops (gt_size square)).
    """
    if not gts:
        raise ValueError("paired_random_crop needs at least one GT tensor to pair with the LQs")
    h, w = lq.shape[-2:]
    scale = gts[0].shape[-1] // w
    for gt in gts:
        if scale < 1 or tuple(gt.shape[-2:]) != (h * scale, w * scale):
            raise ValueError(
                f"GT size {tuple(gt.shape[-2:])} is not an integer multiple {scale} of the LQ size {(h, w)}"
            )
    if gt_size % scale:
        raise TrainingConfigError(f"gt_size {gt_size} must be a multiple of the scale {scale}")
    lq_size = gt_size // scale
    if h < lq_size or w < lq_size:
        raise ValueError(f"LQ {h}x{w} is smaller than the patch {lq_size}x{lq_size} (gt_size {gt_size} / {scale})")
    top = int(torch.randint(0, h - lq_size + 1, (), generator=generator))
    left = int(torch.randint(0, w - lq_size + 1, (), generator=generator))
    lq_crop = lq[..., top: top + lq_size, left: left + lq_size]
    gt_crops = [g[..., top * scale: (top + lq_size) * scale, left * scale: (left + lq_size) * scale] for g in gts]
    return (lq_crop, *gt_crops)


@dataclasses.dataclass
class PairPool:
    """The training-pair pool: a queue of ``size`` samples that batches are swapped through.

    Until full, each batch is stored and returned unchanged. Once full, every call shuffles the queue,
    returns its first ``batch`` samples and puts the new batch in their place. Samples are dicts of
    tensors with the batch on axis ``batch_dims[name]`` (0 by default; 1 for the (5, B, ...) LQ stack).
    ``state_dict`` holds the queue and its own generator, so a resumed run continues bit-for-bit.
    """

    size: int
    batch: int
    seed: int = 0
    batch_dims: Mapping[str, int] = dataclasses.field(default_factory=lambda: {"lq": 1})

    def __post_init__(self) -> None:
        if self.batch < 1 or self.size < self.batch or self.size % self.batch:
            raise TrainingConfigError(
                f"pool size {self.size} must be a positive multiple of the batch size {self.batch} "
                f"(e.g. {max(1, self.size // max(1, self.batch)) * max(1, self.batch)})"
            )
        self.generator = torch.Generator().manual_seed(self.seed)
        self.queue: dict[str, torch.Tensor] = {}
        self.filled = 0

    def __call__(self, items: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Push one batch, get the batch to train on (the same one until the pool is full)."""
        flat = {name: self._to_batch_first(name, t) for name, t in items.items()}
        sizes = {t.shape[0] for t in flat.values()}
        if sizes != {self.batch}:
            raise ValueError(f"every item must hold a batch of {self.batch}, got sizes {sorted(sizes)}")
        if self.queue and set(flat) != set(self.queue):
            raise ValueError(f"pool holds items {sorted(self.queue)}, got {sorted(flat)}")
        if self.filled < self.size:
            for name, tensor in flat.items():
                if name not in self.queue:
                    self.queue[name] = tensor.new_empty((self.size, *tensor.shape[1:]))
                self.queue[name][self.filled: self.filled + self.batch] = tensor
            self.filled += self.batch
            return dict(items)
        order = torch.randperm(self.size, generator=self.generator).to(next(iter(self.queue.values())).device)
        out: dict[str, torch.Tensor] = {}
        for name, tensor in flat.items():
            shuffled = self.queue[name].index_select(0, order)
            out[name] = self._from_batch_first(name, shuffled[: self.batch].clone())
            shuffled[: self.batch] = tensor
            self.queue[name] = shuffled
        return out

    @property
    def full(self) -> bool:
        return self.filled >= self.size

    def state_dict(self) -> dict[str, object]:
        return {
            "size": self.size,
            "batch": self.batch,
            "filled": self.filled,
            "generator": self.generator.get_state(),
            "queue": {name: t.clone() for name, t in self.queue.items()},
        }

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        if state["size"] != self.size or state["batch"] != self.batch:
            raise ValueError(
                f"pool state is for size {state['size']} / batch {state['batch']}, "
                f"this pool is {self.size} / {self.batch}"
            )
        self.filled = int(state["filled"])  # type: ignore[arg-type]
        self.generator.set_state(state["generator"])  # type: ignore[arg-type]
        self.queue = {name: t.clone() for name, t in state["queue"].items()}  # type: ignore[union-attr]

    def _to_batch_first(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        dim = self.batch_dims.get(name, 0)
        return tensor.movedim(dim, 0) if dim else tensor

    def _from_batch_first(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        dim = self.batch_dims.get(name, 0)
        return tensor.movedim(0, dim).contiguous() if dim else tensor
