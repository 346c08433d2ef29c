"""Folders as a pipeline, resumable batches (--skip-existing) and torchrun splits (issue 15 items 4 and 5)."""

from __future__ import annotations

import re
import shutil
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

from mmrealsr_plugin import read_image
from mmrealsr_plugin.cli import EXIT_OK, EXIT_USAGE, main
from mmrealsr_plugin.cli.pipeline import Skip, overlapped
from mmrealsr_plugin.cli.ranks import Ranks
from mmrealsr_plugin.errors import ImageError, UsageError
from mmrealsr_plugin.imageio import image_size


def _restore(model: Path, *args: str) -> int:
    return main(["restore", *args, "--model", str(model), "--device", "cpu", "--noise", "0.5", "--blur", "0.5",
                 "--tile", "0"])


def test_the_next_image_is_read_and_the_previous_written_while_the_current_one_computes() -> None:
    """Overlap shown by events, not timings: compute(1) waits until prepare(2) and finish(0) have started."""
    started = {name: threading.Event() for name in ("prepare2", "finish0")}
    order: list[str] = []

    def prepare(job: int) -> int:
        if job == 2:
            started["prepare2"].set()
        return job

    def compute(job: int, prepared: int) -> int:
        if job == 1:
            assert started["prepare2"].wait(10), "the next input was not read during the compute"
            assert started["finish0"].wait(10), "the previous output was not written during the compute"
        order.append(f"compute{job}")
        return prepared * 10

    def finish(job: int, result: int) -> int:
        if job == 0:
            started["finish0"].set()
        return result + 1

    assert list(overlapped([0, 1, 2], prepare, compute, finish)) == [(0, 1), (1, 11), (2, 21)]
    assert order == ["compute0", "compute1", "compute2"]


def test_a_failing_stage_fails_only_its_job_and_skips_bypass_the_network() -> None:
    def prepare(job: int) -> int | Skip[str]:
        if job == 1:
            raise ImageError("bad input")
        return Skip("kept") if job == 2 else job

    def compute(job: int, prepared: int) -> int:
        assert job != 2
        return job

    def finish(job: int, result: int) -> str:
        if job == 3:
            raise OSError("disk full")
        return "written"

    outcomes = list(overlapped([0, 1, 2, 3, 4], prepare, compute, finish, recoverable=(ImageError, OSError)))
    assert [job for job, _ in outcomes] == [0, 1, 2, 3, 4]
    assert outcomes[0][1] == "written" and outcomes[2][1] == "kept" and outcomes[4][1] == "written"
    assert isinstance(outcomes[1][1], ImageError) and isinstance(outcomes[3][1], OSError)


def test_an_interrupt_writes_the_image_already_computed_and_starts_nothing_else() -> None:
    finished: list[int] = []

    def compute(job: int, prepared: int) -> int:
        if job == 2:
            raise KeyboardInterrupt
        return job

    with pytest.raises(KeyboardInterrupt):
        for _ in overlapped(list(range(6)), lambda job: job, compute, lambda job, r: finished.append(job)):
            pass
    assert finished == [0, 1], "job 1 was computed before the interrupt: it is written; nothing after it"


def test_skip_existing_keeps_complete_outputs_and_redoes_missing_truncated_and_wrong_sized(
        tmp_path: Path, tiny_model_path: Path, photo, capsys: pytest.CaptureFixture[str]) -> None:
    source, out = tmp_path / "in", tmp_path / "out"
    for index in range(5):
        photo(source / f"p{index}.png", 20, 24, seed=index)
    assert _restore(tiny_model_path, str(source), "-o", str(out)) == EXIT_OK
    kept = {name: (out / name).stat().st_mtime_ns for name in ("p0_mmrealsr.png", "p4_mmrealsr.png")}
    (out / "p1_mmrealsr.png").unlink()  # never written (the crash came first)
    data = (out / "p2_mmrealsr.png").read_bytes()
    (out / "p2_mmrealsr.png").write_bytes(data[: len(data) // 2])  # cut short by a crash of a copy tool
    Image.new("RGB", (10, 10)).save(out / "p3_mmrealsr.png")  # complete, but not what this run makes
    capsys.readouterr()
    assert _restore(tiny_model_path, str(source), "-o", str(out), "--skip-existing") == EXIT_OK
    err = capsys.readouterr().err
    assert "restored 3 of 5 image(s)" in err and "2 already complete" in err, err
    assert "p2_mmrealsr.png is redone" in err and "p3_mmrealsr.png is redone" in err and "10x10" in err
    for name, mtime in kept.items():
        assert (out / name).stat().st_mtime_ns == mtime, f"{name} was complete and must not be rewritten"
    for index in range(5):
        assert read_image(out / f"p{index}_mmrealsr.png").pixels.shape == (80, 96, 3)


def test_skip_existing_and_overwrite_contradict_each_other(tmp_path: Path, tiny_model_path: Path, photo,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    photo(tmp_path / "a.png")
    assert _restore(tiny_model_path, str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--skip-existing",
                    "--overwrite") == EXIT_USAGE
    assert "give one of the two" in capsys.readouterr().err


def test_image_size_follows_exif_orientation_from_the_header(tmp_path: Path) -> None:
    image = Image.new("RGB", (30, 20))
    exif = image.getexif()
    exif[0x0112] = 6  # rotated 90 degrees: read_image returns 20 wide, 30 high
    image.save(tmp_path / "r.jpg", exif=exif)
    assert image_size(tmp_path / "r.jpg") == (20, 30)
    assert read_image(tmp_path / "r.jpg").pixels.shape[:2] == (30, 20)
    with pytest.raises(ImageError, match="header"):
        image_size(tmp_path / "missing.png")


def test_ranks_split_every_job_exactly_once_and_pick_one_device_each() -> None:
    jobs = list(range(11))
    shares = [Ranks(rank, 3, rank).shard(jobs) for rank in range(3)]
    assert sorted(sum(shares, [])) == jobs and max(map(len, shares)) - min(map(len, shares)) <= 1
    assert Ranks().shard(jobs) == jobs
    assert Ranks(1, 2, 1).device("auto", cuda_devices=2) == "cuda:1"
    assert Ranks(1, 2, 1).device(None, cuda_devices=0) == "cpu"
    assert Ranks(1, 2, 1).device("cpu", cuda_devices=2) == "cpu"
    assert Ranks(0, 1, 0).device("auto", cuda_devices=4) == "auto"
    with pytest.raises(UsageError, match="only 1 CUDA device"):
        Ranks(1, 2, 1).device("cuda", cuda_devices=1)
    with pytest.raises(UsageError, match="invalid process group"):
        Ranks(2, 2, 0)


@pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                    reason="torchrun is not installed")
def test_torchrun_splits_a_folder_over_two_gloo_processes_and_resumes(tmp_path: Path, tiny_model_path: Path,
                                                                      photo, python) -> None:
    source, out = tmp_path / "in", tmp_path / "out"
    for index in range(7):
        photo(source / f"p{index}.png", 20, 24, seed=index)
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "mmrealsr_plugin",
                "restore", str(source), "-o", str(out), "--model", str(tiny_model_path), "--device", "cpu",
                "--tile", "0", "--noise", "0.5", "--blur", "0.5"]
    env = {"OMP_NUM_THREADS": "1"}
    done = python(*torchrun, env=env)
    assert done.returncode == EXIT_OK, done.stderr
    by_output = re.findall(r"\[rank (\d)\] (\S+) -> (\S+)", done.stderr)
    written = {Path(target).name: int(rank) for rank, _, target in by_output}
    assert sorted(written) == [f"p{i}_mmrealsr.png" for i in range(7)], done.stderr
    for name, rank in written.items():
        assert rank == int(name[1]) % 2, f"{name} was written by rank {rank}, not the rank that owns it"
    assert done.stderr.count("restored 7 of 7 image(s)") == 1 and "2 processes" in done.stderr, done.stderr
    for index in range(7):
        assert read_image(out / f"p{index}_mmrealsr.png").pixels.shape == (80, 96, 3)

    (out / "p5_mmrealsr.png").unlink()
    resumed = python(*torchrun, "--skip-existing", env=env)
    assert resumed.returncode == EXIT_OK, resumed.stderr
    assert resumed.stderr.count("restored 1 of 7 image(s)") == 1 and "6 already complete" in resumed.stderr, \
        resumed.stderr
    assert re.search(r"\[rank 1\] \S+p5\.png -> ", resumed.stderr), resumed.stderr
    assert (out / "p5_mmrealsr.png").is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "no temporary file may be left"
