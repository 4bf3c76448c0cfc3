"""The evaluation report: Markdown + PNG (PR curves, health, graph views) and eval.json."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from graphdet.combiner.report import pr_curve
from graphdet.eval.data import load_messages
from graphdet.eval.graphview import ego_view, plot_ego_view
from graphdet.eval.health import plot_health
from graphdet.eval.run import Evaluation
from graphdet.eval.stack import DecisionStack
from graphdet.graph.snapshot import load_snapshot

__all__ = ["headline", "write_report"]


def _pct(x: Any) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def _ci(ci: Any) -> str:
    return f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def _pts(d: dict[str, Any]) -> str:
    if d["delta"] != d["delta"]:
        return "n/a"
    return f"{100 * d['delta']:+.1f} pts [{100 * d['ci'][0]:+.1f}, {100 * d['ci'][1]:+.1f}]"


def headline(ev: Evaluation) -> dict[str, Any]:
    """The figures printed by ``graphdet report`` and quoted in BENCHMARKS.md."""
    o = ev.summary["offline"]["overall"]
    online = ev.summary["online"]
    fid = ev.summary["replay_fidelity"]
    flags = ev.summary["health_flags"]
    return {
        "window_decisions": o["messages"], "attacks": o["attacks"], "tp": o["tp"], "fp": o["fp"], "fn": o["fn"],
        "precision": o["precision"], "precision_ci": o["precision_ci"], "recall": o["recall"],
        "recall_ci": o["recall_ci"], "fpr": o["fpr"],
        "online_precision": online["mature"]["precision"] if online else None,
        "online_fnr": online["mature"]["fnr"] if online else None,
        "gaps": sum(1 for g in ev.gaps if g.side != "other"),
        "suspected_bad_detector_days": sum(1 for f in flags if f["verdict"] == "suspected bad detector"),
        "replay_reproduced": fid["reproduced"], "replay_total": fid["replayed"],
    }


def _plot_pr(ev: Evaluation, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = ev.es.frame
    truth = f["truth"].to_numpy()
    score = np.nan_to_num(f["score"].to_numpy(dtype=float), nan=0.0)
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    r, p = pr_curve(truth, score)
    ax.plot(r, p, lw=2.2, color="black", label="all attacks")
    for c in sorted(set(truth.tolist()) - {"safe"}):
        keep = (truth == c) | (truth == "safe")
        if (truth == c).sum() >= 5:
            r, p = pr_curve(truth[keep], score[keep])
            ax.plot(r, p, lw=1, label=f"{c} vs safe")
    o = ev.summary["offline"]["overall"]
    if o["precision"] == o["precision"] and o["recall"] == o["recall"]:
        ax.plot([o["recall"]], [o["precision"]], "o", color="red", ms=7, label="operating point (MALICIOUS)")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_ylim(0.5, 1.01)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title("evaluation window: precision vs recall (calibrated score)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _graph_views(ev: Evaluation, stack: DecisionStack, log_dir: Path | None, folder: Path,
                 top: int) -> list[tuple[str, str, str]]:
    """(kind, message id, png name) for the most confident false positives and negatives."""
    f = ev.es.frame
    attack, flagged = ev.es.attack, ev.es.flagged
    score = f["score"].to_numpy(dtype=float)
    fps = np.flatnonzero(~attack & flagged)
    fns = np.flatnonzero(attack & ~flagged)
    picks = [("false positive", i) for i in fps[np.argsort(-score[fps], kind="mergesort")][:top]]
    picks += [("false negative", i) for i in fns[np.argsort(score[fns], kind="mergesort")][:top]]
    if log_dir is None or not picks:
        return []
    keys = {(str(f.at[i, "message_id"]), str(f.at[i, "tenant"])) for _, i in picks}
    messages = load_messages(log_dir, keys)
    snapshot = load_snapshot(stack.root / "snapshot")
    out = []
    for n, (kind, i) in enumerate(picks, start=1):
        key = (str(f.at[i, "message_id"]), str(f.at[i, "tenant"]))
        m = messages.get(key)
        if m is None or m.tenant not in snapshot.tenants:
            continue
        view = ego_view(snapshot, m.tenant, m.from_.addr, [r.addr for r in m.recipients][:3])
        name = f"graph-{'fp' if kind == 'false positive' else 'fn'}-{n}.png"
        title = (f"{kind}: {f.at[i, 'truth']} message decided {f.at[i, 'verdict']} "
                 f"({f.at[i, 'category']}, score {score[i]:.3f})\n{m.subject[:70]!r}")
        plot_ego_view(view, folder / name, title=title)
        out.append((kind, key[0], name))
    return out


def _metric_lines(ev: Evaluation) -> list[str]:
    off = ev.summary["offline"]
    o = off["overall"]
    lines = [
        "## Offline metrics (labelled data)", "",
        f"{o['messages']} decisions, {o['attacks']} attacks. **Precision {_pct(o['precision'])} "
        f"{_ci(o['precision_ci'])}, recall {_pct(o['recall'])} {_ci(o['recall_ci'])}**, FNR {_pct(o['fnr'])}, "
        f"FPR {_pct(o['fpr'])} {_ci(o['fpr_ci'])} ({o['tp']} TP, {o['fp']} FP, {o['fn']} FN, {o['tn']} TN; "
        f"{o['suspicious']} SUSPICIOUS, counted as not flagged). 95% Wilson intervals.", "",
        "| category | attacks | caught | recall | FNR | flagged as | precision | exact category | FPR |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c, r in off["per_category"].items():
        lines.append(f"| {c} | {r['attacks']} | {r['caught']} | {_pct(r['recall'])} {_ci(r['recall_ci'])} | "
                     f"{_pct(r['fnr'])} | {r['flagged']} | {_pct(r['precision'])} {_ci(r['precision_ci'])} | "
                     f"{_pct(r['exact_category'])} | {_pct(r['fpr'])} |")
    for title, key in (("Per tenant", "per_tenant"), ("Per day", "per_day")):
        lines += ["", f"### {title}", "", "| | decisions | attacks | precision | recall | FNR | FPR |",
                  "|---|---|---|---|---|---|---|"]
        for k, r in off[key].items():
            lines.append(f"| {k} | {r['messages']} | {r['attacks']} | {_pct(r['precision'])} {_ci(r['precision_ci'])} "
                         f"| {_pct(r['recall'])} {_ci(r['recall_ci'])} | {_pct(r['fnr'])} | {_pct(r['fpr'])} |")
    f = ev.es.frame
    score = f["score"].to_numpy(dtype=float)
    attack = ev.es.attack
    if attack.any() and (~attack).any():
        top_safe = float(np.nanmax(score[~attack]))
        above = int((score[attack] > top_safe).sum())
        missed = attack & ~ev.es.flagged
        missed_above = int((score[missed] > top_safe).sum())
        lines += ["", f"Ranking: {above} of {int(attack.sum())} attacks score above every safe message of the window "
                  f"(the highest safe score is {top_safe:.3g}); {missed_above} of the {int(missed.sum())} missed "
                  "attacks do, so they are threshold misses, not ranking misses."]
    return [*lines, "", "![precision-recall](pr_curve.png)", ""]


def _detector_lines(ev: Evaluation) -> list[str]:
    lines = ["## Detectors on their own", "",
             "Precision when the detector fires, recall over all attacks, *unique*: attacks on which it is the "
             "only detector of its family firing, *sole catches* (rules): caught attacks no longer flagged when "
             "the rule alone is disabled (counterfactual replay).", "",
             "| rule | fires | precision when firing | recall | unique | sole catches |", "|---|---|---|---|---|---|"]
    for d in sorted((d for d in ev.detectors if d["family"] == "rule"), key=lambda d: -d["fires"]):
        lines.append(f"| {d['detector']} | {d['fires']} | {_pct(d['precision'])} {_ci(d['precision_ci'])} | "
                     f"{_pct(d['recall'])} | {d['unique']} | {d.get('sole_catches', '')} |")
    lines += ["", "| signal (fired = non-zero) | fires | precision when firing | recall | unique |",
              "|---|---|---|---|---|"]
    sig = sorted((d for d in ev.detectors if d["family"] == "signal" and d["fires"]), key=lambda d: -d["attack_fires"])
    for d in sig[:20]:
        lines.append(f"| {d['detector']} | {d['fires']} | {_pct(d['precision'])} {_ci(d['precision_ci'])} | "
                     f"{_pct(d['recall'])} | {d['unique']} |")
    return [*lines, ""]


def _online_lines(ev: Evaluation, feedback_source: str) -> list[str]:
    on = ev.summary["online"]
    if on is None:
        return ["## Online metrics", "", "No feedback table given (`--feedback FILE`).", ""]
    lines = ["## Online metrics (chronicle + feedback)", "",
             f"Feedback: {feedback_source}. A label counts when it arrived within {on['maturity_days']:g} days of "
             f"the message and by {on['as_of'][:16]} (as of); an analyst's verdict wins over a user report. "
             f"{on['late_labels']} labels arrived too late to count, {on['not_yet_arrived']} had not arrived yet. "
             "Days whose window is still open are provisional.", "",
             "| | decisions | flagged | labelled flagged | online precision | labelled attacks | missed (reported) "
             "| online FNR |", "|---|---|---|---|---|---|---|---|"]
    for name, s in (("mature days", on["mature"]), ("all days", on["overall"])):
        lines.append(f"| {name} | {s['decisions']} | {s['flagged']} | {s['flagged_labelled']} | {_pct(s['precision'])} "
                     f"{_ci(s['precision_ci'])} | {s['labelled_attacks']} | {s['missed_reported']} | "
                     f"{_pct(s['fnr'])} {_ci(s['fnr_ci'])} |")
    lines += ["", "Users report only part of what they miss, so the online FNR is biased low against the offline "
              "FNR above.", "", "| day | flagged | online precision | labelled attacks | online FNR | |",
              "|---|---|---|---|---|---|"]
    for d, s in on["per_day"].items():
        lines.append(f"| {d} | {s['flagged']} | {_pct(s['precision'])} | {s['labelled_attacks']} | {_pct(s['fnr'])} | "
                     f"{'provisional' if s['provisional'] else ''} |")
    return [*lines, ""]


def _ablation_lines(ev: Evaluation, train_report: dict[str, Any] | None) -> list[str]:
    lines = ["## Ablation", "",
             "**Decision time** (counterfactual replay of the window with a feature family unknown to the shipped "
             "model): graph features masked as for a cold-start tenant (the model trained on such rows), GNN "
             "features and rule hits masked although the model never saw them missing, so this measures how much "
             "the shipped model leans on each family, not what a model trained without it would reach.", "",
             "| change | flagged | precision | Δ precision | recall | Δ recall (paired) | Δ FPR (paired) |",
             "|---|---|---|---|---|---|---|"]
    for name, d in ev.summary["ablation_decision_time"].items():
        lines.append(f"| {name} | {d['flagged_before']} → {d['flagged_after']} | {_pct(d['precision']['after'])} | "
                     f"{_pts(d['precision'])} | {_pct(d['recall']['after'])} | {_pts(d['recall'])} | "
                     f"{_pts(d['fpr'])} |")
    ab = (train_report or {}).get("ablation")
    if ab:
        lines += ["", "**Retrained** (from `graphdet train`, its test split): recall at "
                  f"{100 * ab['precision_target']:.1f}% precision of combiners trained on each feature set.", "",
                  "| features | n | test precision | test recall | held-out precision | held-out recall |",
                  "|---|---|---|---|---|---|"]
        for name in ("message_and_rules", "plus_graph", "plus_gnn"):
            a = ab.get(name)
            if a:
                h = a.get("holdout") or {}
                lines.append(f"| {name} | {a['features']} | {_pct(a['test']['precision'])} | "
                             f"{_pct(a['test']['recall'])} | {_pct(h.get('precision'))} | {_pct(h.get('recall'))} |")
    return [*lines, ""]


def _gap_lines(ev: Evaluation) -> list[str]:
    lines = ["## Capability gaps (FP/FN analysis)", "",
             "Errors grouped by their dominant attribution relative to what they were not (see "
             "`graphdet.eval.gaps`); *separating*: features that best tell the gap from what it is confused "
             "with (AUC of the feature alone, gap median vs comparison median).", ""]
    if not ev.gaps:
        return [*lines, "No false positives or false negatives in the window.", ""]
    lines += ["| gap | errors | share | why | rules firing | separating | examples |", "|---|---|---|---|---|---|---|"]
    for g in ev.gaps:
        sep = "; ".join(f"{s['feature']} (AUC {s['auc']:.2f}: {_num(s['gap_median'])} vs {_num(s['contrast_median'])})"
                        for s in g.separating)
        hits = ", ".join(f"{h} ({n})" for h, n in g.rule_hits)
        lines.append(f"| {g.name} | {g.count} | {_pct(g.share)} | {g.explanation} | {hits} | {sep} | "
                     f"{', '.join(f'`{e}`' for e in g.examples)} |")
    return [*lines, ""]


def _num(x: Any) -> str:
    return "unknown" if x is None else f"{x:.3g}"


def _health_lines(ev: Evaluation) -> list[str]:
    h = ev.health
    flagged = h[h["verdict"] != ""].sort_values(["verdict", "day"], ascending=[False, True])
    bad = flagged[flagged["verdict"] == "suspected bad detector"]
    lines = ["## Detector health", "",
             f"Daily fire rate of every rule and signal per tenant against its trailing baseline "
             f"({len(h)} tenant-detector-days). {len(bad)} suspected bad detector-days, "
             f"{int((flagged['verdict'] == 'attack burst').sum())} attack bursts, "
             f"{int((flagged['verdict'] == 'attack lull').sum())} attack lulls.", "",
             "![detector health](health.png)", ""]
    if len(flagged):
        lines += ["| tenant | day | detector | fires / messages | rate | baseline | status | verdict |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in flagged.head(40).itertuples():
            lines.append(f"| {r.tenant} | {r.day} | {r.detector} | {r.fires} / {r.messages} | {_pct(r.rate)} | "
                         f"{_pct(r.baseline_rate)} | {r.status} | {r.verdict} |")
    return [*lines, ""]


def write_report(folder: str | Path, ev: Evaluation, *, stack: DecisionStack, log_dir: Path | None,
                 train_report: dict[str, Any] | None = None, feedback_source: str = "", top: int = 3) -> Path:
    """Write ``report.md``, ``eval.json`` and the figures into ``folder``; returns the report path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("graph-f[pn]-*.png"):  # an earlier run's views
        stale.unlink()
    _plot_pr(ev, folder / "pr_curve.png")
    plot_health(ev.health, folder / "health.png")
    views = _graph_views(ev, stack, log_dir, folder, top)
    s = ev.summary
    fid = s["replay_fidelity"]
    window = s["window"]
    lines = [
        "# graphdet evaluation report", "",
        f"Artifacts `{stack.root}` (versions {s['chronicle']['versions']}). Chronicle: {s['chronicle']['decisions']} "
        f"decisions, {s['chronicle']['first'][:16]} to {s['chronicle']['last'][:16]}. Evaluation window: "
        f"{window['decisions']} decisions from {(window['since'] or 'the start')[:16]}"
        + (" (the training run's later time split: never trained or calibrated on)." if window["since"] else "."),
        "",
        f"Replay fidelity: a no-change replay of {fid['source']} reproduced **{fid['reproduced']} of "
        f"{fid['replayed']}** logged decisions exactly (verdict, category, score, rule hits, attribution).", "",
        *_metric_lines(ev), *_detector_lines(ev), *_online_lines(ev, feedback_source),
        *_ablation_lines(ev, train_report), *_gap_lines(ev), *_health_lines(ev),
        "## Graph views of the most confident errors", "",
        "Sender (red) and recipients (blue) with their busiest correspondents in the snapshot graph; the edge under "
        "decision dashed red; circles internal, squares external.", "",
    ]
    lines += [f"### {kind}: `{mid}`\n\n![{kind}]({name})\n" for kind, mid, name in views] or ["(no errors to show)", ""]
    (folder / "report.md").write_text("\n".join(lines), encoding="utf-8")
    (folder / "eval.json").write_text(json.dumps({**s, "headline": headline(ev), "detectors": ev.detectors},
                                                 indent=2, default=str) + "\n")
    return folder / "report.md"
