"""Offline metrics from labelled decisions: overall, per category, tenant and day, per detector.

Counts come from DuckDB SQL over the joined decisions (``ev``: one row per decision with
``flagged``, ``verdict``, ``category``, ``truth``, ``tenant``, ``day``); rates and their 95%
Wilson intervals from :func:`graphdet.combiner.metrics.confusion_rates`.

Per category, *recall* and *FNR* are over the attacks of that true category (caught = flagged
as any attack), *precision* over the messages flagged as that category (an attack of any kind
counts as correct, as in the overall figure; ``exact`` also needs the right category), and
*FPR* is the share of all safe messages flagged as that category.

Detectors are the rules (from ``rule_hits``) and the bool message signals and phrase counts
(from the logged vectors: fired when true / non-zero; counts such as the number of URLs and
scores such as a look-alike distance are inputs, not detectors). For each: fires, precision when it fires, recall, and
``unique``: attacks on which it is the only detector of its family that fires.
"""

from __future__ import annotations

import math
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from graphdet.combiner.metrics import confusion_rates, wilson
from graphdet.eval.data import EvalSet

__all__ = [
    "DetectorMatrix",
    "detector_matrix",
    "detector_metrics",
    "difference_interval",
    "offline_metrics",
    "paired_difference",
    "signal_kinds",
]

_CONFUSION = """
    count(*) FILTER (WHERE flagged AND truth <> 'safe') AS tp,
    count(*) FILTER (WHERE flagged AND truth = 'safe') AS fp,
    count(*) FILTER (WHERE NOT flagged AND truth <> 'safe') AS fn,
    count(*) FILTER (WHERE NOT flagged AND truth = 'safe') AS tn,
    count(*) FILTER (WHERE verdict = 'suspicious') AS suspicious
"""


def _table(es: EvalSet) -> pa.Table:
    f = es.frame
    return pa.table({
        "tenant": pa.array(f["tenant"].tolist(), pa.string()),
        "day": pa.array(f["day"].tolist(), pa.string()),
        "verdict": pa.array(f["verdict"].tolist(), pa.string()),
        "category": pa.array(f["category"].tolist(), pa.string()),
        "truth": pa.array(f["truth"].tolist(), pa.string()),
        "flagged": pa.array(f["flagged"].to_numpy(dtype=bool)),
    })


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = con.sql(sql).to_arrow_table().to_pylist()
    return rows


def _rates(row: dict[str, Any]) -> dict[str, Any]:
    out = confusion_rates(int(row["tp"]), int(row["fp"]), int(row["fn"]), int(row["tn"]))
    out["suspicious"] = int(row["suspicious"])
    return out


def offline_metrics(es: EvalSet) -> dict[str, Any]:
    """Overall, per-category, per-tenant and per-day metrics of an :class:`EvalSet`."""
    con = duckdb.connect()
    try:
        con.register("ev", _table(es))
        overall = _rates(_rows(con, f"SELECT {_CONFUSION} FROM ev")[0])
        safe = overall["safe"]
        recall = {r["truth"]: r for r in _rows(con, """
            SELECT truth, count(*) AS attacks, count(*) FILTER (WHERE flagged) AS caught
            FROM ev WHERE truth <> 'safe' GROUP BY ALL""")}
        flagged = {r["category"]: r for r in _rows(con, """
            SELECT category, count(*) AS flagged, count(*) FILTER (WHERE truth <> 'safe') AS attacks,
                   count(*) FILTER (WHERE truth = category) AS exact
            FROM ev WHERE flagged GROUP BY ALL""")}
        per_category = {}
        for c in sorted(set(recall) | set(flagged)):
            r = recall.get(c, {"attacks": 0, "caught": 0})
            p = flagged.get(c, {"flagged": 0, "attacks": 0, "exact": 0})
            fp = p["flagged"] - p["attacks"]
            per_category[c] = {
                "attacks": r["attacks"], "caught": r["caught"],
                "recall": r["caught"] / r["attacks"] if r["attacks"] else math.nan,
                "recall_ci": wilson(r["caught"], r["attacks"]),
                "fnr": 1 - r["caught"] / r["attacks"] if r["attacks"] else math.nan,
                "flagged": p["flagged"], "fp": fp,
                "precision": p["attacks"] / p["flagged"] if p["flagged"] else math.nan,
                "precision_ci": wilson(p["attacks"], p["flagged"]),
                "exact_category": p["exact"] / p["flagged"] if p["flagged"] else math.nan,
                "fpr": fp / safe if safe else math.nan, "fpr_ci": wilson(fp, safe),
            }
        groups = {key: {str(r["key"]): _rates(r) for r in _rows(
            con, f"SELECT {key} AS key, {_CONFUSION} FROM ev GROUP BY ALL ORDER BY 1")} for key in ("tenant", "day")}
    finally:
        con.close()
    return {"overall": overall, "per_category": per_category, "per_tenant": groups["tenant"],
            "per_day": groups["day"]}


# ---------------------------------------------------------------------------- detectors


def signal_kinds(feature_names: tuple[str, ...]) -> dict[str, str]:
    """``sig_<name>`` column -> the signal's kind (bool / int / float); phrase counts are int."""
    from graphdet.rules import REGISTRY

    out: dict[str, str] = {}
    for n in feature_names:
        if n.startswith("sig_"):
            name = n[4:]
            spec = REGISTRY.get(name)
            out[n] = spec.kind if spec is not None else ("int" if name.startswith("phrase_") else "float")
    return out


class DetectorMatrix:
    """Which detector fired on which decision: ``fired`` is (decisions, detectors) bool;
    ``family[j]`` is "rule" or "signal"; ``observed`` marks the rows a detector's state is
    known for (rules: every decision; signals: decisions with a logged vector)."""

    def __init__(self, names: list[str], family: list[str], fired: np.ndarray, observed: np.ndarray) -> None:
        self.names = names
        self.family = family
        self.fired = fired
        self.observed = observed

    def columns(self, family: str) -> np.ndarray:
        return np.array([f == family for f in self.family])


def detector_matrix(es: EvalSet, rule_ids: tuple[str, ...] = ()) -> DetectorMatrix:
    """Rules (every id in ``rule_ids``, the model's ``rule_`` columns and ``rule_hits``) and
    the bool signals and phrase counts of the feature vectors."""
    hits = es.frame["rule_hits"].tolist()
    ids = list(dict.fromkeys([*rule_ids, *(n[5:] for n in es.feature_names if n.startswith("rule_")),
                              *sorted({h for hs in hits for h in hs})]))
    col = {r: j for j, r in enumerate(ids)}
    rules = np.zeros((len(es), len(ids)), dtype=bool)
    for i, hs in enumerate(hits):
        for h in hs:
            rules[i, col[h]] = True
    kinds = signal_kinds(es.feature_names)
    sig_cols = [j for j, n in enumerate(es.feature_names)
                if kinds.get(n) == "bool" or (kinds.get(n) == "int" and n.startswith("sig_phrase_"))]
    values = es.x[:, sig_cols]
    signals = (values != 0) & ~np.isnan(values)
    names = ids + [es.feature_names[j] for j in sig_cols]
    family = ["rule"] * len(ids) + ["signal"] * len(sig_cols)
    observed = np.concatenate([np.ones((len(es), len(ids)), dtype=bool),
                               np.repeat(es.has_x[:, None], len(sig_cols), axis=1)], axis=1)
    return DetectorMatrix(names, family, np.concatenate([rules, signals], axis=1), observed)


def detector_metrics(es: EvalSet, dm: DetectorMatrix) -> list[dict[str, Any]]:
    """Per detector: fires, precision when it fires, recall over all attacks, unique catches."""
    attack = es.attack
    fired = dm.fired & dm.observed
    n_attacks = int(attack.sum())
    out = []
    for family in ("rule", "signal"):
        cols = np.flatnonzero(dm.columns(family))
        sub = fired[:, cols]
        alone = sub.sum(axis=1) == 1
        fires = sub.sum(axis=0)
        on_attacks = sub[attack].sum(axis=0)
        unique = sub[attack & alone].sum(axis=0)
        for k, j in enumerate(cols):
            n, a = int(fires[k]), int(on_attacks[k])
            out.append({
                "detector": dm.names[j], "family": family, "fires": n, "attack_fires": a,
                "precision": a / n if n else math.nan, "precision_ci": wilson(a, n),
                "recall": a / n_attacks if n_attacks else math.nan, "recall_ci": wilson(a, n_attacks),
                "unique": int(unique[k]),
            })
    return out


# ---------------------------------------------------------------------------- differences


def difference_interval(x1: int, n1: int, x2: int, n2: int, z: float = 1.96) -> tuple[float, float, float]:
    """p2 - p1 of two independent proportions with Newcombe's hybrid score interval (method 10)."""
    if n1 == 0 or n2 == 0:
        return math.nan, -1.0, 1.0
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    d = p2 - p1
    return d, d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2), d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)


def paired_difference(before: np.ndarray, after: np.ndarray, z: float = 1.96) -> tuple[float, float, float]:
    """p_after - p_before of two outcomes on the same units, with Newcombe's interval for
    paired proportions (1998, method 10: Wilson limits combined with the phi correlation)."""
    before = np.asarray(before, dtype=bool)
    after = np.asarray(after, dtype=bool)
    n = len(before)
    if n == 0:
        return math.nan, -1.0, 1.0
    a = int((before & after).sum())
    b = int((before & ~after).sum())
    c = int((~before & after).sum())
    d = n - a - b - c
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson(a + b, n, z)
    l2, u2 = wilson(a + c, n, z)
    denom = (a + b) * (c + d) * (a + c) * (b + d)
    phi = (a * d - b * c) / math.sqrt(denom) if denom else 0.0
    diff = p2 - p1
    lower = math.sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))
    upper = math.sqrt(max(0.0, (u2 - p2) ** 2 - 2 * phi * (u2 - p2) * (p1 - l1) + (p1 - l1) ** 2))
    return diff, max(-1.0, diff - lower), min(1.0, diff + upper)

