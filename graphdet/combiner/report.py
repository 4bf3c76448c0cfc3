"""The training report: metrics.json, report.md and a precision-recall curve (PNG)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["pr_curve", "write_report"]


def pr_curve(category: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) at every distinct score threshold, highest score first."""
    y = (np.asarray(category) != "safe").astype(float)
    order = np.argsort(-score, kind="mergesort")
    tp = np.cumsum(y[order])
    k = np.arange(1, len(y) + 1)
    return tp / max(y.sum(), 1), tp / k


def _pct(x: Any) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}%"


def _ci(ci: Any) -> str:
    return f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def _table(title: str, t: dict[str, Any] | None) -> list[str]:
    if not t:
        return [f"### {title}", "", "(none)", ""]
    lines = [
        f"### {title}", "",
        f"{t['messages']} messages, {t['attacks']} attacks. Precision {_pct(t['precision'])} "
        f"{_ci(t['precision_ci'])}, recall {_pct(t['recall'])} {_ci(t['recall_ci'])}, FNR {_pct(t['fnr'])}, "
        f"FPR {_pct(t['fpr'])} ({t['fp']} false positives); precision re-weighted to 1 attack in 1,000: "
        f"{_pct(t['precision_at_1_in_1000'])}.", "",
        "| category | attacks | caught | recall (95% CI) | FNR |", "|---|---|---|---|---|",
    ]
    for c, r in t["per_category"].items():
        lines.append(f"| {c} | {r['attacks']} | {r['caught']} | {_pct(r['recall'])} {_ci(r['recall_ci'])} | "
                     f"{_pct(r['fnr'])} |")
    return [*lines, ""]


def write_report(folder: Path, report: dict[str, Any], test: tuple[np.ndarray, np.ndarray],
                 holdout: tuple[np.ndarray, np.ndarray] | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for label, (cat, score) in (("time-split test", test), ("held-out families", holdout)) if holdout else (
            ("time-split test", test),):
        r, p = pr_curve(cat, score)
        ax.plot(r, p, label=label)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_ylim(0.5, 1.005)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    ax.set_title("graphdet combiner: precision vs recall")
    fig.tight_layout()
    fig.savefig(folder / "pr_curve.png", dpi=110)
    plt.close(fig)

    ab = report["ablation"]
    lines = [
        "# graphdet training report", "",
        f"Log `{report['log']}`, cut {report['cut'][:10]} (history before it builds the graph). "
        f"Splits: {report['splits']}. Held-out template families: {', '.join(report['held_out_families']) or 'none'}.",
        "",
        *_table("Later time split (test)", report["test"]),
        *_table("Held-out campaign families (never seen in training) + test safe mail", report["holdout_families"]),
        *_table("Cold start: the test split decided with no graph history", report["cold_start_test"]),
        f"## Ablation: recall at {100 * ab['precision_target']:.1f}% precision (threshold from validation)", "",
        "| features | n | test precision | test recall | bec | vendor_fraud | vendor_compromise | lateral_phishing |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ("message_and_rules", "plus_graph", "plus_gnn"):
        a = ab[name]
        per = a["test"]["per_category"]
        lines.append(
            f"| {name} | {a['features']} | {_pct(a['test']['precision'])} | {_pct(a['test']['recall'])} | "
            + " | ".join(_pct(per.get(c)) for c in ("bec", "vendor_fraud", "vendor_compromise", "lateral_phishing"))
            + " |"
        )
    lines += ["", "## Top features (share of gain)", ""]
    lines += [f"- {n}: {g:.3f}" for n, g in report["top_features"]]
    lines += ["", "![precision-recall](pr_curve.png)", "", f"Timings (s): {report['timings']}", ""]
    (folder / "report.md").write_text("\n".join(lines), encoding="utf-8")
