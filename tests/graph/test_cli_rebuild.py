"""`graphdet rebuild`: exit codes for schedulers and what it prints."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from graphdet.cli import app
from graphdet.graph import current_version, load_snapshot

from .conftest import NO_GNN
from .logs import write_log
from .strategies import AS_OF

MSGS = [
    ("acme", "a@acme.com", ["b@acme.com"], [], AS_OF - timedelta(days=1), "<1>", None, "internal", "Ann"),
    ("acme", "b@acme.com", ["a@acme.com"], [], AS_OF - timedelta(hours=2), "<2>", "<1>", "internal"),
]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return write_log(tmp_path / "log", MSGS)


def _unwrapped(text: str) -> str:
    """The output without the line breaks rich adds to fit the terminal."""
    return "".join(text.splitlines())


def _run(*args: str | Path):  # -> click.testing.Result
    no_gnn = ["--no-gnn"] if NO_GNN else []
    return CliRunner().invoke(app, ["rebuild", *no_gnn, *map(str, args)])


def test_publishes_then_reports_unchanged(log: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = _run("--log", log, "--out", out, "--as-of", "2026-01-10", "--lookback-days", "3")
    assert first.exit_code == 0, first.output
    version = current_version(out)
    assert version is not None and version.startswith("20260110T000000Z-")
    assert f"published snapshot {version}" in first.output
    assert load_snapshot(out).manifest["tenants"]["acme"]["rows"]["edges"] == 2
    again = _run("--log", log, "--out", out, "--as-of", "2026-01-10", "--lookback-days", "3")
    assert again.exit_code == 0, again.output
    assert "already published" in again.output and current_version(out) == version


def test_default_as_of_is_midnight_after_the_last_message(log: Path, tmp_path: Path) -> None:
    result = _run("--log", log, "--out", tmp_path / "out", "--keep", "1", "--engine", "local")
    assert result.exit_code == 0, result.output
    assert load_snapshot(tmp_path / "out").manifest["as_of"] == AS_OF.isoformat()


def test_as_of_before_every_message_is_nothing_to_build(log: Path, tmp_path: Path) -> None:
    result = _run("--log", log, "--out", tmp_path / "out", "--as-of", "2025-01-01")
    assert result.exit_code == 3, result.output
    assert "nothing to build" in result.output and "2025-01-01" in result.output
    assert current_version(tmp_path / "out") is None


def test_a_missing_log_folder_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-log"
    result = _run("--log", missing, "--out", tmp_path / "out", "--as-of", "2026-01-10")
    assert result.exit_code == 1
    assert str(missing) in _unwrapped(result.output)


@pytest.mark.parametrize("extra", [["--bogus"], ["--keep", "many"], ["--lookback-days", "x"]])
def test_bad_options_are_usage_errors(log: Path, tmp_path: Path, extra: list[str]) -> None:
    result = _run("--log", log, "--out", tmp_path / "out", *extra)
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "out").exists()


def test_a_missing_required_option_is_a_usage_error(log: Path) -> None:
    assert _run("--log", log).exit_code == 2


@pytest.mark.parametrize("extra", [["--as-of", "yesterday"], ["--engine", "bogus"], ["--lookback-days", "0"]])
def test_bad_values_fail_with_a_message(log: Path, tmp_path: Path, extra: list[str]) -> None:
    result = _run("--log", log, "--out", tmp_path / "out", *extra)
    assert result.exit_code == 1, result.output
    assert extra[1] in _unwrapped(result.output)
