"""Does torch.compile (Inductor, CPU) make the fp32 generator a fast path? Time and exactness vs eager and spandrel.

Issue 15 asks for >= 2x spandrel's speed within 1/255 of the fp32 output. Compiling keeps fp32 arithmetic, so it
would pass the accuracy bound by construction; this measures how much speed it brings. Variants, one process,
round-robin (`benchlib.interleaved`), the packaged default model at one input size, tile 0 (the raw network,
estimate then upscale, as spandrel's module runs):

* ``spandrel``: spandrel's MM-RealSR module (NCHW), the reference time;
* ``eager``: this project's module as the torch backend runs it (channels-last);
* ``compiled``: ``torch.compile`` of the same module (Inductor: fused pointwise ops and concatenations, oneDNN
  convolutions);
* ``compiled_frozen``: the same with ``torch._inductor.config.freezing`` (weights constant-folded and pre-packed).

Needs a C++ compiler (Inductor builds its kernels at the first call; that time is reported, not counted).

    python bench/bench_compiled.py --size 128 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128, help="input side in pixels")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--name", help="result file stem (default compiled_SIZE)")
    args = parser.parse_args()
    benchlib.pin_threads(args.threads)
    os.environ.setdefault("MMREALSR_DISABLE_PLUGIN_AUTOLOAD", "1")
    import spandrel
    import torch
    import torch._inductor.config as inductor_config

    from mmrealsr_plugin import engine
    from mmrealsr_plugin.sources import resolve_model
    from mmrealsr_plugin.weights import read_state_dict

    info = benchlib.machine()
    weights, _ = resolve_model(None)
    module = engine.load_model(weights, backend="torch", device="cpu").runner.module
    reference = spandrel.ModelLoader(device="cpu").load_from_state_dict(read_state_dict(weights).tensors)
    reference.model.float().eval()  # the descriptor's call returns the image (the raw module also the scores)
    torch.manual_seed(0)
    image = torch.rand(1, 3, args.size, args.size)
    channels_last = image.contiguous(memory_format=torch.channels_last)

    def restore(x: torch.Tensor) -> torch.Tensor:  # what spandrel's module does: estimate, then upscale
        return module(x, module.estimate(x))

    def compiled(frozen: bool) -> tuple[object, float]:
        torch._dynamo.reset()
        inductor_config.freezing = frozen
        fn = torch.compile(restore)
        start = time.perf_counter()
        fn(channels_last)
        return fn, time.perf_counter() - start

    with torch.inference_mode():
        outputs = {"spandrel": reference(image), "eager": restore(channels_last)}
        variants = {"spandrel": lambda: reference(image), "eager": lambda: restore(channels_last)}
        compile_seconds = {}
        for name, frozen in (("compiled", False), ("compiled_frozen", True)):
            fn, compile_seconds[name] = compiled(frozen)
            outputs[name] = fn(channels_last)
            variants[name] = lambda fn=fn: fn(channels_last)
        inductor_config.freezing = False
        times = benchlib.interleaved(variants, args.repeats, warmup=False)
    base = times["spandrel"]["min_s"]
    difference = {name: {"max_abs_255": round(float((out - outputs["eager"]).abs().max()) * 255, 4),
                         "mean_abs_255": round(float((out - outputs["eager"]).abs().mean()) * 255, 5)}
                  for name, out in outputs.items()}
    benchlib.write_results(args.name or f"compiled_{args.size}", {
        "benchmark": "torch.compile (Inductor, CPU) of the packaged generator vs eager and spandrel, tile 0",
        "command": " ".join(["python", "bench/bench_compiled.py", *sys.argv[1:]]), "machine": info,
        "size": args.size, "threads": args.threads,
        "time_over_spandrel": {name: round(t["min_s"] / base, 3) for name, t in times.items()},
        "difference_from_eager": difference, "compile_seconds": {k: round(v, 1) for k, v in compile_seconds.items()},
        "timings": times,
    })


if __name__ == "__main__":
    main()
