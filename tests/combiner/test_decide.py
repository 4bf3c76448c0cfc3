"""Decider: real rows through the combiner and the policy, precedence end to end."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from graphdet.combiner import Combiner, Decider, ReasonBook
from graphdet.combiner.pipeline import REPO_CONFIGS
from graphdet.features import FeatureRow
from graphdet.policy import Policy, TenantPolicy
from graphdet.schema import Category, Verdict

from .conftest import Rows


def _decider(data: Rows, combiner: Combiner, policy: Policy) -> Decider:
    rs = data.builder.ruleset
    reasons = ReasonBook.load(REPO_CONFIGS / "reasons.yaml", {r.id: r.description for r in rs.rules},
                              data.builder.schema)
    return Decider(combiner, policy, reasons, rs)


@pytest.fixture(scope="module")
def high(data: Rows, fitted: Combiner) -> list[int]:
    """Validation rows the model scores at or above the suspicious threshold, without a hard rule."""
    score = fitted.predict_proba(data.x[data.val])
    hard = {r.id for r in data.builder.ruleset.rules if r.hard}
    idx = [int(i) for i, s in zip(data.val, score, strict=True)
           if s >= fitted.suspicious_threshold_ and not hard & set(data.rows[i].hits)]
    assert len(idx) >= 10
    return idx[:40]


def _with_impersonation(data: Rows, row: FeatureRow, value: float) -> FeatureRow:
    """The graph's impersonation evidence set to ``value``; an honest row (0) also has no
    near-exact internal display name (the rules' evidence the policy reads too)."""
    v = row.values.copy()
    v[data.names.index("sender_name_internal_other")] = value
    if value == 0.0:
        v[data.names.index("sig_display_name_internal_similarity")] = 0.0
    return replace(row, values=v)


def test_model_verdicts_follow_the_thresholds(data: Rows, fitted: Combiner) -> None:
    idx = list(data.val[:2000])
    decisions = _decider(data, fitted, Policy()).decide([data.messages[i] for i in idx], [data.rows[i] for i in idx])
    hard = {r.id for r in data.builder.ruleset.rules if r.hard}
    category = fitted.predict_category(data.x[idx])
    for d, i, c in zip(decisions, idx, category, strict=True):
        if hard & set(data.rows[i].hits):
            assert d.verdict is Verdict.MALICIOUS and d.reasons[0].startswith("hard rule")
        elif d.score >= fitted.thresholds_[c]:
            assert d.verdict is Verdict.MALICIOUS and d.category == c
        elif d.score >= fitted.suspicious_threshold_:
            assert d.verdict is Verdict.SUSPICIOUS and d.attribution  # explained
        else:
            assert d.verdict is Verdict.SAFE and d.attribution == ()
    assert {d.verdict for d in decisions} >= {Verdict.SAFE, Verdict.SUSPICIOUS}


def test_allow_list_precedence_with_impersonation(data: Rows, fitted: Combiner, high: list[int]) -> None:
    msgs = [data.messages[i] for i in high]
    plain = _decider(data, fitted, Policy()).decide(msgs, [_with_impersonation(data, data.rows[i], 1.0) for i in high])
    allow = Policy(TenantPolicy(allow_senders=frozenset(m.from_.addr for m in msgs)))
    decider = _decider(data, fitted, allow)
    impersonating = decider.decide(msgs, [_with_impersonation(data, data.rows[i], 1.0) for i in high])
    honest = decider.decide(msgs, [_with_impersonation(data, data.rows[i], 0.0) for i in high])
    for p, imp, ok in zip(plain, impersonating, honest, strict=True):
        assert p.verdict in (Verdict.SUSPICIOUS, Verdict.MALICIOUS)
        assert (imp.verdict, imp.category) == (p.verdict, p.category)  # the model's verdict stands
        assert any("allow list overridden" in r for r in imp.reasons)
        assert (ok.verdict, ok.category) == (Verdict.SAFE, Category.SAFE)
        assert "allow list" in ok.reasons[0]


def test_hard_rule_and_block_list_beat_the_allow_list(data: Rows, fitted: Combiner, high: list[int]) -> None:
    hard_rule = next(r for r in data.builder.ruleset.rules if r.hard)
    low = [int(i) for i in data.val[:500]]
    msgs = [data.messages[i] for i in low]
    senders = frozenset(m.from_.addr for m in msgs)
    both = Policy(TenantPolicy(allow_senders=senders, block_senders=senders))
    blocked = _decider(data, fitted, both).decide(msgs, [data.rows[i] for i in low])
    assert all(d.verdict is Verdict.MALICIOUS for d in blocked)
    allow = Policy(TenantPolicy(allow_senders=senders))
    forced = [replace(data.rows[i], hits=(hard_rule.id,)) for i in low]
    decided = _decider(data, fitted, allow).decide(msgs, forced)
    assert all(d.verdict is Verdict.MALICIOUS and d.category == hard_rule.category for d in decided)
    assert all(d.reasons[0] == f"hard rule {hard_rule.id}" for d in decided)
    assert np.array_equal([d.score for d in decided], fitted.predict_proba(data.x[low]))


def test_allow_list_override_still_works_in_cold_start(data: Rows, fitted: Combiner, high: list[int]) -> None:
    """Immature tenant: the graph's impersonation feature is unknown (NaN); the rules' display
    name match must still stop an allow list from silencing an internal person's name."""

    def row(i: int, similarity: float) -> FeatureRow:
        v = data.rows[i].values.copy()
        v[data.names.index("sender_name_internal_other")] = np.nan
        v[data.names.index("sig_display_name_internal_similarity")] = similarity
        return replace(data.rows[i], values=v)

    msgs = [data.messages[i] for i in high]
    decider = _decider(data, fitted, Policy(TenantPolicy(allow_senders=frozenset(m.from_.addr for m in msgs))))
    spoofed = decider.decide(msgs, [row(i, 100.0) for i in high])
    unrelated = decider.decide(msgs, [row(i, 0.0) for i in high])
    for s, u in zip(spoofed, unrelated, strict=True):
        if s.score >= fitted.suspicious_threshold_:
            assert s.verdict is not Verdict.SAFE
            assert any("allow list overridden" in r for r in s.reasons)
        assert u.verdict is Verdict.SAFE
