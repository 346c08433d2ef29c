"""Restore and estimate for whole images: the public Python API every front-end calls, and the one pipeline.

Images are numpy float32 arrays in [0, 1], channels last: (H, W, C) or a batch (B, H, W, C),
with C = 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA). Outputs keep the input's layout.
Scores are estimated once per image on the whole image (on an area-downscaled proxy above
``MMREALSR_ESTIMATE_MAX_PIXELS``; with the measured terms a model declares, :mod:`~mmrealsr_plugin.measures`)
and then held fixed over all tiles.

The engine owns the pipeline for every backend: pad to the runner's size multiple -> tile -> run each tile on
the runner -> blend (:func:`~mmrealsr_plugin.tiling.tiled_apply`) -> a non-finite tile is rerun in float32 when
the runner computes in half precision, else an error -> a device out-of-memory halves the tile and starts again
-> crop, clip, resize, gray and alpha. A backend only supplies the :class:`~mmrealsr_plugin.types.Runner`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pluggy
from PIL import Image

from . import settings
from .errors import BackendError, BackendOutOfMemoryError, InvalidScoreError, ModelLoadError, NonFiniteOutputError
from .knobs import network_scores
from .measures import measured_scores
from .plugins import get_plugin_manager
from .sources import resolve_model
from .suffixes import WEIGHT_SUFFIXES
from .tiling import DEFAULT_OVERLAP, DEFAULT_TILE, ProgressFn, TileConfig, auto_tile, tiled_apply
from .types import PRECISIONS, LoadedModel, LoadOptions, Precision, Runner, Scores

if TYPE_CHECKING:
    from .archs.mmrealsr import MMRealSR

MIN_RETRY_TILE = 64
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class RestoreResult:
    image: np.ndarray
    """The restored image, same layout and channel count as the input."""
    scores: Scores
    """The scores actually used, per image (estimated, manual, or a mix)."""
    tile: int
    """The tile size that finally ran (smaller than asked after a device out-of-memory retry)."""


def load_model(
    source: str | Path | MMRealSR | None = None,
    *,
    backend: str | None = None,
    device: str | None = None,
    precision: Precision = "float32",
    manager: pluggy.PluginManager | None = None,
) -> LoadedModel:
    """Load a model by registry name, local path or Hub reference (None: the default model), or run an
    :class:`~mmrealsr_plugin.archs.mmrealsr.MMRealSR` network already in memory (used as it is: moved and cast in
    place)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    manager = manager or get_plugin_manager()
    if source is None or isinstance(source, (str, Path)):
        path, name = resolve_model(source, manager)
        target: Path | MMRealSR = path
    else:
        target, name = source, None
    options = LoadOptions(backend=backend, device=device or settings.default_device(), precision=precision)
    names = sorted(n for names in manager.hook.mmrealsr_backend_names() for n in names)
    if backend is not None and backend not in names:
        raise BackendError(f"backend {backend!r} is not installed; installed backends: {', '.join(names)}")
    model = manager.hook.mmrealsr_load_model(source=target, options=options)
    if model is None:
        by = f"backend {backend!r}" if backend else f"none of the installed backends ({', '.join(names)})"
        if not isinstance(target, Path):
            raise ModelLoadError(f"{by} runs a {type(target).__name__} in memory; pass a weights file instead")
        raise ModelLoadError(
            f"{target}: {by} loads {target.suffix or 'suffix-less'} files; give a weights file "
            f"({', '.join(WEIGHT_SUFFIXES)}) or an ONNX export (<name>.generator.onnx with its .estimator.onnx)"
        )
    if name is not None:
        model.descriptor = dataclasses.replace(model.descriptor, name=name)
    return model


def release(model: LoadedModel) -> None:
    """Free the device memory held by ``model`` (it stays usable: the next run loads it again)."""
    model.runner.release()


def _as_batch(image: np.ndarray) -> tuple[np.ndarray, bool]:
    array = np.asarray(image)
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"expected float pixels in [0, 1], got dtype {array.dtype}; for 8-bit data divide by 255 "
                         "(read_image does this for files)")
    if array.ndim == 3:
        array, single = array[None], True
    elif array.ndim == 4:
        single = False
    else:
        raise ValueError(f"expected an image (H, W, C) or a batch (B, H, W, C), got shape {array.shape}")
    if array.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(f"expected 1, 2, 3 or 4 channels (last axis), got shape {array.shape}")
    if 0 in array.shape:
        raise ValueError(f"empty image of shape {array.shape}")
    if array.dtype != np.float32:
        array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise ValueError("the image contains NaN or infinity; pixels must be finite values in [0, 1]")
    return array, single


def _split(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Channels-last batch -> (RGB as B,3,H,W contiguous, alpha as B,H,W or None)."""
    channels = batch.shape[-1]
    color = batch[..., :3] if channels >= 3 else np.repeat(batch[..., :1], 3, axis=-1)
    alpha = batch[..., -1] if channels in (2, 4) else None
    return np.ascontiguousarray(color.transpose(0, 3, 1, 2)), alpha


def _resize(channel: np.ndarray, size: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    """Resize one float32 (H, W) plane to ``size`` = (width, height)."""
    return np.asarray(Image.fromarray(channel, mode="F").resize(size, resample), dtype=np.float32)


def _resize_nchw(images: np.ndarray, size: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    return np.stack([np.stack([_resize(c, size, resample) for c in img]) for img in images])


def check_score(name: str, value: float | None, extrapolate: bool) -> float | None:
    """Validate a manual knob value: finite, and in [0, 1] unless extrapolating."""
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InvalidScoreError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not math.isfinite(value):
        raise InvalidScoreError(f"{name} must be a finite number, got {value}")
    if not extrapolate and not 0.0 <= value <= 1.0:
        raise InvalidScoreError(
            f"{name}={value} is outside [0, 1]; pass extrapolate=True (CLI: --extrapolate) to go beyond the trained range"
        )
    return value


def check_outscale(outscale: float | None) -> float | None:
    """Validate ``outscale``: None (the model's scale) or a finite factor in (0, 16]."""
    if outscale is not None and not (math.isfinite(outscale) and 0 < outscale <= 16):
        raise ValueError(f"outscale must be in (0, 16], got {outscale}")
    return outscale


def output_size(width: int, height: int, scale: int, outscale: float | None) -> tuple[int, int]:
    """(width, height) of the restored image: the model's scale, or ``outscale`` when it differs from it."""
    if outscale is None or math.isclose(outscale, scale):
        return width * scale, height * scale
    return max(1, round(width * outscale)), max(1, round(height * outscale))


def _float32(runner: Runner) -> Runner | None:
    """The runner to rerun a non-finite result in: a float32 copy when ``runner`` computes in half precision.

    Half precision overflows (to infinity, then NaN) on some inputs and GPUs where float32 does not: the known
    black-frame failure of GAN upscalers. None when there is nothing better to try.
    """
    if runner.precision != "float32" and "float32" in runner.precisions:
        return runner.with_precision("float32")
    return None


def _estimate_rgb(model: LoadedModel, rgb: np.ndarray) -> Scores:
    limit = settings.estimate_max_pixels()
    height, width = rgb.shape[2:]
    proxy = rgb
    if limit and height * width > limit:
        factor = math.sqrt(limit / (height * width))
        size = (max(1, int(width * factor)), max(1, int(height * factor)))
        proxy = _resize_nchw(rgb, size, Image.Resampling.BOX)
    scores = model.runner.estimate(proxy)
    if not np.isfinite(scores).all() and (exact := _float32(model.runner)) is not None:
        scores = exact.estimate(proxy)
    bad = [i for i, pair in enumerate(scores) if not np.isfinite(pair).all()]
    if bad:
        raise NonFiniteOutputError(
            f"{model.descriptor.source}: the estimator returned non-finite scores (NaN or infinity) for image(s) {bad} "
            "of the batch: the weights are broken (check or re-download the model file); setting both knobs by hand "
            "skips the estimator"
        )
    return Scores.from_array(measured_scores(scores, rgb, proxy, model.descriptor.config))


def estimate(model: LoadedModel, image: np.ndarray) -> Scores:
    """Blur and noise scores of an image or batch, each image estimated as a whole."""
    batch, _ = _as_batch(image)
    rgb, _ = _split(batch)
    return _estimate_rgb(model, rgb)


def _scores_for(
    model: LoadedModel, rgb: np.ndarray, blur: float | None, noise: float | None, estimated: Scores | None
) -> tuple[Scores, np.ndarray]:
    """The knobs used per image (a knob left as None takes the estimate) and the scores the network is given
    for them (:func:`~mmrealsr_plugin.knobs.network_scores`; a ``relative`` model always needs the estimate)."""
    count, mode = rgb.shape[0], model.descriptor.config.knobs
    if blur is not None and noise is not None and mode == "absolute":
        used = Scores(blur=np.full(count, blur), noise=np.full(count, noise))
        return used, used.as_array()
    if estimated is None:
        estimated = _estimate_rgb(model, rgb)
    elif len(estimated) != count:
        raise ValueError(f"estimated holds scores of {len(estimated)} images for a batch of {count}")
    used = Scores(
        blur=estimated.blur if blur is None else np.full(count, blur),
        noise=estimated.noise if noise is None else np.full(count, noise),
    )
    return used, network_scores(mode, used.as_array(), estimated.as_array())


def _non_finite_cause(scores: Scores) -> str:
    used = ", ".join(f"blur {b:g}, noise {n:g}" for b, n in zip(scores.blur, scores.noise))
    if np.all((scores.as_array() >= 0) & (scores.as_array() <= 1)):
        return f"the scores ({used}) are in range, so the weights are broken: check or re-download the model file"
    return (f"the scores ({used}) are far outside the trained range [0, 1] and overflow the network: use values "
            "nearer that range")


def _run_tiles(
    model: LoadedModel, rgb: np.ndarray, scores: Scores, conditioning: np.ndarray, tiling: TileConfig,
    progress: ProgressFn | None
) -> tuple[np.ndarray, int]:
    """Tile, run and blend, rerunning a non-finite tile in float32 and halving the tile on out-of-memory."""
    runner = model.runner
    fallback: list[Runner | None] = []  # the float32 runner, made on first need and kept for this call

    def run(tile: np.ndarray) -> np.ndarray:
        out = runner.run_tile(tile, conditioning)
        if not np.isfinite(out).all():
            if not fallback:
                fallback.append(_float32(runner))
            if fallback[0] is not None:
                out = fallback[0].run_tile(tile, conditioning)
        return out  # tiled_apply refuses what is still not finite

    while True:
        try:
            out = tiled_apply(run, rgb, runner.scale, tiling, progress, align=runner.size_multiple)
        except NonFiniteOutputError as exc:
            raise NonFiniteOutputError(f"{model.descriptor.source}: {exc}; {_non_finite_cause(scores)}. Nothing was "
                                       "written") from None
        except BackendOutOfMemoryError:
            smaller = (tiling.tile or max(rgb.shape[2:])) // 2
            if smaller < MIN_RETRY_TILE:
                raise
            tiling = TileConfig.fitted(smaller, tiling.overlap)
            continue
        return out, tiling.tile


def restore(
    model: LoadedModel,
    image: np.ndarray,
    *,
    blur: float | None = None,
    noise: float | None = None,
    extrapolate: bool = False,
    tile: int | Literal["auto"] = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    outscale: float | None = None,
    progress: ProgressFn | None = None,
    estimated: Scores | None = None,
) -> RestoreResult:
    """Super-resolve ``image`` with the noise and blur knobs.

    :param blur: restoration strength for blur in [0, 1]; None estimates it from the image.
    :param noise: restoration strength for noise in [0, 1]; None estimates it.
    :param extrapolate: allow knob values outside [0, 1] (beyond what the model was trained on).
    :param tile: tile size in input pixels (0: whole image at once; ``"auto"``: the largest that fits the memory
        free on the runner's device, :func:`~mmrealsr_plugin.tiling.auto_tile`); overlap in input pixels, reduced to
        half the tile when larger (:meth:`TileConfig.fitted`). A device out-of-memory halves the tile and
        starts again (down to 64); :attr:`RestoreResult.tile` says what ran.
    :param outscale: final scale relative to the input; the network output is Lanczos-resized
        when it differs from the model's native scale.
    :param progress: ``progress(done, total)`` per tile; raise from it to cancel.
    :param estimated: the scores a knob left None takes and a ``relative`` model reads the knobs against (default:
        ``image``'s own estimate); a preview of a region passes the whole photo's.
    """
    blur = check_score("blur", blur, extrapolate)
    noise = check_score("noise", noise, extrapolate)
    check_outscale(outscale)
    tiling = TileConfig.fitted(0 if tile == "auto" else tile, overlap)
    batch, single = _as_batch(image)
    rgb, alpha = _split(batch)
    scores, conditioning = _scores_for(model, rgb, blur, noise, estimated)
    height, width = rgb.shape[2:]
    unit = model.runner.size_multiple
    pad_h, pad_w = -height % unit, -width % unit
    if pad_h or pad_w:
        mode = "reflect" if height > pad_h and width > pad_w else "edge"
        rgb = np.pad(rgb, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)), mode=mode)
    if tile == "auto":
        runner, count = model.runner, rgb.shape[0]
        chosen = auto_tile(*rgb.shape[2:], runner.free_bytes(), lambda side: count * runner.memory_bytes(side))
        tiling = TileConfig.fitted(chosen, overlap)
    out, used_tile = _run_tiles(model, rgb, scores, conditioning, tiling, progress)
    scale = model.runner.scale
    # Channels-last view of tiled_apply's output (no copy for its layout); clip in place.
    result = out.transpose(0, 2, 3, 1)[:, : height * scale, : width * scale]
    np.clip(result, 0.0, 1.0, out=result)
    target = output_size(width, height, scale, outscale)
    if target != (width * scale, height * scale):
        resized = _resize_nchw(result.transpose(0, 3, 1, 2), target, Image.Resampling.LANCZOS)
        result = np.clip(resized, 0.0, 1.0).transpose(0, 2, 3, 1)
    channels = batch.shape[-1]
    if channels in (1, 2):
        result = (result @ LUMA)[..., None]
    if alpha is not None:
        upscaled = np.stack([_resize(a, target, Image.Resampling.BICUBIC) for a in alpha])
        result = np.concatenate([result, np.clip(upscaled, 0.0, 1.0)[..., None]], axis=-1)
    result = np.ascontiguousarray(result, dtype=np.float32)
    return RestoreResult(result[0] if single else result, scores, used_tile)
