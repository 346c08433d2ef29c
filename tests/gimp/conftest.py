"""Fixtures that run a real GIMP 3 (provisioned by .ci/setup-gimp.sh) with the plug-in installed.

On Debian 12 GIMP 3 lives in a trixie chroot under the cache folder. The plug-in inside it calls the
project's venv, so the venv, its base Python, the checkout and the test's temp folder are bind-mounted
into the chroot at their own paths; every mount made here is undone at the end of the session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


import mmrealsr_plugin
from mmrealsr_plugin.nodes.gimp.install import install, plugin_folder
from mmrealsr_plugin.testing import save_random_model

CACHE = Path(os.environ.get("MMREALSR_CACHE", "/root/.cache/mmrealsr-ci"))
ROOT = CACHE / "gimp-chroot"
READY = ROOT / ".mmrealsr-gimp-ready"
ARTIFACTS = CACHE / "artifacts"
REPO = Path(mmrealsr_plugin.__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
GIMP_FLAGS = ["-n", "-d", "-f", "--batch-interpreter=python-fu-eval"]
BATCH_TIMEOUT = 600


def _missing_runtime() -> str | None:
    if not READY.exists():
        return f"GIMP 3 is not provisioned at {ROOT}: run `bash .ci/setup-gimp.sh`"
    if ROOT.resolve() != Path("/") and os.geteuid() != 0:
        return "the GIMP 3 chroot needs root (chroot and bind mounts)"
    return None


def _mounted(path: Path) -> bool:
    return subprocess.run(["mountpoint", "-q", str(path)], check=False).returncode == 0


@dataclass
class Gimp:
    """A GIMP 3 installation plus a fresh profile (HOME) with the plug-in installed into it."""

    root: Path
    home: Path
    work: Path
    model: Path

    @property
    def chrooted(self) -> bool:
        return self.root.resolve() != Path("/")

    @property
    def profile(self) -> Path:
        return self.home / ".config" / "GIMP" / "3.0"

    @property
    def plugin_dir(self) -> Path:
        return plugin_folder(self.profile)

    def worker_log(self, gimp_pid: int) -> Path:
        """The log of the warm worker GIMP process ``gimp_pid`` started (in the GIMP root's /tmp, as root)."""
        from mmrealsr_plugin.nodes.gimp.mmrealsr_gimp.channel import WarmWorker, WorkerConfig

        name = WarmWorker(WorkerConfig.load(self.plugin_dir), gimp_pid).name
        return self.root / "tmp" / "mmrealsr-gimp-0" / f"{name}.log"

    def command(self, argv: list[str], **env: str) -> list[str]:
        """argv run inside the GIMP root with a clean environment and this session's HOME."""
        variables = [f"HOME={self.home}", "PATH=/usr/bin:/bin", "LANG=C.UTF-8", "NO_AT_BRIDGE=1"]
        variables += [f"{key}={value}" for key, value in env.items()]
        prefix = ["chroot", str(self.root)] if self.chrooted else []
        return [*prefix, "/usr/bin/env", "-i", *variables, *argv]

    def batch(self, binary: str, script: Path, job: dict, name: str, **env: str) -> tuple[list[str], Path]:
        """Command running batch_common.py then ``script`` with ``job``; and where the results will be."""
        job_file = self.work / f"{name}-job.json"
        results = self.work / f"{name}-results.json"
        job_file.write_text(json.dumps({**job, "results": str(results)}))
        code = "; ".join(f"exec(open({str(path)!r}).read())" for path in (HERE / "batch_common.py", script))
        no_interface = ["-i"] if binary == "gimp-console-3.0" else []
        argv = [binary, *no_interface, *GIMP_FLAGS, "-b", code, "--quit"]
        return self.command(argv, MMREALSR_GIMP_JOB=str(job_file), **env), results

    def run_batch(self, script: Path, job: dict, name: str) -> dict:
        """Run ``script`` in gimp-console-3.0 with ``job`` (JSON) and return the results it wrote."""
        argv, results = self.batch("gimp-console-3.0", script, job, name)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=BATCH_TIMEOUT, check=False)
        return self.results(results, proc.returncode, proc.stdout, proc.stderr, name)

    def results(self, results: Path, code: int | None, stdout: str, stderr: str, name: str) -> dict:
        """The results a batch script wrote, or a test failure showing GIMP's output (also kept in NAME.log)."""
        log = f"exit {code}\n--- stdout\n{stdout[-6000:]}\n--- stderr\n{stderr[-6000:]}"
        log_file = self.work / f"{name}.log"
        log_file.write_text(log)
        if not results.exists():
            pytest.fail(f"the GIMP batch wrote no results ({log_file}):\n{log}")
        return json.loads(results.read_text())


def _bind(root: Path, path: Path, done: list[Path]) -> None:
    """Bind-mount ``path`` at the same path inside ``root``; one left by an interrupted run is reused (and undone)."""
    target = root / str(path).lstrip("/")
    if not _mounted(target):
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "--bind", str(path), str(target)], check=True)
    done.append(target)


@pytest.fixture(scope="session")
def gimp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gimp]:
    problem = _missing_runtime()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    work = tmp_path_factory.mktemp("gimp")
    home = work / "home"
    home.mkdir()
    model = save_random_model(work / "tiny.safetensors")
    runtime = Gimp(root=ROOT, home=home, work=work, model=model)
    mounts: list[Path] = []
    try:
        if runtime.chrooted:
            for path in (Path("/proc"), Path("/sys"), Path("/dev")):
                _bind(ROOT, path, mounts)
            for path in {Path(sys.prefix), Path(sys.base_prefix), REPO, work}:
                _bind(ROOT, path, mounts)
        install(runtime.profile, str(model), "cpu")
        # GIMP opens its welcome dialog (over the plug-in's, in test_dialog's screenshot) when the profile's
        # config-version is older than GIMP or missing, as in a fresh profile.
        version = subprocess.run(runtime.command(["gimp-console-3.0", "--version"]), capture_output=True, text=True,
                                 timeout=60, check=True).stdout.split()[-1]
        (runtime.profile / "gimprc").write_text(f'(config-version "{version}")\n(show-welcome-dialog no)\n')
        yield runtime
    finally:
        for target in reversed(mounts):
            if subprocess.run(["umount", str(target)], check=False).returncode != 0:
                subprocess.run(["umount", "-l", str(target)], check=False)


