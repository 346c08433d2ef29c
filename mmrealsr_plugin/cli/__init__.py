"""The ``mmrealsr`` command line. Plugins add subcommands by name (:mod:`.commands`); only the one that runs is
imported, so ``mmrealsr --help`` starts without torch. Each command module exposes ``register(subparsers)``.

Exit codes follow from the class of the exception that ends a command, through the one table in
:mod:`.exit_codes`: 0 success; 1 some inputs of a batch failed (others were written); 2 usage or
configuration error (bad flag or config value, unknown model); 3 nothing could be done (model failed
to load, every input failed); 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..plugins import get_plugin_manager
from .commands import Commands
from .exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, exit_code


def commands() -> Commands:
    """Every plugin's subcommands, in registration order (the core's first)."""
    table = Commands()
    get_plugin_manager().hook.mmrealsr_add_commands(commands=table)
    return table


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser for ``argv``: the command it names gets its full parser, the others a name and a help line."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="mmrealsr",
        description="MM-RealSR real-world super-resolution with noise and blur knobs.",
        epilog="Exit codes: 0 ok, 1 some batch inputs failed, 2 usage/config error, 3 nothing done, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"mmrealsr-plugin {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    for command in commands():
        if command.name == chosen:
            command.register(subparsers)
        else:
            subparsers.add_parser(command.name, help=command.help, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
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
