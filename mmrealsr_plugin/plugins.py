"""The plugin manager: built-in backends first, then third-party entry points."""

from __future__ import annotations

import functools
import os

import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "mmrealsr"
DISABLE_AUTOLOAD_ENV = "MMREALSR_DISABLE_PLUGIN_AUTOLOAD"
"""Set to 1 to skip third-party plugins (as pytest's PYTEST_DISABLE_PLUGIN_AUTOLOAD)."""

BUILTIN_BACKENDS = ("mmrealsr_plugin.backends.torch_backend", "mmrealsr_plugin.backends.onnx_backend")


def create_plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """A fresh manager with the hook specs, the built-in backends and (optionally) entry points."""
    import importlib

    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for module_name in BUILTIN_BACKENDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        manager.register(module, name=module_name.rsplit(".", 1)[-1])
    if load_entry_points and not os.environ.get(DISABLE_AUTOLOAD_ENV):
        manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    manager.check_pending()
    return manager


@functools.lru_cache(maxsize=1)
def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager used by the engine; tests build their own with create_plugin_manager."""
    return create_plugin_manager()
