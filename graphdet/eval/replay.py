"""Counterfactual replay: re-decide logged traffic with a rule, threshold or model changed.

A :class:`Change` is applied to :class:`~graphdet.eval.stack.ReplayRows` and the rows are
decided twice by the serving Decider: once unchanged (``before``; with re-run rows this
reproduces the logged decisions exactly, and :func:`fidelity` says how many it did) and
once changed (``after``). Diffs and metric deltas compare ``after`` with ``before``.

What a change can do:

- ``disable_rules``: the rules never fire (their ``rule_`` columns are 0, no hard verdict);
- ``rules``: another rule set; a rule whose condition, category, severity or ``hard`` flag
  differs (or that is new) is re-evaluated on the logged message signals (a regex condition
  needs the message text: replay with the message log); a rule that is gone never fires;
- ``thresholds`` (category -> threshold, ``*`` for all) and ``suspicious_threshold``;
- ``combiner``: another model (its features are taken from the vectors by name);
- ``mask``: feature families made unknown at decision time: ``graph`` and ``gnn`` become NaN
  (as for a tenant in cold start), ``rules`` clears every rule hit.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from graphdet.combiner import Combiner
from graphdet.eval.data import EvalError
from graphdet.eval.metrics import difference_interval, paired_difference
from graphdet.eval.stack import DecisionStack, ReplayRows, feature_rows
from graphdet.rules import Rule, RuleSet, Signals
from graphdet.rules.registry import SignalValue
from graphdet.schema import Decision, Verdict

__all__ = ["MASKS", "Change", "ReplayResult", "decision_diff", "fidelity", "metric_deltas", "replay_change",
           "sole_catches"]

logger = logging.getLogger(__name__)

MASKS = ("graph", "gnn", "rules")


@dataclass(frozen=True)
class Change:
    """One counterfactual; the default changes nothing."""

    disable_rules: tuple[str, ...] = ()
    rules: RuleSet | None = None
    thresholds: tuple[tuple[str, float], ...] = ()
    suspicious_threshold: float | None = None
    combiner: Combiner | None = None
    mask: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = [f"disable {', '.join(self.disable_rules)}"] if self.disable_rules else []
        if self.rules is not None:
            parts.append(f"rules from {self.rules.source}")
        parts += [f"threshold {c}={v:g}" for c, v in self.thresholds]
        if self.suspicious_threshold is not None:
            parts.append(f"suspicious threshold {self.suspicious_threshold:g}")
        if self.combiner is not None:
            parts.append("another model")
        if self.mask:
            parts.append(f"{' + '.join(self.mask)} unknown")
        return "; ".join(parts) or "no change"


@dataclass(frozen=True)
class ReplayResult:
    rows: ReplayRows
    before: list[Decision]
    after: list[Decision]
    change: Change


def _flagged(ds: list[Decision]) -> np.ndarray:
    return np.array([d.verdict is Verdict.MALICIOUS for d in ds], dtype=bool)


def _has_regex(node: Any) -> bool:
    if isinstance(node, dict):
        return "regex" in node or any(_has_regex(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_regex(v) for v in node)
    return False


def _same_rule(a: Rule, b: Rule) -> bool:
    return (a.condition, a.category, a.severity, a.hard) == (b.condition, b.category, b.severity, b.hard)


def _check_rules(stack: DecisionStack, change: Change, rows: ReplayRows) -> list[str]:
    """The ids whose hits must be re-evaluated; validates the change against the stack."""
    known = set(stack.ruleset.ids) | (set(change.rules.ids) if change.rules is not None else set())
    unknown = sorted(set(change.disable_rules) - known)
    if unknown:
        raise EvalError(f"cannot disable unknown rules {unknown}; the rules are {{{', '.join(sorted(known))}}}")
    bad_mask = sorted(set(change.mask) - set(MASKS))
    if bad_mask:
        raise EvalError(f"cannot mask {bad_mask}: choose among {{{', '.join(MASKS)}}}")
    if change.rules is None:
        return []
    old = {r.id: r for r in stack.ruleset.rules}
    changed = [r.id for r in change.rules.rules if r.id not in old or not _same_rule(r, old[r.id])]
    if not rows.has_text:
        needs_text = [r for r in changed if _has_regex(change.rules[r].condition)]
        if needs_text:
            raise EvalError(f"changed rules {needs_text} have regex conditions, which need the message text: "
                            "replay with the message log")
    return changed


def _apply(stack: DecisionStack, change: Change, rows: ReplayRows) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    changed = _check_rules(stack, change, rows)
    names = stack.feature_names
    col = {n: j for j, n in enumerate(names)}
    x = rows.x.copy()
    hits = list(rows.hits)
    if change.rules is not None:
        sig = [(n[4:], j) for j, n in enumerate(names) if n.startswith("sig_")]
        gone = set(stack.ruleset.ids) - set(change.rules.ids)
        redo = set(changed)
        for i, m in enumerate(rows.messages):
            kept = [h for h in hits[i] if h not in redo and h not in gone]
            if redo:
                values: dict[str, SignalValue] = {s: float(x[i, j]) for s, j in sig}
                fired = change.rules.evaluate(Signals(values, m))
                kept += [h for h in fired if h in redo]
            hits[i] = tuple(kept)
    off = set(change.disable_rules) | (set(stack.ruleset.ids) | {h for hs in hits for h in hs}
                                       if "rules" in change.mask else set())
    if off:
        hits = [tuple(h for h in hs if h not in off) for hs in hits]
    if change.rules is not None or off:
        for rid in [n[5:] for n in names if n.startswith("rule_")]:
            x[:, col[f"rule_{rid}"]] = [float(rid in hs) for hs in hits]
    schema = stack.builder.schema
    for family in ("graph", "gnn"):
        if family in change.mask:
            cols = [j for j in schema.indices((family,)) if names[j] != "tenant_history_days"]
            x[:, cols] = np.nan
    return x, hits


def _combiner(stack: DecisionStack, change: Change) -> Combiner:
    c = change.combiner or stack.combiner
    if not change.thresholds and change.suspicious_threshold is None:
        return c
    c = copy.copy(c)  # a shallow copy: the loaded model is shared and stays as it is
    thresholds = dict(c.thresholds_)
    for cat, value in change.thresholds:
        if cat == "*":
            thresholds = dict.fromkeys(thresholds, value)
        elif cat not in thresholds:
            raise EvalError(f"no threshold for category {cat!r}; the model has {{{', '.join(sorted(thresholds))}}}")
        else:
            thresholds[cat] = value
    c.thresholds_ = thresholds
    if change.suspicious_threshold is not None:
        c.suspicious_threshold_ = change.suspicious_threshold
    return c


def _decide(stack: DecisionStack, change: Change, rows: ReplayRows, x: np.ndarray,
            hits: list[tuple[str, ...]]) -> list[Decision]:
    combiner = _combiner(stack, change)
    names = stack.feature_names
    if tuple(combiner.feature_names_) != names:
        col = {n: j for j, n in enumerate(names)}
        missing = [n for n in combiner.feature_names_ if n not in col]
        if missing:
            logger.warning("the other model reads %d features the log lacks (unknown to it): %s", len(missing),
                           ", ".join(missing[:5]))
        x = np.column_stack([x[:, col[n]] if n in col else np.full(len(x), np.nan) for n in combiner.feature_names_])
    decider = stack.decider(combiner, change.rules)
    out: list[Decision] = []
    batch = 4096
    frows = feature_rows(rows, x, hits)
    for s in range(0, len(frows), batch):
        out += decider.decide(rows.messages[s : s + batch], frows[s : s + batch])
    return out


def replay_change(stack: DecisionStack, rows: ReplayRows, change: Change,
                  before: list[Decision] | None = None) -> ReplayResult:
    """Decide ``rows`` unchanged and with ``change`` (``before`` reuses an earlier no-change run)."""
    x, hits = _apply(stack, change, rows)  # validates the change before anything is decided
    _combiner(stack, change)
    if before is None:
        before = _decide(stack, Change(), rows, rows.x, rows.hits)
    after = before if change == Change() else _decide(stack, change, rows, x, hits)
    return ReplayResult(rows, before, after, change)


def _same(d: Decision, row: dict[str, Any]) -> bool:
    score = float(row["score"])
    return (d.verdict.value == row["verdict"] and d.category.value == row["category"]
            and (d.score == score or (math.isnan(d.score) and math.isnan(score)))
            and list(d.rule_hits) == list(row["rule_hits"])
            and [(f, c) for f, c in d.attribution] == [(a["feature"], a["contribution"]) for a in row["attribution"]])


def fidelity(result: ReplayResult, decisions: pa.Table) -> dict[str, Any]:
    """How many no-change decisions equal the logged ones (verdict, category, score, rule hits
    and attribution, exactly)."""
    logged = decisions.take(pa.array(result.rows.index)).select(
        ["verdict", "category", "score", "rule_hits", "attribution"]).to_pylist()
    same = [_same(d, r) for d, r in zip(result.before, logged, strict=True)]
    differ = [d.message_id for d, ok in zip(result.before, same, strict=True) if not ok]
    return {"replayed": len(same), "reproduced": len(same) - len(differ), "differ": differ[:20],
            "source": result.rows.source}


def decision_diff(result: ReplayResult, truth: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per message whose verdict or category changed (with its true category if known)."""
    rows = []
    for b, a, m in zip(result.before, result.after, result.rows.messages, strict=True):
        if (b.verdict, b.category) != (a.verdict, a.category):
            rows.append({"message_id": b.message_id, "tenant": b.tenant, "received_at": m.received_at,
                         "verdict_before": b.verdict.value, "verdict_after": a.verdict.value,
                         "category_before": b.category.value, "category_after": a.category.value,
                         "score_before": b.score, "score_after": a.score,
                         "truth": (truth or {}).get(b.message_id, "safe") if truth is not None else ""})
    columns = ["message_id", "tenant", "received_at", "verdict_before", "verdict_after", "category_before",
               "category_after", "score_before", "score_after", "truth"]
    return pd.DataFrame(rows, columns=columns)


def metric_deltas(result: ReplayResult, attack: np.ndarray) -> dict[str, Any]:
    """Precision, recall and FPR before and after, each delta with a 95% interval (recall and FPR:
    paired, on the same attacks / safe messages; precision: the flagged sets differ, Newcombe's
    interval for independent proportions, a slightly conservative approximation)."""
    attack = np.asarray(attack, dtype=bool)
    fb, fa = _flagged(result.before), _flagged(result.after)

    def prec(f: np.ndarray) -> tuple[int, int]:
        return int((f & attack).sum()), int(f.sum())

    (tp_b, n_b), (tp_a, n_a) = prec(fb), prec(fa)
    d_p = difference_interval(tp_b, n_b, tp_a, n_a)
    d_r = paired_difference(fb[attack], fa[attack])
    d_f = paired_difference(fb[~attack], fa[~attack])
    return {
        "messages": len(attack), "attacks": int(attack.sum()),
        "flagged_before": int(fb.sum()), "flagged_after": int(fa.sum()),
        "changed": int(sum((b.verdict, b.category) != (a.verdict, a.category)
                           for b, a in zip(result.before, result.after, strict=True))),
        "precision": {"before": tp_b / n_b if n_b else math.nan, "after": tp_a / n_a if n_a else math.nan,
                      "delta": d_p[0], "ci": d_p[1:]},
        "recall": {"before": float(fb[attack].mean()) if attack.any() else math.nan,
                   "after": float(fa[attack].mean()) if attack.any() else math.nan, "delta": d_r[0], "ci": d_r[1:]},
        "fpr": {"before": float(fb[~attack].mean()) if (~attack).any() else math.nan,
                "after": float(fa[~attack].mean()) if (~attack).any() else math.nan, "delta": d_f[0], "ci": d_f[1:]},
    }


def sole_catches(stack: DecisionStack, rows: ReplayRows, before: list[Decision], attack: np.ndarray) -> dict[str, int]:
    """Per rule: caught attacks that are no longer flagged when that rule alone is disabled."""
    caught = _flagged(before) & np.asarray(attack, dtype=bool)
    out: dict[str, int] = {}
    for rid in stack.ruleset.ids:
        idx = np.flatnonzero(caught & np.array([rid in h for h in rows.hits], dtype=bool))
        if not len(idx):
            out[rid] = 0
            continue
        sub = rows.take(idx)
        r = replay_change(stack, sub, Change(disable_rules=(rid,)), before=[before[i] for i in idx])
        out[rid] = int((~_flagged(r.after)).sum())
    return out
