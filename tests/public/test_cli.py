"""`graphdet evaluate-public` without the corpora: skipped, with the reason, exit 0."""

from pathlib import Path

from typer.testing import CliRunner

from graphdet.cli import app


def test_absent_corpora_are_skipped_with_a_reason(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate-public", "--data", str(tmp_path / "none"), "--out", str(tmp_path)])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert text.startswith("skipped: data folder") and text.endswith("does not exist")
    assert not (tmp_path / "metrics.json").exists()


def test_a_folder_without_the_tenant_corpus_names_it(tmp_path: Path) -> None:
    (tmp_path / "phishing-pot").mkdir()
    result = CliRunner().invoke(app, ["evaluate-public", "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "linux-s390/2024.mbox.gz is absent" in text and "no phishing corpus" in text


def test_an_unknown_model_is_an_error(tmp_path: Path, files_dir: Path) -> None:
    data = tmp_path / "data"
    (data / "linux-s390").mkdir(parents=True)
    (data / "linux-s390" / "2024.mbox.gz").write_bytes(b"")
    (data / "phishing-pot").mkdir()
    (data / "phishing-pot" / "phishing_pot_sample.mbox.gz").write_bytes(b"")
    result = CliRunner().invoke(app, ["evaluate-public", "--data", str(data), "--out", str(tmp_path / "o"),
                                      "--model", "gpt"])
    assert result.exit_code == 1
    assert "'gpt'" in result.output and "synthetic+real" in result.output
