"""What a training run needs from the file system, checked before anything is built or written.

* ``check_paths``: every path the config names (training and validation folders, init and VGG weights, the
  output root). A missing validation folder used to surface only at the first validation, after hours of
  training; now all problems are reported at once, each with the config key, its value and the fix.
* ``claim_run_folder``: a run started without ``--resume`` never reuses the folder of an earlier run (its
  checkpoints, final weights and metrics), and only one process trains a run at a time.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from mmrealsr_plugin.errors import MMRealSRError, RunFolderError, TrainingConfigError
from mmrealsr_plugin.imageio import list_images, read_image

from .config import TrainConfig
from .data import image_files

LOCK_NAME = ".lock"
"""Held (flock) by the process training the run; the kernel releases it when that process dies."""


def _path_problem(path: Path, want_folder: bool = False) -> str | None:
    if not path.exists():
        return "does not exist"
    if want_folder and not path.is_dir():
        return "is not a folder"
    if not want_folder and not path.is_file():
        return "is not a file"
    return None


def _unreadable(paths: list[Path]) -> str | None:
    for path in paths:
        try:
            read_image(path)
        except (MMRealSRError, OSError) as exc:
            return f"has an unreadable image: {exc}"
    return None


def _images_problem(folder: Path, limit: int) -> str | None:
    """Why validation could not use the images of ``folder`` (flat, as validation lists them), if it could not."""
    problem = _path_problem(folder, want_folder=True)
    if problem:
        return problem
    images = list_images(folder, limit=limit)
    return _unreadable(images) if images else "holds no images"


def _paired_problem(root: Path, limit: int) -> str | None:
    """Why PSNR validation could not use ``root`` (HR/ and LR_x4/ images of the same names), if it could not."""
    problem = _path_problem(root, want_folder=True)
    if problem:
        return problem
    missing = [sub for sub in ("HR", "LR_x4") if not (root / sub).is_dir()]
    if missing:
        return f"has no {missing[0]}/ folder"
    low = list_images(root / "LR_x4", limit=limit)
    if not low:
        return "holds no images in LR_x4/"
    unpaired = [path.name for path in low if not (root / "HR" / path.name).is_file()]
    if unpaired:
        return f"has no HR/{unpaired[0]} for LR_x4/{unpaired[0]}"
    return _unreadable([path for low_path in low for path in (low_path, root / "HR" / low_path.name)])


def _training_folders(config: TrainConfig) -> list[str]:
    fix = "set data.train_dirs to folders of HR training images (searched recursively)"
    if not config.data.train_dirs:
        return [f"data.train_dirs is empty; {fix}"]
    problems = []
    for index, value in enumerate(config.data.train_dirs):
        problem = _path_problem(Path(value), want_folder=True)
        if problem is None:
            try:
                image_files(value)
            except MMRealSRError:
                problem = "holds no images"
        if problem:
            problems.append(f"data.train_dirs[{index}] = {value!r} {problem}; {fix}")
    return problems


def _validation_folders(config: TrainConfig) -> list[str]:
    """Only what validation will read: nothing when it never runs (run.val_every = 0)."""
    data = config.data
    if not config.run.val_every:
        return []
    problems = []
    if data.val_dir and config.run.stage != "estimator":
        problem = _paired_problem(Path(data.val_dir), data.val_max_images)
        if problem:
            problems.append(f"data.val_dir = {data.val_dir!r} {problem}; point it at a folder with HR/ and LR_x4/ "
                            'images of the same names, or set it to "" to skip PSNR validation')
    if data.val_sweep_dir:
        problem = _images_problem(Path(data.val_sweep_dir), data.val_max_images)
        if problem:
            problems.append(f"data.val_sweep_dir = {data.val_sweep_dir!r} {problem}; point it at a folder of clean "
                            'HR images, or set it to "" to skip the estimator sweep')
    return problems


def _weight_files(config: TrainConfig) -> list[str]:
    init, losses = config.init, config.losses
    files = [("init.generator", init.generator, 'a weights file (e.g. a stage-1 run\'s final/NAME.safetensors), or "" '
              "to start from scratch"),
             ("init.realesrgan_ncnn_param", init.realesrgan_ncnn_param, "Real-ESRGAN x4plus's ncnn .param file"),
             ("init.realesrgan_ncnn_bin", init.realesrgan_ncnn_bin, "Real-ESRGAN x4plus's ncnn .bin file")]
    problems = []
    if losses.perceptual > 0 and config.run.stage != "estimator":
        if not losses.vgg_weights:
            problems.append(f"losses.vgg_weights is empty but losses.perceptual = {losses.perceptual}; set it to VGG19 "
                            "ImageNet weights (a local file or hf://owner/repo/file), or set losses.perceptual = 0")
        elif not losses.vgg_weights.startswith("hf://"):
            files.append(("losses.vgg_weights", losses.vgg_weights, "VGG19 ImageNet weights (torchvision layout) or "
                          "hf://owner/repo/file"))
    for key, value, expected in files:
        problem = _path_problem(Path(value).expanduser()) if value else None
        if problem:
            problems.append(f"{key} = {value!r} {problem}; set it to {expected}")
    return problems


def _output_root(config: TrainConfig) -> list[str]:
    root, run_dir = Path(config.run.output_root), config.output_dir
    existing = next(p for p in (run_dir, *run_dir.parents) if p.exists())  # ends at "." or "/"
    if not existing.is_dir():
        return [f"run.output_root = {config.run.output_root!r}: {existing} is not a folder; set run.output_root to a "
                "folder (it is created if missing)"]
    if not os.access(existing, os.W_OK | os.X_OK):
        return [f"run.output_root = {config.run.output_root!r}: {existing} is not writable; set run.output_root to "
                f"a folder you can write to (the run goes to {root}/{config.run.name})"]
    return []


def check_paths(config: TrainConfig) -> None:
    """Raise one TrainingConfigError listing every path of ``config`` that the run would fail on."""
    problems = [*_training_folders(config), *_validation_folders(config), *_weight_files(config),
                *_output_root(config)]
    if problems:
        raise TrainingConfigError("the training config names paths that cannot be used (nothing was started):\n  - "
                                  + "\n  - ".join(problems))


def _describe(run_dir: Path) -> str:
    """What an earlier run left in ``run_dir``, in words."""
    parts = []
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").glob("iter_*") if p.is_dir())
    if checkpoints:
        parts.append(f"checkpoints up to {checkpoints[-1]}")
    parts += [f"final weights {p.relative_to(run_dir)}" for p in sorted((run_dir / "final").glob("*")) if p.is_file()]
    if (run_dir / "metrics.jsonl").is_file():
        parts.append("metrics.jsonl")
    if not parts:
        parts = sorted(p.name for p in run_dir.iterdir() if p.name != LOCK_NAME)
    return ", ".join(parts)


def _check_reuse(run_dir: Path, resume: bool) -> None:
    """Refuse to start over an earlier run; with ``resume``, refuse only what resuming would destroy."""
    if resume:
        final = [p for p in (run_dir / "final").glob("*") if p.is_file()]
        if final and not any(p.is_dir() for p in (run_dir / "checkpoints").glob("iter_*")):
            raise RunFolderError(
                f"{run_dir} holds final weights ({final[0].name}) but no checkpoint to resume from, so --resume would "
                "train from scratch and replace them. Nothing was changed. Start a new run instead "
                "(--set run.name=NEW_NAME), with init.generator set to those weights to continue from them"
            )
        return
    leftovers = [p for p in run_dir.iterdir() if p.name != LOCK_NAME]
    if leftovers:
        raise RunFolderError(
            f"{run_dir} already holds a training run ({_describe(run_dir)}). Nothing was changed. To continue it, "
            "add --resume; to start anew, choose another name (--set run.name=NEW_NAME) or output root "
            "(--set run.output_root=DIR), or move that folder away first"
        )


@contextlib.contextmanager
def claim_run_folder(run_dir: Path, resume: bool) -> Iterator[None]:
    """Hold the run folder for this process: created if needed, locked, and checked not to hold another run."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK_NAME, "a+") as lock:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; the folder check below still applies
            fcntl = None
        if fcntl is not None:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunFolderError(
                    f"another process is training the run in {run_dir} right now; wait for it to finish, or start "
                    "this one under another name (--set run.name=NEW_NAME)"
                ) from None
        _check_reuse(run_dir, resume)
        yield
