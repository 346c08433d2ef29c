"""Training configuration as data: typed, frozen dataclasses read from TOML, strictly validated.

A config file has one table per dataclass below (``[run]``, ``[model]``, ``[init]``, ``[data]``,
``[degradation]``, ``[optim]``, ``[losses]``, ``[discriminator]``, ``[severity]``, ``[distill]``, ``[hub]``),
read by the project's one strict reader (:mod:`mmrealsr_plugin.dataconfig`): unknown keys, wrong types,
non-finite numbers and values outside a field's range are errors that name the dotted key; ``--set
section.key=value`` overrides are parsed as TOML values and checked the same way. Cross-field rules are in
:func:`_check`. The resolved config (after overrides) is stored in every checkpoint.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mmrealsr_plugin.archs.mmrealsr import MMRealSRConfig
from mmrealsr_plugin.dataconfig import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, Range, from_dict, ranged, to_dict
from mmrealsr_plugin.errors import TrainingConfigError

from .degradations.config import DegradationConfig
from .knob_targets import KnobTargetConfig
from .severity import SeverityConfig, SeverityLossConfig

Stage = Literal["net", "gan", "estimator", "severity", "distill"]
Precision = Literal["fp32", "bf16"]

VGG19_LAYERS = (
    "conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv3_4",
    "conv4_1", "conv4_2", "conv4_3", "conv4_4", "conv5_1", "conv5_2", "conv5_3", "conv5_4",
)


@dataclass(frozen=True)
class RunConfig:
    name: str = "mmrealsr"
    """Run name; the output folder is ``output_root/name``."""
    output_root: str = "experiments"
    stage: Stage = "net"
    """net: stage 1 (L1 + ranking + anchors, estimator trained jointly); gan: stage 2 (L1 + perceptual +
    GAN, estimator frozen); estimator: only the estimator (ranking + anchors), for metric learning. One class each in
    ``training/stages/``; a new stage adds its name here."""
    total_iter: int = ranged(70_000, AT_LEAST_ONE)
    seed: int = ranged(0, Range(0, 2**31 - 1))
    """numpy seeds must stay below 2**32 after adding 1000 per rank."""
    device: str = "auto"
    """auto, cpu, cuda, cuda:N. Under torchrun the local rank picks the GPU."""
    precision: Precision = "fp32"
    """bf16 autocast on CUDA; ignored (fp32) on CPU, where bf16 autocast is slow and inexact."""
    threads: int = ranged(0, NON_NEGATIVE)
    """torch intra-op threads on CPU; 0 leaves the torch default."""
    time_limit_minutes: float = ranged(0.0, NON_NEGATIVE)
    """Stop early, after the iteration that passes this many minutes of training, with the usual final
    checkpoint and export (0: no limit). For rented machines; ``--resume`` continues to ``total_iter``."""
    log_every: int = ranged(100, AT_LEAST_ONE)
    val_every: int = ranged(5_000, NON_NEGATIVE)
    checkpoint_every: int = ranged(5_000, NON_NEGATIVE)
    keep_checkpoints: int = ranged(2, AT_LEAST_ONE)
    progress: bool = True


@dataclass(frozen=True)
class InitConfig:
    generator: str = ""
    """Weights file for the whole generator (estimator included), e.g. the stage-1 result (EMA
    weights are preferred inside BasicSR containers). Loaded strictly."""
    realesrgan_ncnn_param: str = ""
    """Real-ESRGAN x4plus ncnn ``.param`` file: initialises the RRDB trunk (fine-tuning)."""
    realesrgan_ncnn_bin: str = ""
    identity_modulation: bool = False
    """Zero the last Linear of every modulation MLP so the trunk starts as the plain RRDBNet."""
    reinit_estimator: Literal["", "official", "pytorch"] = ""
    """Re-initialise the estimator after loading: "official" (kaiming x 0.1, zero bias), "pytorch" (the layers'
    default init), or "" (keep what the source gives). With the official init the scores start constant at
    0.5 and metric learning alone stays there for hundreds of iterations (measured); the PyTorch init learns."""


@dataclass(frozen=True)
class DataConfig:
    train_dirs: tuple[str, ...] = ("../shared/data/train_hr",)
    """Folders searched recursively for HR training images; relative paths start at the working directory
    (the default is the data folder beside this repository)."""
    crop_size: int = 400
    """Side of the random HR crop each image gives before synthesis (official: 400)."""
    gt_size: int = 192
    """HR patch side fed to the network after the paired crop (LR patch = gt_size // 4)."""
    rotations: bool = False
    """Also rotate/flip vertically (8 orientations); the official recipe only flips horizontally."""
    batch_size: int = ranged(6, AT_LEAST_ONE)
    """Per process (per GPU)."""
    queue_size: int = ranged(90, NON_NEGATIVE)
    """Training-pair pool per process; a multiple of batch_size (0 disables the pool)."""
    sharpen_gt: bool = True
    """Synthesise the LQs from the USM-sharpened GT (stage 1 ``gt_usm``); stage 2 degrades the plain GT."""
    val_dir: str = "../shared/data/eval_paired/Set5"
    """Paired folder with HR/ and LR_x4/ for PSNR; empty disables PSNR validation."""
    val_sweep_dir: str = "../shared/data/eval_paired/Set5/HR"
    """Clean HR images for the estimator monotonicity sweep; empty disables it."""
    val_max_images: int = ranged(5, NON_NEGATIVE)
    synthesis_device: Literal["cpu", "train"] = "cpu"
    """Where the degradations run: the CPU (bit-exact resume, any machine) or the training device (``train``:
    the GPU, so synthesis keeps pace with it; random draws still come from the CPU generator)."""


@dataclass(frozen=True)
class OptimConfig:
    lr_g: float = ranged(2e-4, POSITIVE)
    lr_d: float = ranged(1e-4, POSITIVE)
    betas: tuple[float, ...] = ranged((0.9, 0.99), Range(0, 1, high_open=True))
    weight_decay: float = ranged(0.0, NON_NEGATIVE)
    milestones: tuple[int, ...] = ranged((1_000_000,), AT_LEAST_ONE)
    gamma: float = ranged(0.5, POSITIVE)
    ema_decay: float = ranged(0.999, Range(0, 1, high_open=True))
    """0 disables the EMA (the exported weights are then the raw generator)."""
    schedule: Literal["multistep", "onecycle"] = "multistep"
    """multistep: ``milestones`` and ``gamma``; onecycle: warm up over ``warmup`` of ``run.total_iter``, then
    cosine down to almost 0 at ``run.total_iter`` (for short CPU runs; ``run.total_iter`` cannot grow on resume)."""
    warmup: float = ranged(0.05, Range(0, 1, high_open=True))
    freeze: tuple[str, ...] = ()
    """Generator modules kept fixed, by state-dict prefix (e.g. ["conv_first", "body", "conv_body"] trains
    only the modulations, embedding and tail); stage ``gan`` always freezes ``de_net``."""


@dataclass(frozen=True)
class LossConfig:
    l1: float = ranged(1.0, NON_NEGATIVE)
    l1_gt_usm: bool = True
    """L1 target: the sharpened GT (true) or the plain GT."""
    rank: float = ranged(0.01, NON_NEGATIVE)
    rank_margin: float = ranged(0.05, NON_NEGATIVE)
    anchor: float = ranged(1e-4, NON_NEGATIVE)
    factor_rank: float = ranged(0.0, NON_NEGATIVE)
    """Weight of the single-factor contrast pairs (training/contrast.py: blur, noise and JPEG each alone at two
    severities, on the x1 and a_min images); 0 is the official recipe. Stages ``estimator`` and ``net``."""
    perceptual: float = ranged(0.0, NON_NEGATIVE)
    perceptual_gt_usm: bool = True
    perceptual_layers: dict[str, float] = ranged(
        default_factory=lambda: {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0},
        allowed=NON_NEGATIVE,
    )
    vgg_weights: str = ""
    """VGG19 weights (torchvision ``features.N`` keys): a local file, or ``hf://owner/repo/file``."""
    gan: float = ranged(0.0, NON_NEGATIVE)
    gan_gt_usm: bool = False


@dataclass(frozen=True)
class SeverityStageConfig:
    """Stage ``severity``: the estimator alone, on groups of one photo patch at controlled severities."""

    patch_size: int = ranged(48, Range(16, 512))
    """Side of the scored patches, in pixels (the estimator pools globally, so any size works at inference)."""
    groups: int = ranged(8, AT_LEAST_ONE)
    """Groups per step (5 images each)."""
    highpass_init: float = ranged(10.0, NON_NEGATIVE)
    """Start each branch's first convolution as a zero-mean (high-pass) filter bank with this gain, so the
    estimator sees noise, blur and 8x8 JPEG blocking from the first step (0 keeps the layer as initialised)."""
    groups_config: SeverityConfig = field(default_factory=SeverityConfig)
    losses: SeverityLossConfig = field(default_factory=SeverityLossConfig)


@dataclass(frozen=True)
class DistillConfig:
    """Stage ``distill``: the knobs and the last blocks learn the teacher's output moved by the knobs."""

    cache_size: int = ranged(800, AT_LEAST_ONE)
    """Training inputs whose trunk features and teacher outputs are computed once, before the first step."""
    lr_size: int = ranged(48, Range(16, 256))
    """Side of the low-resolution inputs."""
    cache_block: int = ranged(17, NON_NEGATIVE)
    """Trunk blocks run once, at caching time (they and their modulations stay fixed)."""
    trained_blocks: int = ranged(6, AT_LEAST_ONE)
    """The last blocks that learn (with their modulations, the embedding, ``conv_body`` and the tail); the blocks
    between ``cache_block`` and them run without gradients every step."""
    real_fraction: float = ranged(0.5, Range(0, 1))
    """Share of inputs that are photo crops as they are (their own noise, compression and blur); the rest are
    synthetically degraded (one severity draw: blur, noise or JPEG, each present or not)."""
    train_trunk: bool = True
    """Whether the last blocks' convolutions, ``conv_body`` and the tail learn too. False: only the modulations
    of the last ``trained_blocks`` blocks and the embedding learn, so with ``[model] knobs = "relative"`` the
    exported model is pinned to restore exactly as the teacher at the automatic setting."""
    batch_size: int = ranged(8, AT_LEAST_ONE)
    detail_weight: float = ranged(0.0, NON_NEGATIVE)
    """Weight of a second L1 on the high-pass (image minus its Gaussian blur of ``detail_sigma`` output pixels) of
    output and target: what the knobs change is mostly fine detail, which a plain pixel L1 weighs little."""
    detail_sigma: float = ranged(1.5, Range(0.3, 8.0))
    targets: KnobTargetConfig = field(default_factory=KnobTargetConfig)


@dataclass(frozen=True)
class DiscriminatorConfig:
    num_feat: int = ranged(64, AT_LEAST_ONE)
    """U-Net discriminator width (official: 64); the smoke config shrinks it."""
    skip_connection: bool = True


@dataclass(frozen=True)
class HubConfig:
    repo: str = ""
    """Push the final EMA generator here (same as ``--push-to-hub``)."""
    every: int = ranged(0, NON_NEGATIVE)
    """Also push every N iterations (0: only the final weights)."""
    private: bool = False


@dataclass(frozen=True)
class TrainConfig:
    run: RunConfig = field(default_factory=RunConfig)
    model: MMRealSRConfig = field(default_factory=MMRealSRConfig)
    init: InitConfig = field(default_factory=InitConfig)
    data: DataConfig = field(default_factory=DataConfig)
    degradation: DegradationConfig = field(default_factory=DegradationConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    losses: LossConfig = field(default_factory=LossConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    severity: SeverityStageConfig = field(default_factory=SeverityStageConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    hub: HubConfig = field(default_factory=HubConfig)

    @property
    def output_dir(self) -> Path:
        return Path(self.run.output_root) / self.run.name

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise TrainingConfigError(f"--set {item!r}: expected section.key=value, e.g. optim.lr_g=1e-4")
    key, raw = item.split("=", 1)
    parts = key.strip().split(".")
    if len(parts) < 2 or not all(parts):
        raise TrainingConfigError(f"--set {item!r}: the key must be dotted, e.g. run.total_iter=1000")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word is a string: --set run.device=cpu
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``data`` (plain TOML mapping) with ``section.key=value`` items applied."""
    result = to_dict(data)
    for item in overrides:
        parts, value = _parse_override(item)
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise TrainingConfigError(f"--set {item!r}: {part!r} is not a table")
        node[parts[-1]] = value
    return result


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    config = from_dict(TrainConfig, data, error=TrainingConfigError)
    _check(config)
    return config


BUNDLED_CONFIGS = Path(__file__).parent / "configs"
"""The shipped configs; ``mmrealsr train smoke`` is short for ``training/configs/smoke.toml``."""


def find_config(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.is_file():
        return path
    bundled = BUNDLED_CONFIGS / f"{path.stem}.toml"
    if path.parent == Path(".") and bundled.is_file():
        return bundled
    names = sorted(p.stem for p in BUNDLED_CONFIGS.glob("*.toml"))
    raise TrainingConfigError(f"training config {str(name_or_path)!r} does not exist; give a TOML path or one of {names}")


def load_config(path: str | Path, overrides: list[str] = ()) -> TrainConfig:  # type: ignore[assignment]
    """Read a TOML config file (or a bundled config by name), apply ``--set`` overrides, validate everything."""
    path = find_config(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TrainingConfigError(f"{path}: not a valid TOML text file ({exc})") from exc
    except OSError as exc:
        raise TrainingConfigError(f"cannot read the training config {path}: {exc.strerror or exc}") from exc
    return config_from_dict(apply_overrides(data, list(overrides)))


DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")
REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
"""A Hub repository id, ORG/NAME (checked at load, so a typo is found before the training, not at the push)."""
RUN_NAME = re.compile(r"(?!\.{1,2}$)[^/\\\x00]+")
"""A run name is one folder name under ``run.output_root``: not empty, no separators, not ``.`` or ``..``."""


def _check(config: TrainConfig) -> None:
    """Cross-field rules that single-field types and ranges cannot express."""
    run, data, losses = config.run, config.data, config.losses
    if not RUN_NAME.fullmatch(run.name):
        raise TrainingConfigError(
            f"config key 'run.name' must be one folder name (not empty, no '/' or '\\', not '.' or '..'), got "
            f"{run.name!r}; the run's folder is run.output_root/run.name"
        )
    if not DEVICE.fullmatch(run.device):
        raise TrainingConfigError(f"config key 'run.device' must be auto, cpu, cuda or cuda:N, got {run.device!r}")
    if config.hub.repo:
        if not REPO_ID.fullmatch(config.hub.repo) or ".." in config.hub.repo:
            raise TrainingConfigError(f"config key 'hub.repo' must be a Hub repository id ORG/NAME (where the "
                                      f"weights are pushed), got {config.hub.repo!r}")
    if len(config.optim.betas) != 2:
        raise TrainingConfigError(f"config key 'optim.betas' must hold two values (Adam's beta1, beta2), got "
                                  f"{list(config.optim.betas)}")
    if data.gt_size < 16 or data.gt_size % 4:
        raise TrainingConfigError(f"config key 'data.gt_size' must be a multiple of 4 >= 16, got {data.gt_size}")
    if data.crop_size < data.gt_size or data.crop_size % 4:
        raise TrainingConfigError(
            f"data.crop_size ({data.crop_size}) must be a multiple of 4 and at least data.gt_size ({data.gt_size})"
        )
    if data.queue_size and data.queue_size % data.batch_size:
        raise TrainingConfigError(
            f"data.queue_size ({data.queue_size}) must be a multiple of data.batch_size ({data.batch_size})"
        )
    bad_layers = sorted(set(losses.perceptual_layers) - set(VGG19_LAYERS))
    if bad_layers:
        raise TrainingConfigError(f"losses.perceptual_layers has unknown VGG19 layers {bad_layers}; known: {VGG19_LAYERS}")
    if config.model.scale != 4:
        raise TrainingConfigError(f"model.scale must be 4 for training (the synthesis is x4), got {config.model.scale}")
    if bool(config.init.realesrgan_ncnn_param) != bool(config.init.realesrgan_ncnn_bin):
        raise TrainingConfigError("init.realesrgan_ncnn_param and init.realesrgan_ncnn_bin must be given together")
    if run.stage == "estimator" and (losses.perceptual or losses.gan):
        raise TrainingConfigError("run.stage = 'estimator' trains only the estimator; set losses.perceptual and losses.gan to 0")
    if run.stage == "distill":
        last_fixed = config.model.num_block - config.distill.trained_blocks
        if not 0 <= config.distill.cache_block <= last_fixed:
            raise TrainingConfigError(
                f"distill.cache_block ({config.distill.cache_block}) must be between 0 and model.num_block - "
                f"distill.trained_blocks ({last_fixed}): cached blocks cannot also be trained"
            )
    if run.stage == "gan" and losses.factor_rank:
        raise TrainingConfigError("losses.factor_rank trains the estimator, which stage 'gan' freezes; set it to 0")
