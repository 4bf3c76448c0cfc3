"""``graphdet ingest`` on the command line: output, counts and exit codes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from graphdet.cli import app
from graphdet.messagelog import read_labels, read_messages
from graphdet.schema import Category

GOLDEN = Path(__file__).resolve().parent / "files" / "ingest"


def _inputs(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    for name in ("multipart_alternative.eml", "attachments.eml", "no_sender.eml", "no_date.eml"):
        shutil.copy(GOLDEN / name, src / name)
    shutil.copy(GOLDEN / "no_date.eml", src / "no_date_again.eml")  # a duplicate Message-ID
    return src


def test_ingest_prints_counts_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a short --out, so rich does not wrap the line
    src = _inputs(tmp_path)
    config = tmp_path / "tenants.yaml"
    config.write_text("tenants:\n  acme:\n    domains: [acme.com]\n")
    out = Path("log")
    result = CliRunner().invoke(
        app,
        [
            "ingest",
            str(src),
            "--out",
            str(out),
            "--tenant-config",
            str(config),
            "--label",
            "vendor_fraud",
            "--label-source",
            "golden",
        ],
    )
    assert result.exit_code == 0, result.output
    last = result.stdout.strip().splitlines()[-1]
    assert last == "in 5: parsed 3, quarantined 2 (3 message rows written to log)"
    assert "duplicate message id" in result.stdout
    assert "no sender address" in result.stdout
    assert read_messages(out).num_rows == 3
    labels = read_labels(out).to_pylist()
    assert {(r["category"], r["source"]) for r in labels} == {("vendor_fraud", "golden")}
    assert len(labels) == 3


def test_clean_run_has_only_the_count_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = Path("log")
    result = CliRunner().invoke(app, ["ingest", str(GOLDEN / "attachments.eml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines() == [
        "in 1: parsed 1, quarantined 0 (1 message rows written to log)"
    ]
    again = CliRunner().invoke(app, ["ingest", str(GOLDEN / "attachments.eml"), "--out", str(out)])
    assert again.exit_code == 1
    assert "--overwrite" in again.output


def test_invalid_label_is_a_usage_error_listing_categories(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["ingest", str(GOLDEN / "attachments.eml"), "--out", str(tmp_path / "log"), "--label", "phish"]
    )
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "'phish' is not a category" in text
    for c in Category:
        assert c.value in text
    assert not (tmp_path / "log").exists()


def test_missing_input_path_exits_1_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "mail.mbox"
    result = CliRunner().invoke(app, ["ingest", str(missing), "--out", str(tmp_path / "log")])
    assert result.exit_code == 1
    assert re.search(r"error:.*does not exist", " ".join(result.output.split()))
    assert str(missing) in result.output.replace("\n", "")
