"""Detection metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from graphdet.combiner import detection_table, reweighted_precision, wilson


def test_wilson_hand_computed() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    # 5/10, z = 1.96: z^2 = 3.8416; denom = 1 + 0.38416 = 1.38416; centre = (0.5 + 0.19208) / 1.38416
    # = 0.5; half = 1.96 * sqrt(0.025 + 0.009604) / 1.38416 = 0.364602 / 1.38416 = 0.263410
    lo, hi = wilson(5, 10)
    assert lo == pytest.approx(0.236590, abs=1e-6) and hi == pytest.approx(0.763410, abs=1e-6)
    # 0/10: centre = half = 0.19208 / 1.38416 = 0.138770 -> (0, 0.277540)
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.277540, abs=1e-6)
    # 10/10 mirrors 0/10
    lo, hi = wilson(10, 10)
    assert hi == 1.0 and lo == pytest.approx(1 - 0.277540, abs=1e-6)
    # z = 1 (a 68% interval) for 1/4: denom 1.25, centre (0.25 + 0.125) / 1.25 = 0.3,
    # half = sqrt(0.046875 + 0.015625) / 1.25 = 0.25 / 1.25 = 0.2
    assert wilson(1, 4, z=1.0) == pytest.approx((0.1, 0.5), abs=1e-12)


def test_reweighted_precision_hand_computed() -> None:
    # recall 0.9, FPR 0.1% at 1 attack in 1,000: 0.0009 / (0.0009 + 0.000999) = 0.473934
    assert reweighted_precision(0.9, 0.001) == pytest.approx(0.0009 / 0.001899, rel=1e-12)
    assert reweighted_precision(0.9, 0.001) == pytest.approx(0.473934, abs=1e-6)
    assert reweighted_precision(0.5, 0.0) == 1.0
    assert reweighted_precision(1.0, 0.5, base_rate=0.5) == pytest.approx(2 / 3)
    assert math.isnan(reweighted_precision(0.0, 0.0))


def test_detection_table_hand_made_case() -> None:
    category = np.array(["safe", "safe", "safe", "bec", "bec", "malware", "safe", "bec"])
    flagged = np.array([True, False, False, True, False, True, False, True])
    t = detection_table(category, flagged)
    assert (t["tp"], t["fp"], t["fn"], t["tn"]) == (3, 1, 1, 3)
    assert (t["messages"], t["attacks"], t["safe"]) == (8, 4, 4)
    assert t["precision"] == 0.75 and t["recall"] == 0.75 and t["fnr"] == 0.25 and t["fpr"] == 0.25
    assert t["precision_ci"] == wilson(3, 4) and t["recall_ci"] == wilson(3, 4) and t["fpr_ci"] == wilson(1, 4)
    assert t["precision_at_1_in_1000"] == pytest.approx(0.75e-3 / (0.75e-3 + 0.25 * 0.999))
    assert t["per_category"] == {
        "bec": {"attacks": 3, "caught": 2, "recall": 2 / 3, "recall_ci": wilson(2, 3), "fnr": 1 - 2 / 3},
        "malware": {"attacks": 1, "caught": 1, "recall": 1.0, "recall_ci": wilson(1, 1), "fnr": 0.0},
    }


def test_detection_table_without_attacks_or_flags() -> None:
    t = detection_table(np.array(["safe", "safe"]), np.array([False, False]))
    assert (t["tp"], t["fp"], t["fn"], t["tn"]) == (0, 0, 0, 2)
    assert math.isnan(t["precision"]) and math.isnan(t["recall"]) and math.isnan(t["fnr"])
    assert t["fpr"] == 0.0 and t["per_category"] == {} and t["precision_at_1_in_1000"] is None
