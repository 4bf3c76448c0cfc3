"""FP/FN analysis: errors grouped by what drove them into named capability gaps.

Each false negative (an attack not flagged) and false positive (safe mail flagged MALICIOUS)
is explained by the combiner's exact tree attributions, recomputed from its feature vector
(the chronicle keeps attributions only for messages above the suspicious threshold), taken
*relative to what the error was not*: a feature that pushes every message toward safe (an
empty executive-name match, say) explains nothing about why this attack was missed.

- a false negative's *dominant* feature is the one whose contribution is lowest against its
  mean over the caught attacks of the same category (all caught attacks when there are fewer
  than five): what made this attack look safer than the ones that were caught;
- a false positive's is the hard rule that forced the verdict, else the feature whose
  contribution is highest against its mean over correctly passed safe mail.

Errors with the same kind, category (true for FN, predicted for FP), dominant feature and
side of it (high / low against the median of all decisions, yes / no for a 0/1 feature,
unknown for NaN) form one gap; gaps with at least ``min_count`` errors are named, the rest
pooled as "other". For each gap: count, common rule hits, the message kinds when the log
has them (synthetic data), examples, and the features that best separate the gap from what it
is confused with (missed attacks vs correctly passed safe mail; false alarms vs correctly
flagged attacks of the same category), by single-feature AUC.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from graphdet.combiner import Combiner, ReasonBook
from graphdet.eval.data import EvalSet

__all__ = ["CapabilityGap", "GapConfig", "capability_gaps", "short_name"]


@dataclass(frozen=True)
class GapConfig:
    """``reference_sample``: rows whose mean attributions are the reference (tree SHAP costs ~ms a
    row); ``contrast_sample``: rows the separating features are measured against."""

    min_count: int = 3
    examples: int = 3
    reference_sample: int = 800
    contrast_sample: int = 5000
    separating: int = 3
    seed: int = 0


@dataclass(frozen=True)
class CapabilityGap:
    name: str
    kind: str  # "false negative" | "false positive"
    category: str
    feature: str
    side: str
    count: int
    share: float  # of the errors of this kind
    explanation: str
    rule_hits: list[tuple[str, int]] = field(default_factory=list)
    kinds: list[tuple[str, int]] = field(default_factory=list)
    separating: list[dict[str, Any]] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # positions in the EvalSet


def short_name(feature: str) -> str:
    """``pair_msgs_max_log`` -> "pair msgs max", ``sig_reply_to_differs`` -> "reply to differs"."""
    if feature.startswith("rule_"):
        return f"rule {feature[5:]}"
    name = feature.removeprefix("sig_").removesuffix("_log")
    return name.replace("_", " ")


def _side(value: float, binary: bool, median: float) -> str:
    if np.isnan(value):
        return "unknown"
    if binary:
        return "yes" if value >= 0.5 else "no"
    return "high" if value > median else "low"


def _phrase(feature: str, side: str) -> str:
    if feature == "":
        return "nothing pushed toward attack"
    if feature.startswith("rule_"):
        return f"rule {feature[5:]} fired"
    return f"{short_name(feature)} {'is ' if side in ('high', 'low', 'unknown') else '= '}{side}"


def _auc(group: np.ndarray, contrast: np.ndarray) -> np.ndarray:
    """Per column, P(group value > contrast value) with ties halved; NaN counts as lowest."""
    both = np.vstack([group, contrast])
    both = np.where(np.isnan(both), -np.inf, both)
    ranks = pd.DataFrame(both).rank(axis=0, method="average").to_numpy()
    n1, n0 = len(group), len(contrast)
    out: np.ndarray = (ranks[:n1].sum(axis=0) - n1 * (n1 + 1) / 2) / (n1 * n0)
    return out


def _separating(es: EvalSet, rows: np.ndarray, contrast: np.ndarray, k: int) -> list[dict[str, Any]]:
    if not len(rows) or not len(contrast):
        return []
    g, c = es.x[rows], es.x[contrast]
    auc = _auc(g, c)
    strength = np.abs(auc - 0.5) * 2
    out = []
    for j in np.argsort(-strength, kind="mergesort")[:k]:
        if strength[j] <= 0:
            break
        out.append({"feature": es.feature_names[j], "auc": round(float(auc[j]), 3),
                    "gap_median": float(np.nanmedian(g[:, j])) if not np.isnan(g[:, j]).all() else None,
                    "contrast_median": float(np.nanmedian(c[:, j])) if not np.isnan(c[:, j]).all() else None})
    return out


def capability_gaps(
    es: EvalSet,
    combiner: Combiner,
    *,
    reasons: ReasonBook | None = None,
    hard_rules: frozenset[str] = frozenset(),
    config: GapConfig | None = None,
) -> list[CapabilityGap]:
    """Named gaps of the false negatives and false positives of ``es``, largest first."""
    cfg = config or GapConfig()
    rng = np.random.default_rng(cfg.seed)
    attack, flagged, has_x = es.attack, es.flagged, es.has_x
    frame = es.frame
    x = es.x
    names = es.feature_names
    binary = np.array([np.isin(x[has_x, j][~np.isnan(x[has_x, j])], (0.0, 1.0)).all() for j in range(len(names))])
    median = np.nanmedian(np.where(has_x[:, None], x, np.nan), axis=0) if has_x.any() else np.zeros(len(names))
    tn = np.flatnonzero(~attack & ~flagged & has_x)
    tp = np.flatnonzero(attack & flagged & has_x)
    truth = frame["truth"].to_numpy()

    def mean_contrib(rows: np.ndarray) -> np.ndarray:
        if len(rows) > cfg.reference_sample:
            rows = np.sort(rng.choice(rows, cfg.reference_sample, replace=False))
        if not len(rows):
            return np.zeros(len(names))
        out: np.ndarray = combiner.contributions(x[rows])[:, : len(names)].mean(axis=0)
        return out

    tn_mean = mean_contrib(tn)
    tp_mean = {c: mean_contrib(tp[truth[tp] == c]) for c in set(truth[tp].tolist()) if (truth[tp] == c).sum() >= 5}
    tp_all = mean_contrib(tp)
    gaps: list[CapabilityGap] = []
    for kind, mask in (("false negative", attack & ~flagged & has_x), ("false positive", ~attack & flagged & has_x)):
        err = np.flatnonzero(mask)
        if not len(err):
            continue
        contrib = combiner.contributions(x[err])[:, : len(names)]
        keys: list[tuple[str, str, str]] = []
        for r, i in enumerate(err):
            cat = frame.at[i, "truth"] if kind == "false negative" else frame.at[i, "category"]
            hard = [h for h in frame.at[i, "rule_hits"] if h in hard_rules]
            if kind == "false positive" and hard:
                keys.append((cat, f"rule_{hard[0]}", "fired"))
                continue
            if kind == "false negative":
                rel = contrib[r] - tp_mean.get(cat, tp_all)
                j = int(np.argmin(rel))
                pushed = rel[j] < 0
            else:
                rel = contrib[r] - tn_mean
                j = int(np.argmax(rel))
                pushed = rel[j] > 0
            keys.append((cat, names[j], _side(x[i, j], bool(binary[j]), median[j])) if pushed else (cat, "", ""))
        groups: dict[tuple[str, str, str], list[int]] = {}
        for key, i in zip(keys, err, strict=True):
            groups.setdefault(key, []).append(int(i))
        big = {k: v for k, v in groups.items() if len(v) >= cfg.min_count}
        rest = [i for k, v in groups.items() if k not in big for i in v]
        for (cat, feat, side), rows in sorted(big.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            if kind == "false negative":
                contrast = tn
            else:
                same = tp[frame["category"].to_numpy()[tp] == cat]
                contrast = same if len(same) else tp
            gaps.append(_gap(es, kind, cat, feat, side, np.array(rows), contrast, len(err), reasons, cfg, rng))
        if rest:
            gaps.append(_gap(es, kind, "mixed", "", "other", np.array(rest), np.zeros(0, dtype=int), len(err),
                             reasons, cfg, rng))
    return gaps


def _gap(es: EvalSet, kind: str, cat: str, feat: str, side: str, rows: np.ndarray, contrast: np.ndarray,
         n_errors: int, reasons: ReasonBook | None, cfg: GapConfig, rng: np.random.Generator) -> CapabilityGap:
    frame = es.frame
    if len(contrast) > cfg.contrast_sample:
        contrast = np.sort(rng.choice(contrast, cfg.contrast_sample, replace=False))
    kinds = Counter(k for k in frame["kind"].iloc[rows] if k).most_common(3)
    hits = Counter(h for hs in frame["rule_hits"].iloc[rows] for h in hs).most_common(3)
    what = "missed" if kind == "false negative" else "flagged"
    mostly = f" (mostly {kinds[0][0]})" if kinds and kinds[0][1] * 2 > len(rows) and kinds[0][0] != cat else ""
    subject = f"{cat} attacks{mostly}" if kind == "false negative" else f"safe mail{mostly} as {cat}"
    if side == "other":
        name = f"other {kind}s (groups under {cfg.min_count})"
        explanation = "errors whose dominant feature is shared by fewer than the minimum"
    else:
        name = f"{subject} {what}: {_phrase(feat, side)}"
        j = es.feature_names.index(feat) if feat in es.feature_names else -1
        value = float(np.nanmedian(es.x[rows, j])) if j >= 0 and not np.isnan(es.x[rows, j]).all() else float("nan")
        if not feat:
            explanation = "no feature stood out against the comparison set"
        elif kind == "false positive" and side == "fired":
            explanation = f"hard rule {feat[5:]} forced the verdict" + (
                f": {reasons.text(feat, 1.0)}" if reasons is not None else "")
        elif kind == "false positive":
            text = reasons.text(feat, value) if reasons is not None else short_name(feat)
            explanation = f"pushed toward attack more than in correctly passed safe mail: {text}"
        else:
            text = reasons.schema.describe(feat) if reasons is not None else short_name(feat)
            explanation = f"pushed toward safe more than in caught attacks: {text} (median {value:g})"
    by_score = rows[np.argsort(-frame["score"].to_numpy()[rows] if kind == "false positive"
                               else frame["score"].to_numpy()[rows], kind="mergesort")]
    return CapabilityGap(
        name=name, kind=kind, category=cat, feature=feat, side=side, count=len(rows),
        share=len(rows) / n_errors, explanation=explanation, rule_hits=hits, kinds=kinds,
        separating=_separating(es, rows, contrast, cfg.separating) if side != "other" else [],
        examples=[str(frame.at[int(i), "message_id"]) for i in by_score[: cfg.examples]],
        rows=[int(i) for i in by_score],
    )
