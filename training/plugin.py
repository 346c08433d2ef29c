"""The training plugin: adds ``mmrealsr train`` to the command line (imported only when that command runs)."""

from __future__ import annotations

from typing import Any

from mmrealsr_plugin.hookspecs import hookimpl


@hookimpl
def mmrealsr_add_commands(commands: Any) -> None:
    commands.add("train", "train an MM-RealSR model (stage 1, stage 2, or the estimator alone)",
                 "mmrealsr_plugin.training.cli")
