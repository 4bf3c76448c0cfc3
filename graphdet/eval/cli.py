"""``graphdet report``, ``graphdet replay`` and ``graphdet health`` (registered by graphdet.cli).

The one place evaluation reaches serving: the chronicle is read (and, for a report without
one, written by a DecisionEngine) here, and the library gets plain Arrow tables. Heavy
imports happen inside the commands. Exit codes: 0 success, 1 a graphdet error (the message
says what and where), 2 bad usage; ``health --fail-on-alert``: 4 when a detector is suspect.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from graphdet.exceptions import GraphdetError

if TYPE_CHECKING:
    import pyarrow as pa

    from graphdet.schema import Message

__all__ = ["health", "register", "replay", "report", "serve_stream"]

console = Console(stderr=True)
out = Console(soft_wrap=True)


def _fail(e: Exception) -> NoReturn:
    console.print(f"[bold red]error:[/] {escape(str(e))}")
    raise typer.Exit(1)


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar driven by ``(step, done, total)`` callbacks."""
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("", total=None)

        def update(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total or None)

        yield update


def _when(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    from graphdet.graph import parse_as_of

    try:
        return parse_as_of(text)
    except GraphdetError as e:
        raise GraphdetError(f"{option}: {e}") from None


def _chronicle(folder: Path) -> pa.Table:
    from serving.chronicle import read_decisions

    table = read_decisions(folder)
    if table.num_rows == 0:
        raise GraphdetError(f"decision chronicle {folder} holds no decisions (is it the right folder? "
                            "rows still in a write-ahead log appear after the writer flushes or closes)")
    return table


def serve_stream(artifacts: Path, messages: list[Message], chronicle: Path,
                 progress: Callable[[str, int, int], None] | None = None, batch: int = 512) -> None:
    """Decide ``messages`` in order with a DecisionEngine that chronicles into ``chronicle``."""
    from serving import DecisionEngine, ServingConfig

    with DecisionEngine.load(artifacts, config=ServingConfig(chronicle=chronicle)) as engine:
        for s in range(0, len(messages), batch):
            engine.decide_batch(messages[s : s + batch])
            if progress is not None:
                progress("deciding the stream through serving", min(s + batch, len(messages)), len(messages))


def _fresh_chronicle(folder: Path) -> Path:
    if folder.exists():
        strays = [p.name for p in folder.iterdir()
                  if not p.name.startswith(("decisions-", "wal-", ".decisions-", ".wal-"))]
        if strays:
            raise GraphdetError(f"{folder} exists and holds files that are not a chronicle's ({strays[:3]}); "
                                "not replacing it")
        shutil.rmtree(folder)
    return folder


def _train_report(artifacts: Path) -> dict[str, Any] | None:
    path = artifacts / "report" / "metrics.json"
    if not path.exists():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except ValueError as e:
        raise GraphdetError(f"{path}: not valid JSON ({e})") from None
    return data


def report(
    artifacts: Annotated[Path, typer.Option("--artifacts", help="What `graphdet train` wrote.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Report folder (report.md, eval.json, PNGs).")],
    log: Annotated[
        Path | None, typer.Option("--log", help="The labelled message log (default: the one training used)."),
    ] = None,
    chronicle: Annotated[
        Path | None, typer.Option("--chronicle", help=(
            "Evaluate this decision chronicle (default: decide the log's messages after the training cut "
            "through serving into OUT/chronicle).")),
    ] = None,
    feedback: Annotated[
        Path | None, typer.Option("--feedback", help="Feedback table (.parquet/.csv/.jsonl) for online metrics."),
    ] = None,
    simulate_feedback: Annotated[
        bool, typer.Option("--simulate-feedback", help="Synthesise feedback from the labels (demo)."),
    ] = False,
    since: Annotated[
        str | None, typer.Option(help="Evaluation window start (default: the training run's test split)."),
    ] = None,
    rerun: Annotated[
        bool | None, typer.Option("--rerun/--logged-vectors", help=(
            "Re-compute exact feature vectors from the log (default: when the chronicle is one stream).")),
    ] = None,
    top: Annotated[int, typer.Option(help="Graph views of this many false positives and negatives each.")] = 3,
) -> None:
    """Evaluate a decision chronicle and write the report (Markdown + PNG)."""
    from graphdet.eval import (
        evaluate_chronicle,
        evaluation_set,
        headline,
        load_labels,
        load_stack,
        read_feedback,
        stream_after,
        write_report,
    )
    from graphdet.eval import evaluation_start as test_start
    from graphdet.eval.online import simulate_feedback as simulate

    try:
        fb, source = (read_feedback(feedback), f"`{feedback}`") if feedback is not None else (None, "")
        stack = load_stack(artifacts)
        train = _train_report(artifacts)
        log_dir = log or (Path(train["log"]) if train and train.get("log") else None)
        if log_dir is None:
            raise GraphdetError(f"no message log: pass --log (the training report in {artifacts} names none)")
        labels = load_labels(log_dir)
        if labels.num_rows == 0:
            raise GraphdetError(f"the message log {log_dir} has no labels.parquet: the report needs labelled data")
        window = _when(since, "--since") or (test_start(log_dir, train) if train else None)
        with _progress() as progress:
            if chronicle is None:
                if train is None:
                    raise GraphdetError(f"{artifacts} has no report/metrics.json (no training cut): pass --chronicle")
                chronicle = _fresh_chronicle(out_dir / "chronicle")
                cut = datetime.fromisoformat(str(train["cut"]))
                serve_stream(artifacts, stream_after(log_dir, cut), chronicle, progress)
            decisions = _chronicle(chronicle)
            if fb is None and simulate_feedback:
                fb = simulate(evaluation_set(decisions, labels), seed=0)
                source = "simulated from the synthetic labels (`--simulate-feedback`)"
            ev = evaluate_chronicle(decisions, stack, labels, log_dir=log_dir, since=window, feedback=fb,
                                    rerun=rerun, progress=progress)
            progress("writing the report", 0, 1)
            path = write_report(out_dir, ev, stack=stack, log_dir=log_dir, train_report=train,
                                feedback_source=source, top=top)
    except GraphdetError as e:
        _fail(e)
    h = headline(ev)
    out.print(f"window: {h['window_decisions']} decisions, {h['attacks']} attacks: precision {h['precision']:.2%} "
              f"[{h['precision_ci'][0]:.1%}, {h['precision_ci'][1]:.1%}], recall {h['recall']:.2%} "
              f"[{h['recall_ci'][0]:.1%}, {h['recall_ci'][1]:.1%}], FPR {h['fpr']:.3%} "
              f"({h['tp']} TP, {h['fp']} FP, {h['fn']} FN)")
    if h["online_precision"] is not None:
        out.print(f"online (mature days): precision {h['online_precision']:.2%}, FNR {h['online_fnr']:.2%}")
    out.print(f"capability gaps: {h['gaps']}; suspected bad detector-days: {h['suspected_bad_detector_days']}; "
              f"replay reproduced {h['replay_reproduced']} of {h['replay_total']} decisions exactly")
    out.print(f"report: {path}")


def _parse_thresholds(items: list[str]) -> tuple[tuple[str, float], ...]:
    parsed = []
    for item in items:
        cat, sep, value = item.partition("=")
        try:
            if not sep or not cat:
                raise ValueError
            parsed.append((cat.strip(), float(value)))
        except ValueError:
            raise typer.BadParameter(f"{item!r}: expected CATEGORY=VALUE (or *=VALUE)",
                                     param_hint="--threshold") from None
    return tuple(parsed)


def replay(
    chronicle: Annotated[Path, typer.Option("--chronicle", help="The decision log folder.")],
    artifacts: Annotated[
        Path, typer.Option("--artifacts", help="The artifacts that decided it (rules, model, policy)."),
    ],
    log: Annotated[
        Path | None, typer.Option("--log", help="Message log: message text and senders, labels for metric deltas."),
    ] = None,
    disable_rule: Annotated[
        list[str] | None, typer.Option("--disable-rule", help="Rule id to switch off (repeatable)."),
    ] = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="A changed rules folder to replay instead.")] = None,
    threshold: Annotated[
        list[str] | None, typer.Option("--threshold", help="CATEGORY=VALUE or *=VALUE (repeatable)."),
    ] = None,
    suspicious_threshold: Annotated[float | None, typer.Option(help="Another SUSPICIOUS threshold.")] = None,
    model: Annotated[Path | None, typer.Option("--model", help="Another combiner model folder.")] = None,
    mask: Annotated[
        list[str] | None, typer.Option("--mask", help="Feature family made unknown: graph, gnn, rules (repeatable)."),
    ] = None,
    rerun: Annotated[
        bool | None, typer.Option("--rerun/--logged-vectors", help=(
            "Re-compute exact vectors from --log (default when --log is given and the chronicle is one stream).")),
    ] = None,
    since: Annotated[str | None, typer.Option(help="Only decisions received from this date/time (UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="Only decisions received before this date/time (UTC).")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Write diff.parquet and replay.json here.")] = None,
    show: Annotated[int, typer.Option(help="Print this many changed decisions.")] = 10,
) -> None:
    """Re-decide chronicled traffic with a rule, threshold or model changed; print the diff and metric deltas."""
    import numpy as np

    from graphdet.combiner import Combiner
    from graphdet.eval import (
        Change,
        EvalError,
        decision_diff,
        fidelity,
        load_labels,
        load_messages,
        load_stack,
        logged_rows,
        metric_deltas,
        replay_change,
        rerun_rows,
    )
    from graphdet.rules import load_rules

    try:
        change = Change(disable_rules=tuple(disable_rule or ()), rules=load_rules(rules) if rules else None,
                        thresholds=_parse_thresholds(threshold or []), suspicious_threshold=suspicious_threshold,
                        combiner=Combiner.load(model) if model else None, mask=tuple(mask or ()))
        stack = load_stack(artifacts)
        decisions = _chronicle(chronicle)
        lo, hi = _when(since, "--since"), _when(until, "--until")
        if rerun and log is None:
            raise GraphdetError("--rerun needs --log (the messages to re-run)")
        rows = None
        with _progress() as progress:
            if rerun is not False and log is not None:
                try:
                    rows = rerun_rows(decisions, stack, log,
                                      progress=lambda d, t: progress("re-running features", d, t))
                except EvalError as e:
                    if rerun:
                        raise
                    console.print(f"[yellow]replaying the logged vectors: {escape(str(e))}[/]")
            if rows is None:
                keys = set(zip(decisions.column("message_id").to_pylist(), decisions.column("tenant").to_pylist(),
                               strict=True))
                rows = logged_rows(decisions, stack, load_messages(log, keys) if log else None)
            times = decisions.column("received_at").to_pylist()
            in_window = np.array([(lo is None or t >= lo) and (hi is None or t < hi) for t in times], dtype=bool)
            rows = rows.take(np.flatnonzero(in_window[rows.index]))
            progress(f"replaying {len(rows.index)} decisions: {change.describe()}", 0, 1)
            result = replay_change(stack, rows, change)
        fid = fidelity(result, decisions)
        fid["not_replayable"] = int(in_window.sum()) - len(rows.index)
        truth = None
        if log is not None:
            labels = load_labels(log)
            truth = dict(zip(labels.column("message_id").to_pylist(), labels.column("category").to_pylist(),
                             strict=True))
        diff = decision_diff(result, truth)
    except GraphdetError as e:
        _fail(e)
    out.print(f"change: {change.describe()}")
    out.print(f"no-change replay ({fid['source']}) reproduced {fid['reproduced']} of {fid['replayed']} logged "
              f"decisions exactly" + (f"; {fid['not_replayable']} decisions had no replayable vector"
                                      if fid["not_replayable"] else ""))
    table = Table(title=f"{len(diff)} decisions changed")
    for c in ("before", "after", "messages"):
        table.add_column(c)
    for (b, a), n in diff.groupby(["verdict_before", "verdict_after"]).size().items():
        table.add_row(str(b), str(a), str(n))
    out.print(table)
    deltas = None
    if truth is not None:
        attack = np.array([truth.get(m.message_id, "safe") != "safe" for m in rows.messages], dtype=bool)
        deltas = metric_deltas(result, attack)
        for name in ("precision", "recall", "fpr"):
            d = deltas[name]
            out.print(f"{name}: {d['before']:.2%} -> {d['after']:.2%}  delta {100 * d['delta']:+.2f} pts "
                      f"[{100 * d['ci'][0]:+.2f}, {100 * d['ci'][1]:+.2f}]")
    for r in diff.head(show).itertuples():
        truth_note = f"  truth {r.truth}" if r.truth else ""
        out.print(f"  {r.message_id} ({r.tenant}): {r.verdict_before}/{r.category_before} {r.score_before:.3f} -> "
                  f"{r.verdict_after}/{r.category_after} {r.score_after:.3f}{truth_note}")
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        diff.to_parquet(out_dir / "diff.parquet", index=False)
        (out_dir / "replay.json").write_text(json.dumps({"change": change.describe(), "fidelity": fid,
                                                         "changed": len(diff), "metrics": deltas},
                                                        indent=2, default=str) + "\n")
        out.print(f"diff: {out_dir / 'diff.parquet'}")


def health(
    chronicle: Annotated[Path, typer.Option("--chronicle", help="The decision log folder.")],
    artifacts: Annotated[
        Path | None, typer.Option("--artifacts", help="Artifacts (to read signals from the logged vectors)."),
    ] = None,
    log: Annotated[
        Path | None, typer.Option("--log", help="Labelled log: tells attack bursts from broken detectors."),
    ] = None,
    baseline_days: Annotated[int, typer.Option(help="Trailing days of traffic in the baseline.")] = 7,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Write health.csv and health.png here.")] = None,
    fail_on_alert: Annotated[bool, typer.Option(help="Exit 4 when a detector is a suspected bad detector.")] = False,
    show: Annotated[int, typer.Option(help="Print at most this many flagged rows (suspects first).")] = 50,
) -> None:
    """Fire rate of every rule and signal per tenant per day against a trailing baseline."""
    from graphdet.eval import (
        HealthConfig,
        detector_health,
        detector_matrix,
        evaluation_set,
        fire_rates,
        load_labels,
        load_stack,
        plot_health,
    )

    try:
        decisions = _chronicle(chronicle)
        stack = load_stack(artifacts) if artifacts else None
        labels = load_labels(log) if log else None
        es = evaluation_set(decisions, labels, feature_names=stack.feature_names if stack else (),
                            feature_version=stack.feature_version if stack else "")
        rates = fire_rates(es, detector_matrix(es, stack.ruleset.ids if stack else ()))
        h = detector_health(rates, HealthConfig(baseline_days=baseline_days),
                            labels_known=labels is not None and labels.num_rows > 0)
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            h.to_csv(out_dir / "health.csv", index=False)
            plot_health(h, out_dir / "health.png")
    except GraphdetError as e:
        _fail(e)
    flagged = h[h["verdict"] != ""].sort_values(["verdict", "day"], ascending=[False, True])
    title = f"{len(flagged)} flagged tenant-detector-days of {len(h)}" + (f" (first {show})" if len(flagged) > show
                                                                         else "")
    rows = [(r.tenant, r.day, r.detector, f"{r.fires}/{r.messages}", f"{r.rate:.1%}", f"{r.baseline_rate:.1%}",
             r.status, r.verdict) for r in flagged.head(show).itertuples()]
    if out.is_terminal:
        table = Table(title=title)
        for c in ("tenant", "day", "detector", "fires", "rate", "baseline", "status", "verdict"):
            table.add_column(c)
        for row in rows:
            colour = "red" if row[-1] == "suspected bad detector" else "yellow"
            table.add_row(*row[:-1], f"[{colour}]{row[-1]}[/]")
        out.print(table)
    else:  # a log: one plain line per row, never cut to a terminal's width
        out.print(title, markup=False)
        for row in rows:
            out.print("  " + "  ".join(row), markup=False)
    suspects = flagged[flagged["verdict"] == "suspected bad detector"]
    for r in suspects.itertuples():  # one plain line each, for logs and schedulers
        out.print(f"suspected bad detector: {r.detector} in {r.tenant} on {r.day} ({r.status}, "
                  f"{r.rate:.1%} vs baseline {r.baseline_rate:.1%})")
    if out_dir is not None:
        out.print(f"plot: {out_dir / 'health.png'}")
    if fail_on_alert and len(suspects):
        raise typer.Exit(4)


def register(app: typer.Typer) -> None:
    """Add ``report``, ``replay`` and ``health`` to the ``graphdet`` command."""
    app.command("report")(report)
    app.command("replay")(replay)
    app.command("health")(health)
