"""Strict loading: each kind of error names file and line; lint collects all; reload keeps the last good set."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from graphdet.rules import DEFAULT_RULES_DIR, RuleEngine, RuleError, RuleSetError, lint, load_rules
from graphdet.rules.yamlio import read_yaml

HEAD = "family: extra\nrules:\n"
GOOD_RULE = """  - id: EXTRA_GOOD
    description: fine
    category: spam
    severity: low
    condition: {signal: url_count, op: ">=", value: 1}
"""


def _rule(condition: str, rid: str = "EXTRA_BAD") -> str:
    return f"  - id: {rid}\n    description: x\n    category: spam\n    severity: low\n    condition: {condition}\n"


CASES = {
    # kind: (file text, line of the error, words the message must contain)
    "unknown signal": (HEAD + _rule("{signal: no_such_signal}"), 7, ["unknown signal", "no_such_signal", "url_count"]),
    "bad operator": (HEAD + _rule('{signal: url_count, op: "=>", value: 1}'), 7, ["bad comparison operator", "=>"]),
    "bad value type": (HEAD + _rule('{signal: url_count, op: ">=", value: "many"}'), 7, ["bad comparison", "many"]),
    "bool compared as number": (HEAD + _rule('{signal: spf_fail, op: ">", value: 1}'), 7, ["bool signal", "spf_fail"]),
    "duplicate id": (HEAD + GOOD_RULE + _rule("{signal: spf_fail}", "EXTRA_GOOD"), 8,
                     ["duplicate rule id", "extra.yaml:3"]),
    "duplicate yaml key": (HEAD + "  - id: EXTRA_X\n    id: EXTRA_Y\n", 4, ["duplicate key", "'id'", "line 3"]),
    "backreference": (HEAD + _rule("{regex: '(a+)\\1', field: body}"), 7, ["unsafe or invalid pattern", "RE2"]),
    "lookahead": (HEAD + _rule("{regex: 'pay(?=ment)', field: subject}"), 7, ["unsafe or invalid pattern"]),
    "unknown phrase list": (HEAD + _rule("{phrase: no_such_list}"), 7, ["unknown phrase list", "payment"]),
    "unknown category": (HEAD + _rule("{signal: spf_fail}").replace("category: spam", "category: fraud"), 5,
                         ["unknown category", "fraud"]),
    "unknown rule key": (HEAD + GOOD_RULE.replace("EXTRA_GOOD", "EXTRA_K") + "    severty: high\n", 8,
                         ["unknown rule key", "severty"]),
    "invalid yaml": (HEAD + "  - id: [unclosed\n", 4, ["invalid YAML"]),
    "condition not a mapping": (HEAD + _rule("[spf_fail]"), 7, ["must be a mapping"]),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_error_kind_names_file_and_line(kind: str, rules_copy: Callable[..., Path]) -> None:
    text, line, words = CASES[kind]
    folder = rules_copy({"extra.yaml": text})
    with pytest.raises(RuleSetError) as info:
        load_rules(folder)
    issues = [i for i in info.value.issues if i.file.endswith("extra.yaml")]
    assert issues, str(info.value)
    issue = issues[0]
    assert issue.line == line, str(issue)
    for w in words:
        assert w in issue.message or w in str(issue), f"{w!r} not in {issue}"
    assert f"extra.yaml:{line}:" in str(info.value)


def test_nested_condition_error_points_at_its_own_line(rules_copy: Callable[..., Path]) -> None:
    text = HEAD + _rule("\n      all:\n        - {signal: spf_fail}\n        - {signal: bogus}")
    with pytest.raises(RuleSetError) as info:
        load_rules(rules_copy({"extra.yaml": text}))
    assert info.value.issues[0].line == 10 and info.value.issues[0].rule_id == "EXTRA_BAD"


def test_bad_phrase_file_names_file_and_line(rules_copy: Callable[..., Path]) -> None:
    folder = rules_copy({"phrases.yaml": "families:\n  payment:\n    phrases: [wire]\n  payment:\n    phrases: [x]\n"})
    with pytest.raises(RuleSetError) as info:
        load_rules(folder)
    assert info.value.issues[0].file.endswith("phrases.yaml") and info.value.issues[0].line == 4


def test_lint_collects_every_error_across_files(rules_copy: Callable[..., Path]) -> None:
    folder = rules_copy({
        "extra.yaml": HEAD + _rule("{signal: nope}", "EXTRA_A") + _rule('{signal: url_count, op: "~", value: 1}',
                                                                         "EXTRA_B"),
        "more.yaml": "family: more\nrules:\n" + _rule("{regex: '(x)\\1'}", "AUTH_DMARC_FAIL"),
    })
    issues = lint([folder])
    messages = [str(i) for i in issues]
    assert len(issues) >= 4, messages
    assert any("unknown signal 'nope'" in m for m in messages)
    assert any("bad comparison operator" in m for m in messages)
    assert any("duplicate rule id 'AUTH_DMARC_FAIL'" in m and "auth.yaml:" in m for m in messages)
    assert any("unsafe or invalid pattern" in m for m in messages)


def test_lint_of_the_shipped_rules_is_clean() -> None:
    assert lint([DEFAULT_RULES_DIR]) == []
    assert lint(sorted(DEFAULT_RULES_DIR.glob("*.yaml"))) == []


def test_reload_keeps_the_last_good_set(rules_copy: Callable[..., Path], caplog: pytest.LogCaptureFixture) -> None:
    folder = rules_copy()
    engine = RuleEngine(folder=folder)
    with pytest.raises(RuleError, match="no rules loaded"):
        _ = engine.ruleset
    assert engine.reload() == []
    good = engine.ruleset
    (folder / "extra.yaml").write_text(HEAD + _rule("{signal: nope}"))
    with caplog.at_level(logging.ERROR, logger="graphdet.rules.engine"):
        issues = engine.reload()
    assert issues and "unknown signal 'nope'" in issues[0].message
    assert engine.ruleset is good
    assert "keeping the last good set" in caplog.text and "extra.yaml:7" in caplog.text
    (folder / "extra.yaml").write_text(HEAD + GOOD_RULE)
    assert engine.reload() == []
    assert "EXTRA_GOOD" in engine.ruleset.ids and engine.ruleset is not good


def test_engine_init_only_stores() -> None:
    engine = RuleEngine(folder="/does/not/exist")
    assert vars(engine) == {"folder": "/does/not/exist"}
    assert engine.reload()[0].message == "rules folder does not exist"


def test_shipped_rule_files_match_the_json_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((DEFAULT_RULES_DIR / "rule.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    files = [p for p in DEFAULT_RULES_DIR.glob("*.yaml") if p.name not in ("phrases.yaml", "lists.yaml")]
    assert len(files) >= 6
    for path in files:
        errors = list(validator.iter_errors(json.loads(json.dumps(read_yaml(path)))))
        assert not errors, f"{path.name}: {errors[0].message}"


def test_yaml_reader_rejects_duplicate_keys_in_nested_mappings(tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_text("a:\n  b: 1\n  c: 2\n  b: 3\n")
    with pytest.raises(RuleError) as info:
        read_yaml(p)
    assert info.value.file == str(p) and info.value.line == 4
