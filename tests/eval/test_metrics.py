"""Offline metrics and detector tables against hand-computed cases; interval formulas."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from graphdet.combiner.metrics import wilson
from graphdet.eval import (
    EvalSet,
    detector_matrix,
    detector_metrics,
    difference_interval,
    evaluation_set,
    offline_metrics,
    paired_difference,
)
from tests.eval.helpers import DAY1, DAY2, Row, chronicle, labels

# features: a bool signal, a count that is an input (not a detector), and a phrase count
NAMES = ("sig_reply_to_differs", "sig_body_length", "sig_phrase_payment")

#   id  tenant day   verdict      predicted  truth           rules       reply-to  phrase
CASES = [
    ("m1", "t1", DAY1, "malicious", "bec", "bec", ("R1", "R2"), 1, 0),  # TP, exact category
    ("m2", "t1", DAY1, "malicious", "bec", "vendor_fraud", ("R1",), 0, 2),  # TP, wrong category
    ("m3", "t1", DAY1, "malicious", "spam", "safe", ("R2",), 1, 0),  # FP
    ("m4", "t1", DAY2, "safe", "safe", "bec", ("R3",), 0, 0),  # FN
    ("m5", "t1", DAY2, "suspicious", "bec", "safe", (), 0, 0),  # TN (SUSPICIOUS is not flagged)
    ("m6", "t2", DAY2, "safe", "safe", "safe", (), 0, 0),  # TN
    ("m7", "t2", DAY2, "safe", "safe", None, ("R2",), 0, 0),  # TN: no label counts as safe
    ("m8", "t2", DAY1, "malicious", "spam", "spam", ("R3",), 0, 0),  # TP
]


@pytest.fixture
def es(tmp_path: Path) -> EvalSet:
    rows = [Row(i, t, d, v, c, hits, features=(rt, 100.0, ph)) for i, t, d, v, c, _, hits, rt, ph in CASES]
    table = chronicle(tmp_path / "chron", rows)
    truth = {c[0]: c[5] for c in CASES if c[5] is not None}
    return evaluation_set(table, labels(truth), feature_names=NAMES, feature_version="f-test")


def test_overall_per_category_tenant_and_day(es: EvalSet) -> None:
    m = offline_metrics(es)
    o = m["overall"]
    assert (o["tp"], o["fp"], o["fn"], o["tn"], o["suspicious"]) == (3, 1, 1, 3, 1)
    assert o["precision"] == o["recall"] == 0.75 and o["fpr"] == 0.25 and o["fnr"] == 0.25
    assert o["precision_ci"] == pytest.approx((0.3006, 0.9544), abs=1e-4)  # Wilson 3/4, by hand
    bec, vf, spam = (m["per_category"][c] for c in ("bec", "vendor_fraud", "spam"))
    assert (bec["attacks"], bec["caught"], bec["recall"], bec["flagged"], bec["precision"]) == (2, 1, 0.5, 2, 1.0)
    assert bec["exact_category"] == 0.5 and bec["fp"] == 0 and bec["fpr"] == 0.0
    assert (vf["attacks"], vf["caught"], vf["flagged"]) == (1, 1, 0) and math.isnan(vf["precision"])
    assert (spam["flagged"], spam["precision"], spam["fp"], spam["fpr"]) == (2, 0.5, 1, 0.25)
    t1, t2 = m["per_tenant"]["t1"], m["per_tenant"]["t2"]
    assert (t1["tp"], t1["fp"], t1["fn"], t1["tn"]) == (2, 1, 1, 1)
    assert t1["precision"] == pytest.approx(2 / 3) and t2["recall"] == 1.0 and t2["fpr"] == 0.0
    d1, d2 = m["per_day"]["2026-03-01"], m["per_day"]["2026-03-02"]
    assert (d1["tp"], d1["fp"], d2["fn"], d2["tn"]) == (3, 1, 1, 3)
    assert math.isnan(d2["precision"]) and d2["recall"] == 0.0


def test_every_rule_and_signal_on_its_own(es: EvalSet) -> None:
    table = {d["detector"]: d for d in detector_metrics(es, detector_matrix(es, ("R0",)))}
    # attacks: m1, m2, m4, m8
    assert (table["R1"]["fires"], table["R1"]["attack_fires"], table["R1"]["unique"]) == (2, 2, 1)
    assert table["R1"]["precision"] == 1.0 and table["R1"]["recall"] == 0.5
    assert (table["R2"]["fires"], table["R2"]["attack_fires"], table["R2"]["unique"]) == (3, 1, 0)
    assert table["R2"]["precision"] == pytest.approx(1 / 3)
    assert (table["R3"]["fires"], table["R3"]["unique"]) == (2, 2)
    assert table["R0"]["fires"] == 0 and math.isnan(table["R0"]["precision"])  # a rule that never fired is listed
    assert (table["sig_reply_to_differs"]["fires"], table["sig_reply_to_differs"]["attack_fires"]) == (2, 1)
    assert (table["sig_phrase_payment"]["fires"], table["sig_phrase_payment"]["unique"]) == (1, 1)
    assert "sig_body_length" not in table  # a length is an input, not a detector


def test_wilson_and_newcombe_intervals_match_published_values() -> None:
    assert wilson(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    # Newcombe 1998, independent proportions, example (a): 56/70 - 48/80 = 0.2, method 10: 0.0524 to 0.3339
    d, lo, hi = difference_interval(48, 80, 56, 70)
    assert (d, lo, hi) == pytest.approx((0.2, 0.0524, 0.3339), abs=1e-4)


def test_paired_difference() -> None:
    # a=1 both, b=1 before only, c=7 after only, d=12 neither (n=21): 6/21 more after
    before = np.array([1, 1] + [0] * 19, dtype=bool)
    after = np.array([1, 0] + [1] * 7 + [0] * 12, dtype=bool)
    d, lo, hi = paired_difference(before, after)
    assert d == pytest.approx(6 / 21)
    assert (lo, hi) == pytest.approx((0.0360, 0.5017), abs=1e-4)
    assert paired_difference(after, before) == pytest.approx((-d, -hi, -lo))  # antisymmetric
    same = paired_difference(before, before)
    assert same[0] == 0 and same[1] < 0 < same[2]
    # uncorrelated outcomes (phi = 0) give the independent interval with n1 = n2
    x = np.array([1, 1, 0, 0], dtype=bool)
    y = np.array([1, 0, 1, 0], dtype=bool)
    assert paired_difference(x, y) == pytest.approx(difference_interval(2, 4, 2, 4))
