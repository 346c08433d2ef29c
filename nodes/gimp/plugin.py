"""The GIMP plugin: adds ``mmrealsr gimp`` (install, uninstall, worker) to the command line."""

from __future__ import annotations

from typing import Any

from mmrealsr_plugin.hookspecs import hookimpl


@hookimpl
def mmrealsr_add_commands(commands: Any) -> None:
    commands.add("gimp", "GIMP 3 plug-in: install, uninstall, worker", "mmrealsr_plugin.nodes.gimp.cli")
