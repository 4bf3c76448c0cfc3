"""Detection metrics with Wilson confidence intervals."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["confusion_rates", "detection_table", "reweighted_precision", "wilson"]


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion (95% by default); (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def reweighted_precision(recall: float, fpr: float, base_rate: float = 0.001) -> float:
    """Precision at another attack base rate (default 1 attack in 1,000 messages)."""
    tp = recall * base_rate
    fp = fpr * (1 - base_rate)
    return tp / (tp + fp) if tp + fp > 0 else float("nan")


def confusion_rates(tp: int, fp: int, fn: int, tn: int) -> dict[str, Any]:
    """Precision, recall, FNR and FPR of one confusion matrix, with Wilson intervals (NaN when undefined)."""
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    fpr = fp / (fp + tn) if fp + tn else float("nan")
    return {
        "messages": tp + fp + fn + tn, "attacks": tp + fn, "safe": fp + tn,
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "precision": precision, "precision_ci": wilson(tp, tp + fp),
        "recall": recall, "recall_ci": wilson(tp, tp + fn),
        "fnr": 1 - recall if recall == recall else float("nan"),
        "fpr": fpr, "fpr_ci": wilson(fp, fp + tn),
        "precision_at_1_in_1000": reweighted_precision(recall, fpr) if recall == recall and fpr == fpr else None,
    }


def detection_table(category: np.ndarray, flagged: np.ndarray) -> dict[str, Any]:
    """Overall precision / recall / FNR / FPR, and recall per attack category, with intervals.

    ``category`` holds 'safe' or the attack category of each row; ``flagged`` whether the
    system called it an attack (any category: precision is attack vs safe).
    """
    category = np.asarray(category)
    flagged = np.asarray(flagged, dtype=bool)
    attack = category != "safe"
    out = confusion_rates(int((flagged & attack).sum()), int((flagged & ~attack).sum()),
                          int((~flagged & attack).sum()), int((~flagged & ~attack).sum()))
    out["per_category"] = {}
    for c in sorted(set(category[attack].tolist())):
        mine = category == c
        hit = int((flagged & mine).sum())
        n = int(mine.sum())
        out["per_category"][c] = {"attacks": n, "caught": hit, "recall": hit / n, "recall_ci": wilson(hit, n),
                                  "fnr": 1 - hit / n}
    return out
