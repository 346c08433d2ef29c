"""Metric learning of the degradation estimator alone, then how well its scores rank known degradations.

Trains ONLY the estimator (ranking + anchor losses on the MM-RealSR contrast pairs synthesised from
the HR training folder) for a short CPU run, then scores held-out images under a Gaussian-blur sweep
and a Gaussian-noise sweep and reports Spearman's rho of score vs sigma, per image, averaged
(target >= 0.9). The trained weights go to --save (outside the repository).

    timeout 900 python bench/bench_estimator_metric_learning.py --iters 400 --feats 16,16,16,32 --hidden 128 \
        --save /root/.cache/mmrealsr-ci/artifacts/estimator_metric_learning.safetensors
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from mmrealsr_plugin.training.config import load_config
from mmrealsr_plugin.training.trainer import Trainer
from mmrealsr_plugin.imageio import list_images
from mmrealsr_plugin.training.validation import estimator_sweep
from mmrealsr_plugin.weights import save_safetensors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=600)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--gt-size", type=int, default=192, help="HR crop side (the LR patch is a quarter)")
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--ema", type=float, default=0.99, help="EMA decay (0.999 lags too far behind a short run)")
    parser.add_argument("--factor-rank", type=float, default=0.01,
                        help="weight of the single-factor contrast pairs (training/contrast.py); 0 = official recipe only")
    parser.add_argument("--feats", default="64,64,64,128",
                        help="estimator stage widths (official 64,64,64,128; e.g. 16,16,16,32 for a quick CPU run)")
    parser.add_argument("--hidden", type=int, default=512, help="estimator head width (official 512)")
    parser.add_argument("--train-dir", default="/work/shared/data/train_hr")
    parser.add_argument("--eval-dir", default="/work/shared/data/eval_paired/Set14/HR")
    parser.add_argument("--save", type=Path, default=Path("/root/.cache/mmrealsr-ci/artifacts/estimator_metric_learning.safetensors"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    eval_images = list_images(args.eval_dir)
    with tempfile.TemporaryDirectory() as out:
        config = load_config("estimator_only", [
            f'run.output_root="{out}"', 'run.device="cpu"', f"run.threads={args.threads}", "run.progress=false",
            f"run.total_iter={args.iters}", "run.checkpoint_every=0", "run.val_every=0", "run.log_every=50",
            f'data.train_dirs=["{args.train_dir}"]', f"data.crop_size={args.gt_size}", f"data.gt_size={args.gt_size}",
            f"data.batch_size={args.batch}", f"data.queue_size={args.batch * 5}", f"optim.lr_g={args.lr}",
            f"optim.ema_decay={args.ema}", f"losses.factor_rank={args.factor_rank}", f"model.estimator_feats=[{args.feats}]",
            f"model.estimator_hidden={args.hidden}",
        ])
        trainer = Trainer(config)
        model = trainer.stage.export_model.eval()
        before = estimator_sweep(model, eval_images, trainer.dist.device)
        start = time.perf_counter()
        losses = []
        for i in range(args.iters):
            losses.append(trainer.stage.step(trainer.stage.batches.next()))
            if (i + 1) % 50 == 0:
                recent = losses[-50:]
                print(json.dumps({"iter": i + 1, "seconds": round(time.perf_counter() - start, 1),
                                  **{k: round(sum(r[k] for r in recent) / len(recent), 5) for k in recent[0]}}),
                      flush=True)
        train_seconds = time.perf_counter() - start
        trainer.iteration = args.iters
        after = estimator_sweep(trainer.stage.export_model.eval(), eval_images, trainer.dist.device)
        raw = estimator_sweep(trainer.stage.generator.eval(), eval_images, trainer.dist.device)
        args.save.parent.mkdir(parents=True, exist_ok=True)
        save_safetensors(trainer.stage.export_model.state_dict(), args.save, config=config.model.to_dict(),
                         metadata={"note": "estimator-only metric learning; the trunk is untrained",
                                   "iterations": str(args.iters)})
        trainer.close()
    print(json.dumps({
        "benchmark": "estimator_metric_learning_cpu", "estimator_feats": args.feats, "estimator_hidden": args.hidden,
        "lr": args.lr, "factor_rank": args.factor_rank, "iters": args.iters, "batch": args.batch, "gt_size": args.gt_size,
        "train_seconds": round(train_seconds, 1), "eval_images": len(eval_images), "eval_dir": args.eval_dir,
        "before": before.to_dict(), "after_ema": after.to_dict(), "after_raw": raw.to_dict(),
        "blur_scores_first_image": [round(v, 4) for v in after.blur_scores[0]],
        "noise_scores_first_image": [round(v, 4) for v in after.noise_scores[0]],
        "target": 0.9, "saved": str(args.save),
    }, indent=2))


if __name__ == "__main__":
    main()
