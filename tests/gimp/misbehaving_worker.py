"""A worker that breaks the channel's protocol on purpose: ``python misbehaving_worker.py CASE --task ... --input ...``.

The real worker cannot be made to send malformed events, so the plug-in's defences against a mismatched or
broken environment are tested against this one (without GIMP in tests/reliability, inside GIMP in
test_headless.py). Stdlib and numpy only; it never imports the project.
"""

from __future__ import annotations

import json
import sys

import numpy as np

KEY = "mmrealsr-gimp"


def emit(event: str, protocol: int = 1, **fields: object) -> None:
    print(json.dumps({KEY: protocol, "event": event, **fields}), flush=True)


def outputs_of(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == "--output"]


def write_header_only(path: str, shape: tuple[int, ...]) -> None:
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": shape})


def main(case: str, argv: list[str]) -> int:
    inputs = [np.load(argv[i + 1]) for i, arg in enumerate(argv) if arg == "--input"]
    outputs = outputs_of(argv)
    if case == "missing-keys":
        emit("progress")
    elif case == "wrong-types":
        emit("scores", item=0, blur="high", noise=0.1)
    elif case == "bad-item":
        emit("scores", item=99, blur=0.1, noise=0.1)
    elif case == "out-of-range-score":
        emit("scores", item=0, blur=float("nan"), noise=0.1)
    elif case == "error-without-message":
        emit("error")
    elif case == "protocol":
        emit("done", protocol=99)
    elif case == "not-json":
        print("{this is not json", flush=True)
        print(json.dumps([KEY, 1]), flush=True)
        return 0
    elif case == "no-scores":
        emit("done")
    else:
        for item, (image, name) in enumerate(zip(inputs, outputs)):
            height, width, channels = image.shape
            if case == "huge-output":
                write_header_only(name, (100_000, 100_000, channels))
            elif case == "nan-output":
                np.save(name, np.full((4 * height, 4 * width, channels), np.nan, np.float32))
            elif case == "wrong-shape-output":
                np.save(name, np.zeros((height, width, channels), np.float32))
            elif case != "no-output":
                raise SystemExit(f"unknown case {case!r}")
            emit("scores", item=item, blur=0.5, noise=0.5)
        emit("done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
