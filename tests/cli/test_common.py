"""cli/common.py: every command fails the same way (one line, exit 2) and resolves the model in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from xrayviewer.cli import main
from xrayviewer.cli.common import EXIT_USAGE, CommandError, model_or_default, open_engine, resolve_model
from xrayviewer.paths import default_model_path


@pytest.mark.parametrize("argv, words", [
    (["gui", "/no/such/folder"], "no such folder or film"),
    (["review", "export", "--log", "/no/such/log.sqlite3", "--csv", "/tmp/x.csv"], "no agreement log"),
    (["score", "/no/such/folder", "--csv", "/tmp/x.csv"], "no such file or folder"),
    (["evaluate", "--data", "/no/such/data", "--model", "/no/such.onnx"], "data source not found"),
    (["train", "--size", "4"], "--size must be 8..224"),
])
def test_every_command_fails_with_one_line_and_exit_2(argv: list[str], words: str, capsys) -> None:
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    command = " ".join(argv[:2]) if argv[0] == "review" else argv[0]
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and lines[0].startswith(f"xrayviewer {command}: error: ")
    assert words in lines[0] and "Traceback" not in err


def test_model_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model: Path) -> None:
    given = tmp_path / "mine.onnx"
    assert resolve_model(given) == given == model_or_default(given)  # given: used as is
    assert model_or_default(None) == default_model_path()
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("XRAYVIEWER_HOME", str(home))
    assert model_or_default(None) == default_model_path()  # may not exist: the GUI says so
    with pytest.raises(CommandError, match="bundled model is not installed.*--model"):
        resolve_model(None)
    with pytest.raises(CommandError, match="model file not found"):
        open_engine(given)
    assert open_engine(tiny_model, "cpu").card.id == "tiny-test-model"
