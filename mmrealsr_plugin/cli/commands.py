"""The table of ``mmrealsr`` subcommands that plugins fill (``mmrealsr_add_commands``), and the core's own entries.

Commands are registered by name, help line and module; a module is imported only when its command runs, so
``mmrealsr --help`` lists every command without importing torch.
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass

from ..hookspecs import hookimpl


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    module: str
    """Imported when the command runs; its ``register(subparsers)`` adds the command's full parser."""

    def register(self, subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
        importlib.import_module(self.module).register(subparsers)


class Commands:
    """What plugins add to, in order; a name may be taken once."""

    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}

    def add(self, name: str, help: str, module: str) -> None:  # noqa: A002 - argparse's word for it
        if name in self.commands:
            raise ValueError(f"two plugins add the command {name!r}: {self.commands[name].module} and {module}")
        self.commands[name] = Command(name, help, module)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.commands.values())


CORE_COMMANDS = (
    ("restore", "upscale images 4x with noise/blur control", "restore_cmd"),
    ("estimate", "print blur/noise scores as JSON", "estimate_cmd"),
    ("grid", "labelled modulation grid over noise and blur", "grid_cmd"),
    ("preview", "restore the most detailed region (or --crop) to choose the knobs before the long run",
     "preview_cmd"),
    ("demo", "restore a generated sample photo and write a modulation grid", "demo_cmd"),
    ("models", "list known models and where they are", "models_cmd"),
    ("convert", "convert a checkpoint into model.safetensors + config.json", "convert_cmd"),
    ("convert-ncnn", "convert an ncnn RRDBNet (.param + .bin) into an MM-RealSR training initialisation",
     "convert_ncnn_cmd"),
    ("export-onnx", "export a model to ONNX (generator + estimator graphs)", "export_onnx_cmd"),
)
"""The core's commands (name, help, module in this package), in help order."""


@hookimpl(tryfirst=True)
def mmrealsr_add_commands(commands: Commands) -> None:
    """The core's commands, listed first."""
    for name, help_line, module in CORE_COMMANDS:
        commands.add(name, help_line, f"{__package__}.{module}")
