"""`graphdet train` on bad input: a clear error naming what is wrong, exit code 1."""

from pathlib import Path

from typer.testing import CliRunner

from graphdet.cli import app
from graphdet.messagelog import MessageLogWriter
from graphdet.synth import SynthConfig, generate

runner = CliRunner()


def test_train_without_labels_says_so(tmp_path: Path) -> None:
    log = generate(SynthConfig(seed=1, tenants=1, days=3, employees=12))
    with MessageLogWriter(tmp_path / "log") as w:  # messages only, no labels.parquet
        w.write_table(log.messages)
    result = runner.invoke(app, ["train", "--log", str(tmp_path / "log"), "--out", str(tmp_path / "art")])
    assert result.exit_code == 1
    assert "no labels.parquet" in " ".join(result.output.split())


def test_train_on_a_missing_log_names_it(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--log", str(tmp_path / "nope"), "--out", str(tmp_path / "art")])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "nope" in text and "not a finished message log" in text


def test_train_with_a_bad_cut_names_the_option(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--log", str(tmp_path), "--out", str(tmp_path / "a"), "--cut", "soon"])
    assert result.exit_code == 1
    assert "'soon'" in result.output


def test_error_messages_keep_their_brackets(tmp_path: Path) -> None:
    """An error is printed as text: "[spark]" or "[1]" in it is not taken for Rich markup."""
    missing = tmp_path / "art[spark]" / "x[1]"
    result = runner.invoke(app, ["decide", str(tmp_path), "--artifacts", str(missing)])
    assert result.exit_code == 1
    squeezed = "".join(result.output.split())  # Rich may wrap a long path anywhere
    assert "".join(f"artifacts folder {missing} does not exist".split()) in squeezed
