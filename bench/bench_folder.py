"""Folder throughput (issue 15 item 4): ``mmrealsr restore DIR`` against the network's own rate, in one run.

A folder of 20 real photos (``eval_real/RealSet65``, each shrunk so its longer side is at most ``--max-side``, kept
in its own format) is restored three ways, round-robin: the network alone on images decoded beforehand (no I/O:
the network's own rate), the CLI's pipelined batch (``mmrealsr restore DIR``'s own code: decode and write in
threads beside the network; the model loaded once, as for the others), and the same calls one after another (read,
restore, write: the batch before the pipeline).
Target: pipeline throughput >= 95% of the network's own rate. Because the machine's load drifts between passes, the
pipelined pass also reports the share of its wall time spent inside ``engine.restore`` (the network busy fraction,
measured within the pass itself).

    python bench/bench_folder.py --max-side 64                  # packaged default model (official size)
    python bench/bench_folder.py --model tiny --max-side 0      # I/O-heavy: tiny network, full-size photos
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

PHOTOS = Path("/work/shared/data/eval_real/RealSet65")
KNOBS = {"blur": 0.5, "noise": 0.5}


def make_folder(target: Path, count: int, max_side: int) -> list[Path]:
    from PIL import Image

    photos = sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[:count]
    made = []
    for path in photos:
        with Image.open(path) as image:
            image = image.convert("RGB")
            if max_side and max(image.size) > max_side:
                factor = max_side / max(image.size)
                image = image.resize((max(1, round(image.width * factor)), max(1, round(image.height * factor))),
                                     Image.Resampling.LANCZOS)
            made.append(target / path.name)
            image.save(made[-1], quality=90) if path.suffix.lower() != ".png" else image.save(made[-1])
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="default (packaged, official size) or tiny")
    parser.add_argument("--max-side", type=int, default=64, help="shrink photos to this longer side (0: full size)")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    benchlib.pin_threads(args.threads)
    os.environ.setdefault("MMREALSR_DISABLE_PLUGIN_AUTOLOAD", "1")
    from mmrealsr_plugin import engine
    from mmrealsr_plugin.cli import build_parser
    from mmrealsr_plugin.cli.common import expand_inputs
    from mmrealsr_plugin.cli import restore_cmd
    from mmrealsr_plugin.cli.restore_cmd import Job, plan_outputs, restore_jobs
    from mmrealsr_plugin.imageio import read_image, write_image
    from mmrealsr_plugin.testing import TINY_CONFIG, save_random_model

    info = benchlib.machine()
    work = Path(tempfile.mkdtemp(prefix="mmrealsr-bench-folder-"))
    try:
        source = work / "in"
        source.mkdir()
        photos = make_folder(source, args.count, args.max_side)
        weights = None
        if args.model == "tiny":
            weights = save_random_model(work / "tiny.safetensors", TINY_CONFIG)
        model = engine.load_model(weights, backend="torch", device="cpu")
        decoded = [read_image(p).pixels for p in photos]
        model_args = ["--model", str(weights)] if weights else []

        def network_only() -> None:
            for pixels in decoded:
                engine.restore(model, pixels, **KNOBS)

        computing: list[float] = []  # seconds inside engine.restore during the last pipelined pass
        timed_restore = restore_cmd.restore

        def counted_restore(*a: object, **k: object) -> object:
            start = time.perf_counter()
            try:
                return timed_restore(*a, **k)
            finally:
                computing.append(time.perf_counter() - start)

        restore_cmd.restore = counted_restore  # the pipeline's own calls, timed from inside the same run
        busy: list[float] = []

        def pipelined() -> None:  # the CLI's batch, with the model loaded once like the other variants
            out = work / "pipelined"
            shutil.rmtree(out, ignore_errors=True)
            argv = ["restore", str(source), "-o", str(out), "--device", "cpu", "--blur", "0.5", "--noise", "0.5",
                    *model_args]
            cli_args = build_parser(argv).parse_args(argv)
            planned, refused = plan_outputs(expand_inputs(cli_args.inputs), out, cli_args.suffix, cli_args.ext)
            jobs = [Job(entry.path, target) for entry, target in planned]
            computing.clear()
            start = time.perf_counter()
            counts = restore_jobs(model, jobs, cli_args)
            busy.append(sum(computing) / (time.perf_counter() - start))
            assert not refused and counts.written == len(photos) == len(list(out.iterdir()))

        def sequential() -> None:
            out = work / "sequential"
            shutil.rmtree(out, ignore_errors=True)
            for path in photos:
                image = read_image(path)
                result = engine.restore(model, image.pixels, **KNOBS)
                write_image(out / f"{path.stem}_mmrealsr{path.suffix}", result.image, bit_depth=image.bit_depth,
                            icc_profile=image.icc_profile)

        engine.restore(model, decoded[0][:16, :16], **KNOBS)  # first-run allocations
        timings = benchlib.interleaved({"network_only": network_only, "pipelined_cli": pipelined,
                                        "sequential": sequential}, args.repeats, warmup=False)
        pixels = sum(d.shape[0] * d.shape[1] for d in decoded)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rate = {name: round(len(photos) / t["min_s"] * 60, 2) for name, t in timings.items()}
    benchlib.write_results(f"folder_{args.model}_{args.max_side or 'full'}", {
        "benchmark": "folder throughput: pipelined CLI batch vs the network's own rate (images/minute)",
        "command": " ".join(["python", "bench/bench_folder.py", *sys.argv[1:]]),
        "machine": info, "threads": args.threads, "model": args.model, "photos": len(photos),
        "input_megapixels": round(pixels / 1e6, 3), "timings": timings, "images_per_minute": rate,
        "pipelined_over_network_rate": round(rate["pipelined_cli"] / rate["network_only"], 3),
        "sequential_over_network_rate": round(rate["sequential"] / rate["network_only"], 3),
        "network_busy_in_pipelined_pass": [round(b, 3) for b in busy],
    })


if __name__ == "__main__":
    main()
