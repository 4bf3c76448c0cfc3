"""Patterns cannot make evaluation hang: the engine is RE2 (linear time) and rejects what RE2 cannot run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import re2

from graphdet.rules import RuleSetError, extract, load_rules
from graphdet.schema import Address, Message

HEAD = "family: extra\nrules:\n"


def _rule(rid: str, pattern: str, where: str = "body") -> str:
    return (f"  - id: {rid}\n    description: x\n    category: spam\n    severity: low\n"
            f"    condition: {{regex: '{pattern}', field: {where}}}\n")


def test_catastrophic_patterns_run_on_re2_in_linear_time(rules_copy: Callable[..., Path]) -> None:
    folder = rules_copy({"extra.yaml": HEAD + _rule("EXTRA_NESTED", "(a+)+$") + _rule("EXTRA_XX", "(x+x+)+y")})
    ruleset = load_rules(folder)
    # RE2 guarantees time linear in the input: no backtracking engine is involved at all
    assert all(type(s).__module__.startswith("re2") for s, _ in ruleset._sets.values())
    msg = Message("acme", "<p@x>", datetime(2024, 1, 1, tzinfo=UTC), Address("a@b.example"),
                  body="a" * 50_000 + "!" + "x" * 50_000)
    hits = ruleset.evaluate(extract(msg, lexicon=ruleset.lexicon))
    assert "EXTRA_NESTED" not in hits and "EXTRA_XX" not in hits
    assert "EXTRA_NESTED" in ruleset.evaluate(extract(replace(msg, body="a" * 50_000), lexicon=ruleset.lexicon))


@pytest.mark.parametrize("pattern", [r"(a)\\1", "(?=x)x", "(?<!a)b", "(?>a+)b", "a++"])
def test_patterns_re2_cannot_run_are_rejected_with_file_and_line(
    pattern: str, rules_copy: Callable[..., Path]
) -> None:
    with pytest.raises(RuleSetError) as info:
        load_rules(rules_copy({"extra.yaml": HEAD + _rule("EXTRA_R", pattern.replace("\\\\", "\\"))}))
    issue = info.value.issues[0]
    assert issue.line == 7 and "unsafe or invalid pattern" in issue.message and issue.rule_id == "EXTRA_R"


def test_python_re_would_accept_what_we_reject() -> None:
    import re

    re.compile(r"(a)\1")  # the stdlib takes it (and could backtrack); RE2 refuses
    with pytest.raises(re2.error):
        re2.compile(r"(a)\1", options=_quiet())


def _quiet() -> re2.Options:
    o = re2.Options()
    o.log_errors = False
    return o
