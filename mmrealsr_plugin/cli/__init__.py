"""The ``mmrealsr`` command line. Each subcommand lives in its own module exposing ``register(subparsers)``.

Exit codes follow from the class of the exception that ends a command, through the one table in
:mod:`.exit_codes`: 0 success; 1 some inputs of a batch failed (others were written); 2 usage or
configuration error (bad flag or config value, unknown model); 3 nothing could be done (model failed
to load, every input failed); 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, exit_code

COMMAND_MODULES = [
    "mmrealsr_plugin.cli.restore_cmd",
    "mmrealsr_plugin.cli.estimate_cmd",
    "mmrealsr_plugin.cli.grid_cmd",
    "mmrealsr_plugin.cli.demo_cmd",
    "mmrealsr_plugin.cli.models_cmd",
    "mmrealsr_plugin.cli.convert_cmd",
    "mmrealsr_plugin.cli.hub_cmd",
    "mmrealsr_plugin.cli.train_cmd",
    "mmrealsr_plugin.cli.export_onnx_cmd",
    "mmrealsr_plugin.cli.gimp_cmd",
    "mmrealsr_plugin.cli.convert_ncnn_cmd",
]
"""One module per subcommand, in help order. Add yours here."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmrealsr",
        description="MM-RealSR real-world super-resolution with noise and blur knobs.",
        epilog="Exit codes: 0 ok, 1 some batch inputs failed, 2 usage/config error, 3 nothing done, 130 interrupted.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"mmrealsr-plugin {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (KeyboardInterrupt, Exception) as exc:
        code = exit_code(exc)
        if code is None:
            raise
        print("mmrealsr: interrupted" if code == EXIT_INTERRUPTED else f"mmrealsr: error: {exc}", file=sys.stderr)
        return code


__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
