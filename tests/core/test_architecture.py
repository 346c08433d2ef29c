"""The layering ARCHITECTURE.md describes, enforced: imports point one way, plugins are optional, hooks documented."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mmrealsr_plugin import hookspecs

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_FOLDERS = ("hub", "training", "nodes")
"""Installed as mmrealsr_plugin.hub / .training / .nodes; the core may not import them."""
GIMP_SIDE = ROOT / "nodes" / "gimp" / "mmrealsr_gimp"
"""The files GIMP's own Python runs from a copied folder: flat sibling imports, no package."""


def _package_of(path: Path) -> tuple[str, ...]:
    """The installed package of a source file: mmrealsr_plugin/x/y.py -> (mmrealsr_plugin, x); hub/a.py -> (.., hub)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    package = parts[:-1] if path.name != "__init__.py" else parts[:-1]
    return package if package[:1] == ("mmrealsr_plugin",) else ("mmrealsr_plugin", *package)


def _imports(path: Path) -> list[tuple[int, str, int]]:
    """(line, absolute module name, relative level) of every import in ``path``, relative ones resolved."""
    package = _package_of(path)
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join((*base, node.module) if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module, node.level))
            found += [(node.lineno, f"{module}.{alias.name}", node.level) for alias in node.names]
    return found


def _sources(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


def test_the_core_never_imports_hub_training_or_nodes() -> None:
    upward = [f"{path.relative_to(ROOT)}:{line} imports {module}"
              for path in _sources("mmrealsr_plugin") for line, module, _ in _imports(path)
              if module.split(".")[:2] in (["mmrealsr_plugin", name] for name in PLUGIN_FOLDERS)]
    assert not upward, "the core reaches its plugins through hooks only:\n" + "\n".join(upward)


@pytest.mark.parametrize("folder", PLUGIN_FOLDERS)
def test_plugin_folders_have_one_spelling_per_import(folder: str) -> None:
    """The core absolutely (``mmrealsr_plugin.x``), their own modules relatively, other plugin folders never."""
    problems = []
    own = ("mmrealsr_plugin", folder)
    for path in _sources(folder):
        if GIMP_SIDE in path.parents:
            continue
        for line, module, level in _imports(path):
            parts = tuple(module.split("."))
            where = f"{path.relative_to(ROOT)}:{line}: {module}"
            if level and parts[:2] != own:
                problems.append(f"{where} (a relative import that leaves {folder}/: write mmrealsr_plugin.X)")
            elif not level and parts[:2] == own:
                problems.append(f"{where} (its own folder, spelled absolutely: use a relative import)")
            elif parts[:1] == ("mmrealsr_plugin",) and len(parts) > 1 and parts[1] in PLUGIN_FOLDERS \
                    and parts[1] != folder:
                problems.append(f"{where} (another plugin folder: go through a hook)")
    assert not problems, "\n".join(problems)


def test_the_core_works_with_no_plugin_folder_installed(tmp_path: Path, tiny_model_path: Path) -> None:
    """hub/, training/ and nodes/ blocked from import: restore a local file, list commands, refuse remote models."""
    from mmrealsr_plugin import write_image
    import numpy as np

    image = write_image(tmp_path / "in.png", np.full((12, 10, 3), 0.5, np.float32))
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[:2] in (["mmrealsr_plugin", "hub"], ["mmrealsr_plugin", "training"],
                                           ["mmrealsr_plugin", "nodes"]):
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, Block())
        from mmrealsr_plugin.cli import main
        from mmrealsr_plugin.cli import commands
        from mmrealsr_plugin.errors import ModelNotFoundError
        from mmrealsr_plugin import load_model
        names = [c.name for c in commands()]
        assert "restore" in names and not {{"hub", "train", "gimp"}} & set(names), names
        code = main(["restore", {str(image)!r}, "--model", {str(tiny_model_path)!r}, "-o", {str(tmp_path / "out")!r},
                     "--device", "cpu", "--noise", "0.2"])
        assert code == 0, code
        try:
            load_model("hf://org/repo/model.safetensors")
        except ModelNotFoundError as exc:
            assert "no installed plugin fetches remote models" in str(exc), exc
        else:
            raise AssertionError("a Hub reference without the Hub plugin must be refused")
        assert not [m for m in sys.modules if m.split(".")[:2] == ["mmrealsr_plugin", "hub"]]
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok")
    assert (tmp_path / "out" / "in_mmrealsr.png").is_file()


@pytest.mark.parametrize("code", [
    "import mmrealsr_plugin",
    "import sys; sys.argv = ['mmrealsr', '--help']\nfrom mmrealsr_plugin.cli import main\ntry: main()\n"
    "except SystemExit: pass",
    "from mmrealsr_plugin.cli import main; main(['models'])",
])
def test_the_light_entry_points_do_not_import_torch(code: str) -> None:
    check = f"{code}\nimport sys\nprint(sorted(m for m in ('torch', 'huggingface_hub', 'onnxruntime') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout


def _hookspecs() -> list[tuple[str, object]]:
    return [(name, fn) for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("mmrealsr_")]


@pytest.mark.parametrize(("name", "spec"), _hookspecs())
def test_every_hook_is_documented_as_what_it_is(name: str, spec: object) -> None:
    doc = " ".join((inspect.getdoc(spec) or "").split())
    options = getattr(spec, "mmrealsr_spec")
    assert doc, f"{name} has no docstring"
    if options.get("firstresult"):
        assert "firstresult: the first non-None answer is used" in doc, name
    else:
        assert "Not firstresult" in doc, name
    assert f"`{name}" in (ROOT / "ARCHITECTURE.md").read_text("utf-8"), f"{name} is not in ARCHITECTURE.md"
