"""Counterfactual replay: identity, thresholds, rules disabled or changed, another model, the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from graphdet.cli import app
from graphdet.combiner import Combiner
from graphdet.eval import (
    Change,
    EvalError,
    ReplayRows,
    decision_diff,
    fidelity,
    logged_rows,
    metric_deltas,
    replay_change,
    rerun_rows,
)
from graphdet.eval.replay import sole_catches
from graphdet.rules import load_rules
from graphdet.schema import Verdict
from tests.eval.helpers import Served

runner = CliRunner()


def test_no_change_replay_reproduces_every_logged_decision_exactly(served: Served) -> None:
    decisions, stack = served.decisions(), served.stack()
    rows = rerun_rows(decisions, stack, served.log)
    result = replay_change(stack, rows, Change())
    logged = decisions.take(rows.index).to_pydict()
    assert len(rows.index) == decisions.num_rows > 5000
    assert [d.verdict.value for d in result.before] == logged["verdict"]
    assert [d.category.value for d in result.before] == logged["category"]
    assert [d.score for d in result.before] == logged["score"]  # exact, not approximate
    assert {d.verdict for d in result.before} >= {Verdict.SAFE, Verdict.MALICIOUS}
    fid = fidelity(result, decisions)
    assert fid["reproduced"] == fid["replayed"] == decisions.num_rows  # rule hits and attributions too
    assert decision_diff(result).empty


def test_logged_vectors_reproduce_every_decision_exactly(served: Served) -> None:
    """The chronicle keeps the float64 vectors the booster saw: a no-change replay of them alone
    (no log, no snapshot) gives back every logged verdict, category and score exactly."""
    decisions, stack = served.decisions(), served.stack()
    result = replay_change(stack, logged_rows(decisions, stack), Change())
    fid = fidelity(result, decisions)
    assert fid["replayed"] == fid["reproduced"] == decisions.num_rows
    assert [d.verdict.value for d in result.before] == decisions.column("verdict").to_pylist()
    assert [d.category.value for d in result.before] == decisions.column("category").to_pylist()
    assert [d.score for d in result.before] == decisions.column("score").to_pylist()


@pytest.fixture(scope="module")
def rows(served: Served) -> ReplayRows:
    """The logged rows of every decision that was not SAFE, and 1,500 that were (a quick sample)."""
    decisions = served.decisions()
    everything = logged_rows(decisions, served.stack())
    verdict = np.array(decisions.column("verdict").to_pylist())[everything.index]
    keep = np.flatnonzero(verdict != "safe")
    return everything.take(np.sort(np.r_[keep, np.flatnonzero(verdict == "safe")[:1500]]))


def _attack(served: Served, rows: ReplayRows) -> np.ndarray:
    truth = dict(zip(served.labels().column("message_id").to_pylist(),
                     served.labels().column("category").to_pylist(), strict=True))
    return np.array([truth.get(m.message_id, "safe") != "safe" for m in rows.messages], dtype=bool)


def test_thresholds_above_every_score_leave_only_hard_rules(served: Served, rows: ReplayRows) -> None:
    stack = served.stack()
    result = replay_change(stack, rows, Change(thresholds=(("*", 1.01),)))
    hard = {r.id for r in stack.ruleset.rules if r.hard}
    for d in result.after:
        if d.verdict is Verdict.MALICIOUS:
            assert set(d.rule_hits) & hard and d.reasons[0].startswith("hard rule")
    flagged_before = sum(d.verdict is Verdict.MALICIOUS for d in result.before)
    flagged_after = sum(d.verdict is Verdict.MALICIOUS for d in result.after)
    assert flagged_after < flagged_before
    deltas = metric_deltas(result, _attack(served, rows))
    assert deltas["flagged_before"] == flagged_before and deltas["flagged_after"] == flagged_after
    r = deltas["recall"]
    assert r["after"] < r["before"] and r["ci"][0] <= r["delta"] <= r["ci"][1] < 0
    assert deltas["changed"] == len(decision_diff(result)) > 0
    assert [d.score for d in result.after] == [d.score for d in result.before]  # only verdicts move


def test_a_disabled_rule_never_fires_and_sole_catches_agree(served: Served, rows: ReplayRows) -> None:
    stack = served.stack()
    counts: dict[str, int] = {}
    for hs in rows.hits:
        for h in hs:
            counts[h] = counts.get(h, 0) + 1
    rule = max(counts, key=lambda r: counts[r])
    result = replay_change(stack, rows, Change(disable_rules=(rule,)))
    assert all(rule not in d.rule_hits for d in result.after)
    assert any(rule in d.rule_hits for d in result.before)
    attack = _attack(served, rows)
    lost = sum(b.verdict is Verdict.MALICIOUS and a.verdict is not Verdict.MALICIOUS and bool(t)
               for b, a, t in zip(result.before, result.after, attack, strict=True))
    assert sole_catches(stack, rows, result.before, attack)[rule] == lost


def _changed_rules(served: Served, tmp_path: Path, condition: dict[str, object]) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(served.artifacts / "rules", folder)
    data = yaml.safe_load((folder / "spam.yaml").read_text())
    data["rules"][0]["condition"] = condition
    (folder / "spam.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return folder


def test_a_changed_rule_is_reevaluated_on_the_logged_signals(served: Served, rows: ReplayRows, tmp_path: Path) -> None:
    stack = served.stack()
    folder = _changed_rules(served, tmp_path, {"signal": "body_length", "op": ">=", "value": 0})
    changed = load_rules(folder)
    rid = yaml.safe_load((folder / "spam.yaml").read_text())["rules"][0]["id"]
    result = replay_change(stack, rows, Change(rules=changed))
    assert all(rid in d.rule_hits for d in result.after)  # the broken rule fires on everything
    others = [tuple(h for h in d.rule_hits if h != rid) for d in result.after]
    assert others == [tuple(h for h in d.rule_hits if h != rid) for d in result.before]
    regex = load_rules(_changed_rules(served, tmp_path / "re", {"regex": "invoice", "field": "subject"}))
    with pytest.raises(EvalError, match=rf"changed rules \['{rid}'\] have regex conditions"):
        replay_change(stack, rows, Change(rules=regex))


def test_bad_changes_name_the_choices(served: Served, rows: ReplayRows) -> None:
    stack = served.stack()
    with pytest.raises(EvalError, match=r"cannot disable unknown rules \['NOPE_RULE'\]; the rules are \{AUTH_"):
        replay_change(stack, rows, Change(disable_rules=("NOPE_RULE",)))
    with pytest.raises(EvalError, match=r"cannot mask \['text'\]"):
        replay_change(stack, rows, Change(mask=("text",)))
    with pytest.raises(EvalError, match="no threshold for category 'phish'"):
        replay_change(stack, rows, Change(thresholds=(("phish", 0.5),)))


def test_another_model_re_decides_the_same_vectors(served: Served, rows: ReplayRows) -> None:
    stack = served.stack()
    truth = np.where(_attack(served, rows), "spam", "safe")
    half = len(rows.x) // 2
    other = Combiner(num_boost_round=15, seed=1).fit(rows.x[:half], truth[:half], rows.x[half:], truth[half:],
                                                    feature_names=list(stack.feature_names))
    result = replay_change(stack, rows, Change(combiner=other))
    assert [d.score for d in result.after] == pytest.approx(list(other.predict_proba(rows.x)))
    assert [d.score for d in result.after] != [d.score for d in result.before]


def test_replay_command(served: Served, tmp_path: Path) -> None:
    result = runner.invoke(app, ["replay", "--chronicle", str(served.chronicle), "--artifacts", str(served.artifacts),
                                 "--log", str(served.log), "--logged-vectors", "--threshold", "*=1.01",
                                 "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "change: threshold *=1.01" in text and "decisions changed" in text and "recall:" in text
    assert pq.read_table(tmp_path / "r" / "diff.parquet").num_rows > 0
    bad = runner.invoke(app, ["replay", "--chronicle", str(served.chronicle), "--artifacts", str(served.artifacts),
                              "--threshold", "bec"])
    assert bad.exit_code == 2 and "CATEGORY=VALUE" in bad.output
    missing = runner.invoke(app, ["replay", "--chronicle", str(tmp_path / "nope"), "--artifacts",
                                  str(served.artifacts)])
    assert missing.exit_code == 1 and "does not exist" in " ".join(missing.output.split())
    assert "Traceback" not in missing.output
