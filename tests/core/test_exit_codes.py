"""Exit codes come from one table of exception classes; the README documents that table and the CLI follows it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from mmrealsr_plugin import errors, write_image
from mmrealsr_plugin.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, main
from mmrealsr_plugin.cli.exit_codes import EXIT_CODES, exit_code

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_rows() -> dict[int, str]:
    """code -> the text of its row in the README's exit-code table."""
    rows = re.findall(r"^\s*\| (\d+) \|(.*)\|\s*$", README.read_text("utf-8"), flags=re.MULTILINE)
    return {int(code): text for code, text in rows}


def test_the_readme_table_lists_every_class_under_its_code() -> None:
    rows = _readme_rows()
    assert set(rows) == {0, 1, 2, 3, 130}
    for cls, code in EXIT_CODES:
        assert f"`{cls.__name__}`" in rows[code] or (cls is errors.MMRealSRError and "MMRealSRError" in rows[code]), \
            f"{cls.__name__} -> {code} is not in the README's row for {code}"


@pytest.mark.parametrize(("error", "code"), [
    (errors.InvalidScoreError("blur=1.7"), EXIT_USAGE),
    (errors.TrainingConfigError("run.total_itr"), EXIT_USAGE),
    (errors.ModelNotFoundError("no model x"), EXIT_USAGE),
    (errors.HubNotFoundError("no repo"), EXIT_USAGE),
    (errors.ModelLoadError("bad file"), EXIT_FAILED),
    (errors.IntegrityError("sha256"), EXIT_FAILED),
    (errors.OutputError("read-only"), EXIT_FAILED),
    (FileExistsError("exists"), EXIT_USAGE),
    (KeyboardInterrupt(), EXIT_INTERRUPTED),
    (errors.CancelledError(), EXIT_INTERRUPTED),
    (TypeError("a bug"), None),
])
def test_the_first_listed_class_of_the_mro_decides(error: BaseException, code: int | None) -> None:
    assert exit_code(error) == code


def _photo(path: Path) -> Path:
    return write_image(path, np.full((12, 12, 3), 0.5, np.float32))


def test_the_cli_exits_as_the_table_says(tmp_path: Path, tiny_model_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    source = _photo(tmp_path / "p.png")
    assert main(["restore", str(source), "--model", str(tiny_model_path), "--blur", "1.7"]) == EXIT_USAGE
    assert main(["estimate", str(source), "--model", str(tmp_path / "missing.safetensors")]) == EXIT_USAGE
    assert main(["train", "smoke", "--set", "run.total_itr=5"]) == EXIT_USAGE
    assert "run.total_itr" in capsys.readouterr().err
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not safetensors at all")
    assert main(["estimate", str(source), "--model", str(broken)]) == EXIT_FAILED


def test_a_bug_is_not_hidden_behind_an_exit_code(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from mmrealsr_plugin.cli import demo_cmd

    def broken(_args: object) -> int:
        raise TypeError("a bug")

    monkeypatch.setattr(demo_cmd, "run", broken)
    with pytest.raises(TypeError, match="a bug"):
        main(["demo", "-o", str(tmp_path)])
