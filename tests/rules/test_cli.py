"""`graphdet rules lint` and `graphdet rules explain` (the typer sub-app the lead mounts)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from graphdet.rules import DEFAULT_RULES_DIR
from graphdet.rules.cli import rules_app

from .conftest import GOLDEN

runner = CliRunner()


def test_lint_ok_on_the_shipped_rules() -> None:
    result = runner.invoke(rules_app, ["lint", str(DEFAULT_RULES_DIR)])
    assert result.exit_code == 0 and "ok" in result.output


def test_lint_reports_all_errors_and_exits_1(rules_copy: Callable[..., Path]) -> None:
    folder = rules_copy({"extra.yaml": "family: extra\nrules:\n"
                         "  - id: EXTRA_A\n    description: x\n    category: spam\n    severity: low\n"
                         "    condition: {signal: nope}\n"
                         "  - id: EXTRA_B\n    description: x\n    category: spam\n    severity: huge\n"
                         "    condition: {regex: '(a)\\1'}\n"})
    result = runner.invoke(rules_app, ["lint", str(folder)])
    assert result.exit_code == 1
    out = result.output.replace("\n", " ")
    assert "extra.yaml:7:" in out and "extra.yaml:11:" in out and "extra.yaml:12:" in out
    assert "3 problem(s)" in out


def test_explain_prints_signals_and_rules() -> None:
    result = runner.invoke(rules_app, ["explain", str(GOLDEN / "bec_exec_freemail.eml"),
                                       "--context", str(GOLDEN / "tenant.yaml")], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "display_name_exec_similarity" in result.output and "100.0" in result.output
    assert "BEC_EXEC_NAME_FREEMAIL" in result.output and "rule(s) fired" in result.output


def test_explain_without_context_says_so(tmp_path: Path) -> None:
    result = runner.invoke(rules_app, ["explain", str(GOLDEN / "malware_double_extension.eml")], terminal_width=200)
    assert result.exit_code == 0 and "no tenant context" in result.output
    assert "MALWARE_DOUBLE_EXTENSION" in result.output
    bad = runner.invoke(rules_app, ["explain", str(GOLDEN / "spam_lottery.eml"), "--rules", str(tmp_path)])
    assert bad.exit_code == 2 and "error" in bad.output
