"""Publish trained weights (with a model card) through the plugin that answers ``mmrealsr_publish`` (the Hub plugin)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmrealsr_plugin.errors import HubError
from mmrealsr_plugin.plugins import DISABLE_PLUGINS_ENV, get_plugin_manager

from .config import TrainConfig


def _card(config: TrainConfig, iteration: int) -> dict[str, Any]:
    run, optim, data = config.run, config.optim, config.data
    return {
        "title": f"MM-RealSR {run.name}",
        "description": (
            f"MM-RealSR x4 generator (EMA weights) trained with mmrealsr-plugin, stage `{run.stage}`, "
            f"{iteration} iterations. Load with `mmrealsr_plugin.load_model(\"hf://<repo>\")`."
        ),
        "recipe": {
            "stage": run.stage, "iterations": iteration, "lr": optim.lr_g, "betas": list(optim.betas),
            "ema_decay": optim.ema_decay, "batch_per_process": data.batch_size, "gt_size": data.gt_size,
            "losses": json.dumps({k: v for k, v in config.to_dict()["losses"].items() if k != "vgg_weights"}),
        },
        "tags": ["trained-with-mmrealsr-plugin", f"stage-{run.stage}"],
    }


def _last_metrics(out_dir: Path) -> dict[str, Any]:
    """The newest validation record of the run's metrics.jsonl (PSNR and estimator Spearman)."""
    path = out_dir / "metrics.jsonl"
    found: dict[str, Any] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record.get("event") == "val":
                found = {k: v for k, v in record.items() if k not in ("event", "iter")}
    return found


def push_final(config: TrainConfig, weights: Path, iteration: int | None = None) -> str:
    """Publish ``weights`` to ``hub.repo``; returns the URL. :raises HubError: the push failed, or no plugin publishes."""
    iteration = config.run.total_iter if iteration is None else iteration
    url = get_plugin_manager().hook.mmrealsr_publish(
        weights=weights, repo_id=config.hub.repo, card=_card(config, iteration),
        metrics=_last_metrics(config.output_dir), private=config.hub.private,
        commit_message=f"{config.run.name}: iteration {iteration}",
    )
    if url is None:
        raise HubError(f"no installed plugin publishes to {config.hub.repo!r} (the Hub plugin, mmrealsr_plugin.hub, is "
                       f"missing or blocked by {DISABLE_PLUGINS_ENV}); the weights stay in {weights}")
    return str(url)


def push_checkpoint_every(config: TrainConfig) -> Callable[[Any, Path], None]:
    """A checkpoint hook for the trainer that exports and pushes the EMA weights every ``hub.every`` iterations.

    A failed push (the network, the Hub) is logged and training goes on: the checkpoint is already on disk,
    and a hiccup must not end a run of days.
    """

    def hook(trainer: Any, _checkpoint: Path) -> None:
        if trainer.iteration % config.hub.every == 0:
            weights = trainer.export(config.output_dir / "hub" / f"{config.run.name}_{trainer.iteration:08d}.safetensors")
            try:
                push_final(config, weights, trainer.iteration)
            except HubError as exc:  # the Hub plugin turns every failure of the client into one of these
                message = f"{type(exc).__name__}: {exc}"
                trainer.log({"event": "hub_push_failed", "iter": trainer.iteration, "error": message})
                print(f"mmrealsr: warning: pushing iteration {trainer.iteration} to {config.hub.repo} failed "
                      f"({message}); training goes on, the weights are in {weights}", file=sys.stderr)

    return hook
