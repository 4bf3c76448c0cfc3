"""Per-label tables: the numbers on a hand-made decided stream."""

from __future__ import annotations

import math

import pytest

from graphdet.public.report import Row, label_table, markdown_tables, real_mail_fp


def _rows() -> list[Row]:
    rows = []
    for i in range(10):  # phishing: 8 malicious, 1 suspicious, 1 safe
        verdict = "malicious" if i < 8 else ("suspicious" if i == 8 else "safe")
        rows.append(Row(f"p{i}", "phishing-pot", "credential_phishing", verdict, "credential_phishing", 0.9))
    for i in range(100):  # tenant mail: 2 FP (one predicted spam), 3 suspicious
        verdict = "malicious" if i < 2 else ("suspicious" if i < 5 else "safe")
        rows.append(Row(f"t{i}", "tenant-inbound", "safe", verdict, "spam" if i == 0 else "credential_phishing", 0.1))
    for i in range(4):  # ham: 1 FP
        rows.append(Row(f"h{i}", "spamassassin-hard-ham", "safe", "malicious" if i == 0 else "safe", "spam", 0.2))
    return rows


def test_label_table_numbers() -> None:
    t = label_table(_rows())
    o = t["overall"]
    assert (o["tp"], o["fp"], o["fn"], o["tn"]) == (8, 3, 2, 101)
    assert o["precision"] == pytest.approx(8 / 11) and o["recall"] == pytest.approx(0.8)
    assert o["suspicious_or_worse"]["tp"] == 9
    p = t["labels"]["phishing-pot"]
    assert (p["class"], p["n"], p["flagged"], p["fn"], p["suspicious_or_worse"]) == ("attack", 10, 8, 2, 9)
    assert p["recall"] == 0.8 and p["fnr"] == pytest.approx(0.2)
    assert p["precision_vs_all_safe"] == pytest.approx(8 / 11)
    assert p["recall_ci"][0] < 0.8 < p["recall_ci"][1]
    inbound = t["labels"]["tenant-inbound"]
    assert (inbound["class"], inbound["fp"], inbound["fpr"], inbound["suspicious_fp"]) == ("safe", 2, 0.02, 5)
    assert real_mail_fp(t) == (2, 100)
    by_pred = t["by_predicted_category"]
    assert by_pred["credential_phishing"] == {"flagged": 9, "attacks": 8, "precision": pytest.approx(8 / 9),
                                              "precision_ci": by_pred["credential_phishing"]["precision_ci"],
                                              "exact_category": 8}
    assert by_pred["spam"]["attacks"] == 0 and by_pred["spam"]["flagged"] == 2


def test_markdown_has_one_row_per_label() -> None:
    lines = markdown_tables({"m": label_table(_rows())}, "T")
    body = [ln for ln in lines if ln.startswith("| ") and not ln.startswith("| label")]
    assert len(body) == 3 and all(ln.count("|") == 10 for ln in body)
    assert any("**FP 2**" in ln and "tenant-inbound" in ln for ln in body)


def test_no_attacks_gives_nan_not_an_error() -> None:
    t = label_table([Row("t", "tenant-inbound", "safe", "safe", "safe", 0.0)])
    assert math.isnan(t["overall"]["recall"]) and t["labels"]["tenant-inbound"]["fp"] == 0


def test_auc_per_label() -> None:
    rows = [Row("a1", "phish", "spam", "safe", "spam", 0.9), Row("a2", "phish", "spam", "safe", "spam", 0.4),
            Row("s1", "ham", "safe", "safe", "safe", 0.5), Row("s2", "ham", "safe", "safe", "safe", 0.1),
            Row("e", "ham", "safe", "safe", "safe", float("nan"))]  # an error decision: no score
    t = label_table(rows)
    assert t["labels"]["phish"]["auc"] == pytest.approx(0.75) == t["labels"]["ham"]["auc"] == t["overall"]["auc"]
