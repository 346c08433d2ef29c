"""Stage ``distill``: knobs that act, around a restoration that equals a strong teacher at the automatic setting.

The run starts from a whole model whose trunk is the teacher (Real-ESRGAN x4plus with identity modulations)
and whose estimator is trained (stage ``severity``). Before the first step, ``[distill] cache_size`` inputs are
run through it once; stored are the trunk features after ``cache_block`` blocks, the first features, the
teacher's output, the input's residual (:func:`..knob_targets.input_residual`) and the estimated scores.
A step then draws knobs (at the estimate, at the ends or anywhere), asks for the teacher's output moved by
them (:func:`..knob_targets.knob_target`) and trains, by L1, the last ``trained_blocks`` blocks with their
modulations, the score embedding and the tail; the blocks in between run without gradients. That makes a CPU
step about a quarter of a full forward and backward, and the cache is written to the run folder, so a resumed
run does not compute it again.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from mmrealsr_plugin.archs.mmrealsr import MMRealSR
from mmrealsr_plugin.atomic import atomic_path
from mmrealsr_plugin.errors import CheckpointError
from mmrealsr_plugin.knobs import REFERENCE, network_scores

from ..config import TrainConfig
from ..distributed import DistInfo
from ..ema import EMA
from ..knob_targets import high_pass, input_residual, knob_target, sample_knobs
from ..models import build_generator, pytorch_init_
from ..photo_patches import PhotoPatches
from ..severity import SLOTS, sample_groups
from .base import GeneratorHolder

CACHE_FILE = "distill_cache.pt"
CACHE_SHAPING = ("cache_size", "lr_size", "cache_block", "real_fraction")
"""The ``[distill]`` settings a cache depends on (with the seed, the initial model, the data and the groups)."""
CACHE_BATCH = 8


def _learning_modules(model: MMRealSR, first: int, train_trunk: bool) -> list[nn.Module]:
    conditioning = [model.am_list[first:], model.dd_embed]
    if not train_trunk:
        return conditioning
    return [*conditioning, model.body[first:], model.conv_body, model.conv_up1, model.conv_up2, model.conv_hr,
            model.conv_last]


@torch.no_grad()
def pin_reference_(model: MMRealSR, reference: float = REFERENCE) -> MMRealSR:
    """Shift every modulation's last bias so that scores (reference, reference) give exactly gamma = beta = 0.

    With a frozen trunk and ``relative`` knobs, the automatic setting then restores exactly as the teacher.
    """
    scores = torch.full((1, model.config.num_degradation), reference, dtype=next(model.parameters()).dtype,
                        device=next(model.parameters()).device)
    embedding = model.embed(scores)
    for modulation in model.am_list:
        modulation.fc[-1].bias.sub_(modulation.fc(embedding)[0])
    return model


class DistillCache:
    """The fixed training inputs of a run and what the frozen part of the model makes of them."""

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        self.tensors = tensors

    def __len__(self) -> int:
        return int(self.tensors["scores"].shape[0])

    def take(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: value[index].float() for name, value in self.tensors.items()}

    @classmethod
    @torch.no_grad()
    def build(cls, model: MMRealSR, config: TrainConfig) -> DistillCache:
        """Draw the inputs (photo crops as they are, and synthetically degraded crops) and run the frozen part."""
        settings = config.distill
        generator = torch.Generator().manual_seed(config.run.seed + 7)
        photos = PhotoPatches(config.data.train_dirs)
        model = model.eval()
        parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("feat", "feat0", "teacher", "residual", "scores")}
        for start in range(0, settings.cache_size, CACHE_BATCH):
            count = min(CACHE_BATCH, settings.cache_size - start)
            lr = _draw_inputs(photos, count, config, generator)
            lr = lr.to(next(model.parameters()).device, memory_format=torch.channels_last)
            scores = model.estimate(lr)
            embedding = model.embed(scores)
            feat0 = model.head(lr)
            cached = model.run_blocks(feat0, embedding, 0, settings.cache_block)
            teacher = model.run_tail(model.run_blocks(cached, embedding, settings.cache_block), feat0).clamp(0, 1)
            for name, value in (("feat", cached.half()), ("feat0", feat0.half()), ("teacher", teacher.half()),
                                ("residual", input_residual(lr, teacher, settings.targets)), ("scores", scores)):
                parts[name].append(value.cpu().contiguous())
        return cls({name: torch.cat(values) for name, values in parts.items()})


def _draw_inputs(photos: PhotoPatches, count: int, config: TrainConfig, generator: torch.Generator) -> torch.Tensor:
    """``count`` low-resolution inputs: a share of photo crops as they are, the rest one severity draw each."""
    size = config.distill.lr_size
    real = torch.rand(count, generator=generator) < config.distill.real_fraction
    images = photos.sample(count, size, generator, max_zoom_out=1.5)
    synthetic = int((~real).sum())
    if synthetic:
        bases = photos.sample(synthetic, size, generator)
        groups = sample_groups(bases, config.severity.groups_config, generator)
        images[~real] = groups.images[::SLOTS]  # slot A: blur, noise or JPEG each present or not, at random levels
    return images


class DistillBatches:
    """Which cached inputs and which knobs each step uses, drawn from a generator the stage owns.

    The cache is made at the first batch, inside the run folder the trainer has claimed by then.
    """

    def __init__(self, make_cache: Callable[[], DistillCache], config: TrainConfig, seed: int) -> None:
        self.make_cache, self.config = make_cache, config
        self.cache: DistillCache | None = None
        self.generator = torch.Generator().manual_seed(seed)

    def next(self) -> dict[str, torch.Tensor]:
        if self.cache is None:
            self.cache = self.make_cache()
        index = torch.randint(len(self.cache), (self.config.distill.batch_size,), generator=self.generator)
        batch = self.cache.take(index)
        batch["knobs"] = sample_knobs(batch["scores"], self.config.distill.targets, self.generator)
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])


class _DistillStep(nn.Module):
    """Cached features and the network's scores for the knobs -> output, as one module so data-parallel training
    sees one forward."""

    def __init__(self, model: MMRealSR, cache_block: int, first: int) -> None:
        super().__init__()
        self.model, self.cache_block, self.first = model, cache_block, first

    def forward(self, feat: torch.Tensor, feat0: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        embedding = self.model.embed(scores)
        with torch.no_grad():  # fixed blocks with identity modulations: the embedding does not reach them
            feat = self.model.run_blocks(feat, embedding.detach(), self.cache_block, self.first)
        return self.model.run_tail(self.model.run_blocks(feat, embedding, self.first), feat0)


class DistillStage(GeneratorHolder):
    name = "distill"
    validates_psnr: ClassVar[bool] = True

    def __init__(self, config: TrainConfig, dist: DistInfo) -> None:
        super().__init__(config, dist)
        settings = config.distill
        first = config.model.num_block - settings.trained_blocks
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.run.seed)
            model = build_generator(config)
            learning = _learning_modules(model, first, settings.train_trunk)
            for module in (model.am_list[first:], model.dd_embed):
                pytorch_init_(module)  # the official 0.1-scaled init learns too slowly on a CPU budget
            for modulation in model.am_list:
                modulation.fc[-1].weight.data.zero_()  # every modulation starts (and the fixed ones stay) identity
                modulation.fc[-1].bias.data.zero_()
        self.generator = model.to(self.device, memory_format=torch.channels_last)
        self.generator.requires_grad_(False)
        for module in learning:
            module.requires_grad_(True)
        self.ema = EMA(self.generator, config.optim.ema_decay) if config.optim.ema_decay > 0 else None
        self.step_module = self.distributed(_DistillStep(self.generator, settings.cache_block, first))
        parameters = [p for p in self.generator.parameters() if p.requires_grad]
        self.opt_g, self.sched_g = self.adam(parameters, config.optim.lr_g)
        self.batches = DistillBatches(self._cache, config, seed=config.run.seed + 3 + 1000 * dist.rank)

    def _cache(self) -> DistillCache:
        """The run's cache: read from the run folder when it was made for this config, else built (and saved)."""
        path = self.config.output_dir / CACHE_FILE
        config = self.config.to_dict()
        distill = config["distill"]  # only what shapes the cache: runs that differ in what they train share it
        shaping = {key: distill[key] for key in CACHE_SHAPING} | {"residual_sigma": distill["targets"]["residual_sigma"]}
        signature = json.dumps({"distill": shaping, "seed": config["run"]["seed"], "init": config["init"],
                                "train_dirs": config["data"]["train_dirs"],
                                "severity": config["severity"]["groups_config"]}, sort_keys=True)
        if path.is_file():
            try:
                stored = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # a damaged cache is rebuilt, never trusted
                stored = {"signature": f"unreadable: {exc}"}
            if stored.get("signature") == signature:
                return DistillCache(stored["tensors"])
        cache = DistillCache.build(self.generator, self.config)
        self.generator.train()
        if self.dist.is_main:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(path) as tmp:
                    torch.save({"signature": signature, "tensors": cache.tensors}, tmp)
            except OSError as exc:
                raise CheckpointError(f"cannot write the distillation cache {path}: {exc}; free space or choose "
                                      "another run.output_root") from exc
        return cache

    @property
    def export_model(self) -> MMRealSR:
        """The trained model; pinned to the teacher at the automatic setting when only the modulations learn."""
        model = super().export_model
        if self.config.model.knobs == "relative" and not self.config.distill.train_trunk:
            model = pin_reference_(copy.deepcopy(model))
        return model

    def step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        batch = {k: v.to(self.device) for k, v in batch.items()}
        layout = torch.channels_last
        with torch.no_grad():
            target = knob_target(batch["teacher"], batch["residual"], batch["scores"], batch["knobs"],
                                 self.config.distill.targets)
        conditioning = network_scores(self.config.model.knobs, batch["knobs"], batch["scores"])
        with self.autocast():
            output = self.step_module(batch["feat"].contiguous(memory_format=layout),
                                      batch["feat0"].contiguous(memory_format=layout), conditioning).float()
        pixel = F.l1_loss(output, target)
        losses = {"l1": pixel, "total": pixel}
        settings = self.config.distill
        if settings.detail_weight > 0:
            losses["detail"] = F.l1_loss(high_pass(output, settings.detail_sigma), high_pass(target, settings.detail_sigma))
            losses["total"] = pixel + settings.detail_weight * losses["detail"]
        self.optimize(self.opt_g, losses["total"])
        self.finish_step()
        return {name: float(value.detach()) for name, value in losses.items()}
