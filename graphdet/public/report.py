"""Per-label detection tables of a decided test stream, and their Markdown.

A *label* is where a test message came from: the tenant's own mail by direction
(``tenant-inbound``, ``tenant-internal``, ``tenant-outbound``), an injected corpus
(``phishing-pot``, ``spamassassin-hard-ham``, ``list-ham``, ...) or a targeted case
(``case-impersonation``, ...). "Flagged" is a MALICIOUS verdict (what a mail flow blocks);
SUSPICIOUS-or-worse is reported beside it.

For an attack label: recall and FNR with Wilson 95% intervals, and the label's precision
against *all* the safe mail of the stream, ``TP_label / (TP_label + FP_all)`` (the precision
an analyst would see if this were the only attack arriving). For a safe label: FP count and
FP rate with its interval. Beside the verdicts, the threshold-free ROC AUC of the score: an
attack label against all safe mail, a safe label against all attacks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graphdet.combiner.metrics import detection_table, wilson
from graphdet.gnn.train import auc
from graphdet.schema import Decision, Verdict

__all__ = ["Row", "comparison_table", "label_table", "markdown_tables", "real_mail_fp", "rows_of", "write_report"]


@dataclass(frozen=True, slots=True)
class Row:
    """One decided test message: where it came from, the truth, and the decision."""

    message_id: str
    label: str
    category: str  # true category ('safe' or an attack)
    verdict: str
    predicted: str
    score: float
    reasons: tuple[str, ...] = ()


def rows_of(decisions: Sequence[Decision], labels: dict[str, tuple[str, str]]) -> list[Row]:
    """Join decisions with ``message_id -> (label, category)``; a message without one is an error."""
    out = []
    for d in decisions:
        if d.message_id not in labels:
            raise KeyError(f"decision for {d.message_id} has no label")
        label, category = labels[d.message_id]
        out.append(Row(d.message_id, label, category, d.verdict.value, d.category.value,
                       float(d.score), tuple(d.reasons[:3])))
    return out


def _ci(k: int, n: int) -> list[float]:
    lo, hi = wilson(k, n)
    return [round(lo, 4), round(hi, 4)]


def label_table(rows: Sequence[Row]) -> dict[str, Any]:
    """Overall table (attack vs safe) plus one entry per label and per predicted category."""
    category = np.array([r.category for r in rows])
    flagged = np.array([r.verdict == Verdict.MALICIOUS.value for r in rows])
    suspicious = np.array([r.verdict != Verdict.SAFE.value for r in rows])
    overall = detection_table(category, flagged)
    overall["suspicious_or_worse"] = detection_table(category, suspicious)
    fp_all = int((flagged & (category == "safe")).sum())
    score = np.array([r.score for r in rows], dtype=np.float64)
    scored = ~np.isnan(score)  # error decisions carry no score
    is_attack = category != "safe"
    overall["auc"] = auc(score[scored & is_attack], score[scored & ~is_attack])
    labels: dict[str, Any] = {}
    for label in sorted({r.label for r in rows}):
        mine = np.array([r.label == label for r in rows])
        n = int(mine.sum())
        k = int((flagged & mine).sum())
        ks = int((suspicious & mine).sum())
        attack = bool((category[mine] != "safe").all())
        entry: dict[str, Any] = {"class": "attack" if attack else "safe", "n": n, "flagged": k,
                                 "suspicious_or_worse": ks}
        if attack:
            entry["auc"] = auc(score[scored & mine], score[scored & ~is_attack])
        else:
            entry["auc"] = auc(score[scored & is_attack], score[scored & mine])
        if attack:
            entry.update(recall=k / n, recall_ci=_ci(k, n), fnr=1 - k / n, fn=n - k,
                         precision_vs_all_safe=k / (k + fp_all) if k + fp_all else math.nan,
                         precision_ci=_ci(k, k + fp_all), recall_suspicious=ks / n)
        else:
            entry.update(fp=k, fpr=k / n, fpr_ci=_ci(k, n), suspicious_fp=ks)
        labels[label] = entry
    by_pred: dict[str, Any] = {}
    for c in sorted({r.predicted for r, f in zip(rows, flagged, strict=True) if f}):
        mine = flagged & np.array([r.predicted == c for r in rows])
        n = int(mine.sum())
        tp = int((mine & (category != "safe")).sum())
        exact = int((mine & (category == c)).sum())
        by_pred[c] = {"flagged": n, "attacks": tp, "precision": tp / n, "precision_ci": _ci(tp, n),
                      "exact_category": exact}
    return {"overall": overall, "labels": labels, "by_predicted_category": by_pred}


def _pct(x: float | None) -> str:
    return "—" if x is None or x != x else f"{100 * x:.1f}%"


def _num(x: float | None) -> str:
    return "—" if x is None or x != x else f"{x:.3f}"


def _interval(ci: Sequence[float]) -> str:
    return f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def markdown_tables(tables: dict[str, dict[str, Any]], title: str) -> list[str]:
    """One Markdown table per model (``tables``: model name -> :func:`label_table` result)."""
    lines = [f"### {title}", ""]
    for model, t in tables.items():
        o = t["overall"]
        lines += [
            f"**Model: {model}** — {o['messages']} messages, {o['attacks']} attacks, {o['safe']} safe. "
            f"Flagged (MALICIOUS): precision {_pct(o['precision'])} {_interval(o['precision_ci'])}, "
            f"recall {_pct(o['recall'])} {_interval(o['recall_ci'])}, FNR {_pct(o['fnr'])}, FP {o['fp']} "
            f"(FPR {_pct(o['fpr'])}); precision at 1 attack in 1,000: {_pct(o['precision_at_1_in_1000'])}. "
            f"Suspicious or worse: precision {_pct(o['suspicious_or_worse']['precision'])}, "
            f"recall {_pct(o['suspicious_or_worse']['recall'])}, FP {o['suspicious_or_worse']['fp']}. "
            f"Score ROC AUC, attacks vs safe: {_num(o['auc'])}.",
            "",
            "| label | class | n | flagged | recall or FPR [95% CI] | FNR | precision vs all safe [95% CI] "
            "| suspicious+ | AUC |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for label, e in t["labels"].items():
            if e["class"] == "attack":
                lines.append(
                    f"| {label} | attack | {e['n']} | {e['flagged']} | {_pct(e['recall'])} {_interval(e['recall_ci'])} "
                    f"| {_pct(e['fnr'])} | {_pct(e['precision_vs_all_safe'])} {_interval(e['precision_ci'])} "
                    f"| {e['suspicious_or_worse']} | {_num(e['auc'])} |")
            else:
                lines.append(
                    f"| {label} | safe | {e['n']} | **FP {e['fp']}** | {_pct(e['fpr'])} {_interval(e['fpr_ci'])} "
                    f"| | | {e['suspicious_or_worse']} | {_num(e['auc'])} |")
        lines.append("")
    return lines


def comparison_table(tables: dict[str, dict[str, Any]]) -> list[str]:
    """Recall (attack labels) or FP (safe labels) of each model side by side."""
    models = list(tables)
    labels = sorted({lb for t in tables.values() for lb in t["labels"]},
                    key=lambda lb: (tables[models[0]]["labels"].get(lb, {}).get("class", ""), lb))
    lines = ["| label | n | " + " | ".join(models) + " |", "|---|---|" + "---|" * len(models)]
    for lb in labels:
        cells = []
        n = 0
        for m in models:
            e = tables[m]["labels"].get(lb)
            if e is None:
                cells.append("—")
                continue
            n = e["n"]
            cells.append((f"recall {_pct(e['recall'])}" if e["class"] == "attack" else f"FP {e['fp']}")
                         + f", AUC {_num(e['auc'])}")
        lines.append(f"| {lb} | {n} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def real_mail_fp(table: dict[str, Any]) -> tuple[int, int]:
    """(FP, messages) over the tenant's own mail (every ``tenant-*`` label)."""
    fp = n = 0
    for label, e in table["labels"].items():
        if label.startswith("tenant-"):
            fp += e["fp"]
            n += e["n"]
    return fp, n


def write_report(path: Path, metrics: dict[str, Any]) -> None:
    """``report.md`` of an evaluation run (what :func:`~graphdet.public.evaluate.evaluate_public` returns)."""
    split = metrics["split"]
    lines = [
        f"# Public-corpus evaluation: tenant {metrics['tenant']}", "",
        f"History {split['start'][:10]} .. {split['train_start'][:10]}, training window .. "
        f"{split['test_start'][:10]}, test window .. {split['end'][:10]} (graph lookback "
        f"{metrics['lookback_days']} days). Real tenant messages in the test window: "
        f"{metrics['real_test_messages']}.", "",
        "## Sources", "",
        "| source | era | category | messages | train part | test part (injected) | left out |",
        "|---|---|---|---|---|---|---|",
    ]
    for source, f in metrics["sources"].items():
        if "skipped" in f:
            lines.append(f"| {source} | | | skipped: {f['skipped']} | | | |")
            continue
        injected = metrics["injected"].get(source, {}).get("test", "")
        left = ", ".join(f"{k}: {v}" for k, v in f.get("left_out", {}).items())
        lines.append(f"| {source} | {f.get('era', '')} | {f['category']} | {f['messages']} | {f['train']} "
                     f"| {f['test']} ({injected}) | {left} |")
    lines += ["", f"Targeted cases: {metrics['cases']}", ""]
    tables = metrics["tables"]
    lines += markdown_tables(tables, "Per label, test window")
    lines += ["### Synthetic-only vs with real data", "", *comparison_table(tables)]
    for model, t in tables.items():
        fp, n = real_mail_fp(t)
        lines.append(f"- {model}: **{fp} FP on {n} real tenant messages** of the test window")
    lines.append("")
    enron = metrics.get("enron") or {}
    if "tables" in enron:
        lines += [f"## Enron (test window from {enron['test_start'][:10]}; {enron['executives']} executives by "
                  f"title, {enron['cases']} impersonation cases)", ""]
        lines += markdown_tables(enron["tables"], "Executive impersonation on the real Enron graph")
        g = enron["gnn"]
        lines += ["### GNN time-split link prediction (edges first seen in the test window)", "",
                  "| | AUC random negatives | AUC hard negatives |", "|---|---|---|",
                  f"| GNN | {g.get('val_auc')} | {g.get('val_auc_hard')} |"]
        for h in ("common_neighbors", "adamic_adar", "preferential_attachment"):
            if f"baseline_{h}_auc" in g:
                name = h.replace("_", " ")
                lines.append(f"| {name} | {g[f'baseline_{h}_auc']} | {g.get(f'baseline_{h}_auc_hard')} |")
        lines.append("")
    elif enron:
        lines += [f"Enron: {enron.get('skipped')}", ""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
