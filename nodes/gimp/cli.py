"""``mmrealsr gimp``: install or uninstall the GIMP 3 plug-in (:mod:`.install`), and the worker it calls
(:mod:`.worker`). Registered by the GIMP plugin; imported only when the command runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from mmrealsr_plugin.cli.exit_codes import EXIT_OK

from . import worker
from .install import install, plugin_folder, uninstall


def _run_install(args: argparse.Namespace) -> int:
    target = install(args.profile, args.model, args.device)
    print(f"installed the MM-RealSR GIMP plug-in into {target}; restart GIMP to see Filters > Enhance > MM-RealSR")
    return EXIT_OK


def _run_uninstall(args: argparse.Namespace) -> int:
    target = uninstall(args.profile)
    print(f"removed {target}" if target else f"nothing to remove at {plugin_folder(args.profile)}")
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("gimp", description=__doc__)
    commands = parser.add_subparsers(dest="gimp_command", required=True, metavar="ACTION")
    profile_help = "GIMP 3 profile folder (default: $XDG_CONFIG_HOME/GIMP/3.0 or ~/.config/GIMP/3.0)"

    installer = commands.add_parser("install", help="copy the plug-in into a GIMP 3 profile")
    installer.add_argument("--profile", type=Path, default=None, help=profile_help)
    installer.add_argument("--model", default=None,
                           help="model the plug-in uses by default (default: the registry's default model)")
    installer.add_argument("--device", default=None, help="device the worker uses (default: auto)")
    installer.set_defaults(func=_run_install)

    remover = commands.add_parser("uninstall", help="remove the plug-in from a GIMP 3 profile")
    remover.add_argument("--profile", type=Path, default=None, help=profile_help)
    remover.set_defaults(func=_run_uninstall)

    worker.add_arguments(commands.add_parser("worker", help="serve one plug-in call (started by the plug-in)"))
