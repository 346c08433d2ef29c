"""What importing the package costs and changes: no process state, and (for the light entry points) no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_imports_and_atomic_writes_never_touch_the_umask(tmp_path: Path) -> None:
    code = (
        "import os, pkgutil, importlib\n"
        "calls = []\n"
        "real = os.umask\n"
        "os.umask = lambda mask: calls.append(mask) or real(mask)\n"
        "import mmrealsr_plugin\n"
        "for info in pkgutil.walk_packages(mmrealsr_plugin.__path__, 'mmrealsr_plugin.'):\n"
        "    if info.name.split('.')[1] not in ('hub', 'training', 'nodes', '__main__'):\n"
        "        importlib.import_module(info.name)\n"
        "from mmrealsr_plugin.atomic import atomic_path\n"
        "from mmrealsr_plugin.weights import save_safetensors\n"
        "import torch\n"
        "with atomic_path('out.txt') as tmp:\n"
        "    tmp.write_text('x')\n"
        "save_safetensors({'w': torch.zeros(2)}, 'w.safetensors')\n"
        "print(calls, oct(os.stat('out.txt').st_mode & 0o777), oct(os.stat('w.safetensors').st_mode & 0o777))\n"
    )
    done = subprocess.run(["sh", "-c", f"umask 027 && exec {sys.executable} -c \"$0\"", code],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "0o640", "0o640"], done.stdout  # weights too: safetensors writes 0600
