"""The plugin manager: the built-in plugins first (pytest's ``default_plugins``), then third-party entry points.

The core never imports ``hub``, ``training`` or ``nodes``: they are plugins like any other, listed here by
module name (and declared as ``mmrealsr`` entry points in pyproject.toml) and skipped when not installed, so the
core works without them.
"""

from __future__ import annotations

import functools
import importlib
import os

import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "mmrealsr"
DISABLE_AUTOLOAD_ENV = "MMREALSR_DISABLE_PLUGIN_AUTOLOAD"
"""Set to 1 to skip third-party plugins (as pytest's PYTEST_DISABLE_PLUGIN_AUTOLOAD); built-ins still load."""
DISABLE_PLUGINS_ENV = "MMREALSR_DISABLE_PLUGINS"
"""Comma-separated plugin names to block, built-in or third-party (``hub,training``), as tox's
TOX_DISABLED_EXTERNAL_PLUGINS."""

DEFAULT_PLUGINS: tuple[tuple[str, str], ...] = (
    ("torch", "mmrealsr_plugin.backends.torch_backend"),
    ("onnx", "mmrealsr_plugin.backends.onnx_backend"),
    ("commands", "mmrealsr_plugin.cli.commands"),
    ("hub", "mmrealsr_plugin.hub.plugin"),
    ("training", "mmrealsr_plugin.training.plugin"),
    ("gimp", "mmrealsr_plugin.nodes.gimp.plugin"),
)
"""(name, module) of the plugins that ship with the package, in registration order."""


def _import_if_installed(module_name: str) -> object | None:
    """The module, or None when it (or the package folder it lives in) is not installed; other errors propagate."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            return None
        raise


def blocked_plugins() -> set[str]:
    return {name.strip() for name in os.environ.get(DISABLE_PLUGINS_ENV, "").split(",") if name.strip()}


def create_plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """A fresh manager with the hook specs, the built-in plugins and (optionally) third-party entry points."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for name in blocked_plugins():
        manager.set_blocked(name)
    for name, module_name in DEFAULT_PLUGINS:
        if manager.is_blocked(name):
            continue
        module = _import_if_installed(module_name)
        if module is not None:
            manager.register(module, name=name)
    if load_entry_points and not os.environ.get(DISABLE_AUTOLOAD_ENV):
        manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    manager.check_pending()
    return manager


@functools.lru_cache(maxsize=1)
def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager used by the engine and the CLI; tests build their own with create_plugin_manager."""
    return create_plugin_manager()
