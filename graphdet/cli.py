"""The ``graphdet`` command line.

Library code logs and never prints; this module is where output, colour and progress bars
live. Exit codes: 0 success, 1 a graphdet error (the message says what and where),
2 bad usage.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from graphdet.exceptions import GraphdetError
from graphdet.schema import Category

app = typer.Typer(
    name="graphdet",
    help=(
        "graphdet: behavioural email-attack detection. Learns each tenant's communication "
        "graph and decides, with reasons, whether a message is an attack."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console(soft_wrap=True)


def _fail(e: Exception) -> None:
    console.print(f"[bold red]error:[/] {escape(str(e))}")  # the message itself is text, not markup
    raise typer.Exit(1)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the message log (created).")],
    seed: Annotated[int, typer.Option(help="Random seed: same seed and options, same files.")] = 0,
    tenants: Annotated[int, typer.Option(help="Number of synthetic organisations.")] = 3,
    days: Annotated[int, typer.Option(help="Days of traffic, starting on a Monday.")] = 30,
    employees: Annotated[int | None, typer.Option(help="Employees per tenant (default varies by tenant).")] = None,
    attack_share: Annotated[float, typer.Option(help="Share of inbound+internal mail that is attack.")] = 0.03,
    mbox: Annotated[Path | None, typer.Option(help="Also write raw RFC 5322 mail to this mbox (.gz ok).")] = None,
    eml_dir: Annotated[Path | None, typer.Option(help="Also write raw mail as .eml files here.")] = None,
    raw_limit: Annotated[int | None, typer.Option(help="At most this many messages in --mbox/--eml-dir.")] = None,
    raw_latest: Annotated[bool, typer.Option(help="With --raw-limit: the latest messages instead of the first.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing log in --out.")] = False,
) -> None:
    """Generate synthetic tenants: normal traffic, attack campaigns and hard negatives.

    Writes the message log (messages/*.parquet), labels.parquet, campaigns.parquet,
    kinds.parquet and tenants.yaml under --out.
    """
    from graphdet.synth import SynthConfig, write_eml_dir, write_generated, write_mbox
    from graphdet.synth import generate as run_generate

    try:
        kwargs: dict[str, Any] = {"seed": seed, "tenants": tenants, "days": days, "attack_share": attack_share}
        if employees is not None:
            kwargs["employees"] = employees
        config = SynthConfig(**kwargs)
        with console.status(f"generating {tenants} tenants x {days} days (seed {seed})"):
            log = run_generate(config)
            write_generated(log, out_dir, overwrite=overwrite)
        raw = log.messages
        if raw_latest and raw_limit is not None:
            raw = raw.slice(max(0, raw.num_rows - raw_limit))
        if mbox is not None:
            write_mbox(raw, mbox, limit=raw_limit)
        if eml_dir is not None:
            write_eml_dir(raw, eml_dir, limit=raw_limit)
    except GraphdetError as e:
        _fail(e)
    n_attack = log.labels.num_rows - sum(1 for c in log.labels.column("category").to_pylist() if c == "safe")
    out.print(
        f"generated {log.messages.num_rows} messages ({n_attack} attacks in "
        f"{log.campaigns.num_rows} campaigns) for {len(log.tenants)} tenants -> {out_dir}"
    )


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help=".eml files, folders, maildirs, mbox (.gz ok), .jsonl/.csv/.parquet tables.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the message log (created).")],
    tenant_config: Annotated[Path | None, typer.Option(help="YAML mapping internal domains to tenants; decides direction.")] = None,
    label: Annotated[str | None, typer.Option(help=f"Label every parsed message with this category ({', '.join(c.value for c in Category)}).")] = None,
    label_source: Annotated[str, typer.Option(help="Who says so, recorded with --label (e.g. a corpus name).")] = "",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing log in --out.")] = False,
) -> None:
    """Parse mail and tables into a message log; bad records are quarantined with a reason.

    The last line printed is the count: records in, parsed and quarantined
    (in = parsed + quarantined always holds).
    """
    from graphdet.ingest import ingest as run_ingest
    from graphdet.tenants import load_tenant_config

    try:
        config = load_tenant_config(tenant_config)
        category = None
        if label is not None:
            try:
                category = Category(label)
            except ValueError:
                raise typer.BadParameter(
                    f"{label!r} is not a category; choose from {', '.join(c.value for c in Category)}",
                    param_hint="--label",
                ) from None
        with Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            TextColumn("{task.completed} records"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("ingesting", total=None)
            stats = run_ingest(
                paths,
                out_dir,
                config,
                overwrite=overwrite,
                label=category,
                label_source=label_source,
                progress=lambda n: progress.advance(task, n),
            )
    except GraphdetError as e:
        _fail(e)
    if stats.reasons:
        table = Table(title="quarantined", show_header=True)
        table.add_column("reason")
        table.add_column("records", justify="right")
        for reason, n in stats.reasons.most_common():
            table.add_row(reason, str(n))
        out.print(table)
        out.print(f"details: {out_dir / 'quarantine.jsonl'}")
    out.print(
        f"in {stats.records_in}: parsed {stats.parsed}, quarantined {stats.quarantined} "
        f"({stats.rows_written} message rows written to {out_dir})"
    )


@app.command()
def rebuild(
    log: Annotated[Path, typer.Option("--log", help="Message log folder (what generate or ingest wrote).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Snapshot root: versioned folders + 'current'.")],
    as_of: Annotated[str | None, typer.Option(help="Build the graph as of this date/time (UTC); default: midnight after the last message.")] = None,
    lookback_days: Annotated[int, typer.Option(help="Days of history before --as-of that build the graph.")] = 90,
    engine: Annotated[str, typer.Option(help="Aggregation engine: local (DuckDB) or spark (pip install 'graphdet[spark]', Java 17).")] = "local",
    master: Annotated[str | None, typer.Option(help="With --engine spark: the Spark master URL (default local[*]; under spark-submit, the master it was given).")] = None,
    salt_buckets: Annotated[int, typer.Option(help="With --engine spark: salt buckets of the edge aggregation (1 = no salting).")] = 1,
    spark_conf: Annotated[list[str] | None, typer.Option(help="With --engine spark: a Spark setting KEY=VALUE (repeatable), e.g. spark.driver.memory=8g.")] = None,
    gnn: Annotated[bool, typer.Option("--gnn/--no-gnn", help="Train or refresh the GraphSAGE model and write embeddings.")] = True,
    gnn_epochs: Annotated[int | None, typer.Option(help="GNN training epochs (default 120; a refresh runs a quarter).")] = None,
    gnn_model: Annotated[Path | None, typer.Option(help="Apply this trained GNN model folder instead of training.")] = None,
    keep: Annotated[int, typer.Option(help="Published versions to keep.")] = 3,
    force: Annotated[bool, typer.Option(help="Rebuild even if this version is already published.")] = False,
) -> None:
    """Rebuild each tenant's communication graph and statistics into a versioned snapshot.

    Trains (or refreshes) the GNN by default; the manifest records its validation AUC.
    Exit codes for schedulers: 0 published (or already up to date), 1 failed (message says
    why), 2 bad usage, 3 nothing to build (no messages in the window). On a Spark cluster:
    spark-submit --master URL training/rebuild_graph.py --engine spark ... (README, "Scale-out").
    """
    from graphdet.exceptions import ConfigError, NothingToBuild
    from graphdet.graph import RebuildConfig, parse_as_of, resolve_engine
    from graphdet.graph import rebuild as run_rebuild

    try:
        when = parse_as_of(as_of) if as_of else None
        engine_options: dict[str, object] = {}
        if engine == "spark":
            conf: dict[str, str] = {}
            for item in spark_conf or []:
                key, eq, value = item.partition("=")
                if not (key and eq):
                    raise ConfigError(f"--spark-conf {item!r}: expected KEY=VALUE")
                conf[key] = value
            engine_options = {"master": master, "salt_buckets": salt_buckets, "conf": conf}
        elif master is not None or spark_conf or salt_buckets != 1:
            raise ConfigError(f"--master, --salt-buckets and --spark-conf apply to --engine spark, not --engine {engine}")
        rebuild_engine = resolve_engine(engine, **engine_options)
        with Progress(
            SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
            TextColumn("{task.completed}/{task.total} tenants"), TimeElapsedColumn(),
            console=console, transient=True,
        ) as progress:
            task = progress.add_task("aggregating + statistics", total=None)

            def on_progress(stage: str, done: int, total: int) -> None:
                progress.update(task, completed=done, total=total, description=stage)

            result = run_rebuild(
                log, out_dir, as_of=when,
                config=RebuildConfig(lookback_days=lookback_days, gnn=gnn, gnn_epochs=gnn_epochs),
                engine=rebuild_engine, keep=keep, force=force, gnn_model=gnn_model, progress=on_progress,
            )
    except NothingToBuild as e:
        console.print(f"[bold yellow]nothing to build:[/] {escape(str(e))}")
        raise typer.Exit(3) from None
    except GraphdetError as e:
        _fail(e)
    if result.published:
        out.print(
            f"published snapshot {result.version}: {result.tenants} tenants, {result.nodes} nodes, "
            f"{result.edges} edges -> {result.path}"
        )
        if result.gnn_metrics:
            m = result.gnn_metrics
            out.print(
                f"GNN: validation AUC {m.get('val_auc')} (random negatives), {m.get('val_auc_hard')} (hard); "
                f"Adamic-Adar baseline {m.get('baseline_adamic_adar_auc')}"
            )
    else:
        out.print(f"snapshot {result.version} already published (unchanged) -> {result.path}")


@app.command()
def train(
    log: Annotated[Path, typer.Option("--log", help="Labelled message log (what generate or ingest --label wrote).")],
    out_dir: Annotated[Path, typer.Option("--out", help="ARTIFACTS folder: snapshot, model, rules, policy, report.")],
    cut: Annotated[str | None, typer.Option(help="History ends here (UTC date); default: 40% into the log's span.")] = None,
    config: Annotated[Path | None, typer.Option(help="Pipeline config YAML (default configs/default.yaml).")] = None,
    rules: Annotated[Path | None, typer.Option(help="Rules folder (default configs/rules).")] = None,
    policy: Annotated[Path | None, typer.Option(help="Policy folder (default configs/policy).")] = None,
    gnn_epochs: Annotated[int | None, typer.Option(help="Override the GNN training epochs.")] = None,
) -> None:
    """Rebuild on history, replay the rest point in time, train and evaluate the combiner.

    Writes into --out everything serving loads (snapshot with GNN arrays, model, rules,
    policy, reasons) and report/ (report.md, metrics.json, pr_curve.png).
    """
    import dataclasses

    from graphdet.combiner.pipeline import load_train_config, train_pipeline
    from graphdet.graph import parse_as_of

    try:
        cfg = load_train_config(config)
        if gnn_epochs is not None:
            cfg = dataclasses.replace(cfg, gnn_epochs=gnn_epochs)
        with console.status("training") as status:
            report = train_pipeline(
                log, out_dir, cut=parse_as_of(cut) if cut else None, config=cfg, rules_dir=rules,
                policy_dir=policy, progress=lambda msg: status.update(msg),
            )
    except GraphdetError as e:
        _fail(e)
    for title, key in (("later time split", "test"), ("held-out campaign families", "holdout_families")):
        t = report.get(key)
        if t:
            out.print(f"{title}: precision {t['precision']:.2%}, recall {t['recall']:.2%}, FP {t['fp']}, "
                      f"FN {t['fn']} ({t['attacks']} attacks, {t['safe']} safe)")
    out.print(f"artifacts: {out_dir}  report: {out_dir / 'report' / 'report.md'}")


@app.command()
def decide(
    paths: Annotated[list[Path], typer.Argument(help=".eml files, folders, mbox (.gz ok) or message tables to decide.")],
    artifacts: Annotated[Path, typer.Option("--artifacts", help="What `graphdet train` wrote.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per decision.")] = False,
    limit: Annotated[int | None, typer.Option(help="Decide at most this many messages.")] = None,
    chronicle: Annotated[Path | None, typer.Option(help="Also append every decision to this decision log folder.")] = None,
    fail_closed: Annotated[bool, typer.Option("--fail-closed", help="A message that cannot be decided is SUSPICIOUS (default: SAFE, fail open).")] = False,
    learn: Annotated[bool, typer.Option("--learn/--no-learn", help="Update the tenants' graph state after each decision.")] = True,
) -> None:
    """Decide messages and print each verdict with its reasons."""
    import json
    import math

    from graphdet.ingest import RecordError, iter_records, list_inputs, row_to_messages
    from serving import DecisionEngine

    try:
        from serving import ServingConfig

        engine = DecisionEngine.load(artifacts, config=ServingConfig(chronicle=chronicle, fail_open=not fail_closed,
                                                                     learn=learn))
        inputs = list_inputs(paths)
    except GraphdetError as e:
        _fail(e)
    n = 0
    for path, fmt in inputs:
        for record in iter_records(path, fmt):
            if limit is not None and n >= limit:
                break
            if record.row is not None:
                try:
                    messages, _ = row_to_messages(record.row, engine.tenant_config)
                    decisions = engine.decide_batch(messages)
                except RecordError as e:
                    console.print(f"[yellow]{escape(str(record.source))}: skipped: {escape(str(e))}[/]")
                    continue
            else:
                decisions = engine.decide_raw(record.raw or b"")
            for d in decisions:
                n += 1
                if as_json:  # JSON Lines: one object a line (ASCII, so any message id prints)
                    typer.echo(json.dumps({
                        "message_id": d.message_id, "tenant": d.tenant, "verdict": d.verdict.value,
                        "category": d.category.value, "score": None if math.isnan(d.score) else d.score,
                        "reasons": list(d.reasons), "rule_hits": list(d.rule_hits),
                        "attribution": [[f, c] for f, c in d.attribution], "degraded": d.degraded,
                        "degraded_reason": d.degraded_reason, "versions": dict(d.versions), "source": record.source,
                    }))
                else:
                    colour = {"safe": "green", "suspicious": "yellow", "malicious": "red"}[d.verdict.value]
                    # ids, tenants and reasons come from the mail: text, never markup
                    out.print(f"[{colour}]{d.verdict.value.upper():10}[/] {d.category.value:19} {d.score:6.3f}  "
                              f"{_mail_text(d.message_id)}  ({_mail_text(d.tenant)})")
                    for r in d.reasons[:5]:
                        out.print(f"    - {_mail_text(r)}")
    engine.close()


# C0 and C1 control characters and DEL, shown as escapes: mail text must not drive the terminal
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}


def _plain(text: str) -> str:
    """Text from a mail made safe for a terminal: control characters (an ESC sequence in a
    Message-ID could recolour or retitle the operator's terminal) and lone surrogates (no
    encoding can write them) shown as their escapes."""
    if not text.isascii():
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.translate(_CONTROL)


def _mail_text(text: str) -> str:
    """:func:`_plain` text for a rich markup string: its brackets escaped as well."""
    return escape(_plain(text))


@app.command()
def serve(
    artifacts: Annotated[Path, typer.Option("--artifacts", help="What `graphdet train` wrote.")],
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default; the service has no authentication).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8025,
    chronicle: Annotated[Path | None, typer.Option(help="Append every decision to this decision log folder.")] = None,
    reload_seconds: Annotated[float, typer.Option(help="Check the artifacts for a new snapshot/model/rules this often.")] = 30.0,
    fail_closed: Annotated[bool, typer.Option("--fail-closed", help="A message that cannot be decided is SUSPICIOUS (default: SAFE, fail open).")] = False,
    learn: Annotated[bool, typer.Option("--learn/--no-learn", help="Update the tenants' graph state after each decision.")] = True,
) -> None:
    """Reference HTTP service: POST /v1/decide, /healthz, /readyz, /metrics (Prometheus)."""
    from serving.http import serve as run_serve

    logging.getLogger().setLevel(logging.INFO)
    try:
        run_serve(artifacts, host, port, chronicle=chronicle, reload_seconds=reload_seconds,
                  fail_open=not fail_closed, learn=learn)
    except GraphdetError as e:
        _fail(e)


@app.command()
def summary(
    log_dir: Annotated[Path, typer.Argument(help="A message log folder (from generate or ingest).")],
    report: Annotated[Path | None, typer.Option("--report", help="Also write the summary as Markdown here.")] = None,
) -> None:
    """Summarise a message log: per tenant volume, time range, directions and labels."""
    from graphdet.summary import summarize_log

    try:
        s = summarize_log(log_dir)
    except GraphdetError as e:
        _fail(e)
    lines = [f"# Message log {log_dir}", ""]
    # tenants as columns (few), metrics as rows (many): fits a terminal
    tenant_rows = s["tenants"]
    if tenant_rows:
        names = [str(r["tenant"]) for r in tenant_rows]
        table = Table(title="Tenants")
        table.add_column("")
        for n in names:
            table.add_column(n, justify="right")
        lines += ["## Tenants", "", "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for metric in list(tenant_rows[0])[1:]:
            cells = [str(r[metric]) for r in tenant_rows]
            table.add_row(metric, *cells)
            lines.append(f"| {metric} | " + " | ".join(cells) + " |")
        lines.append("")
        out.print(table)
    if s["labels"]:
        cols = list(s["labels"][0])
        table = Table(title="Labels")
        for c in cols:
            table.add_column(c)
        lines += ["## Labels", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in s["labels"]:
            cells = [str(r[c]) for c in cols]
            table.add_row(*cells)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        out.print(table)
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text("\n".join(lines), encoding="utf-8")
        out.print(f"report: {report}")


@app.command("evaluate-public")
def evaluate_public(
    data: Annotated[Path, typer.Option("--data", help="The public corpora folder (../shared/data).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for report.md, metrics.json, decisions and work/.")],
    spamassassin: Annotated[Path | None, typer.Option(help="SpamAssassin corpus root (default: $GRAPHDET_SPAMASSASSIN, DATA/spamassassin, ~/.cache/graphdet/spamassassin).")] = None,
    tenant_domain: Annotated[str | None, typer.Option(help="The tenant's domain in the mailing-list year (default: the organisation with most senders).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of every split, sample and model.")] = 0,
    max_per_source: Annotated[int | None, typer.Option(help="Inject at most this many messages per source and part.")] = None,
    cases_per_kind: Annotated[int, typer.Option(help="Targeted cases per kind (impersonation, lookalike, lateral).")] = 40,
    gnn_epochs: Annotated[int | None, typer.Option(help="Override the GNN training epochs.")] = None,
    model: Annotated[list[str] | None, typer.Option(help="Models to train and report: synthetic, synthetic+real (default both).")] = None,
    enron: Annotated[bool, typer.Option("--enron/--no-enron", help="Also run the Enron executive-impersonation and GNN time-split part.")] = True,
    enron_cases: Annotated[int, typer.Option(help="Enron executive-impersonation cases.")] = 60,
    synth_tenants: Annotated[int, typer.Option(help="Tenants of the synthetic training log.")] = 3,
    synth_days: Annotated[int, typer.Option(help="Days of the synthetic training log (at least 40).")] = 60,
    synth_employees: Annotated[int, typer.Option(help="Mean employees per synthetic tenant.")] = 60,
) -> None:
    """Evaluate on public corpora: a real tenant with real phishing, spam and ham injected.

    Prints the per-label table; writes report.md and metrics.json into --out. When the
    corpora are absent it says why and exits 0 without evaluating.
    """
    from graphdet.public import MODELS, PublicEvalConfig, skip_reason
    from graphdet.public import evaluate_public as run_evaluation
    from serving import DecisionEngine

    reason = skip_reason(data)
    if reason is not None:
        console.print(f"[bold yellow]skipped:[/] {reason}", soft_wrap=True)
        return
    try:
        cfg = PublicEvalConfig(seed=seed, tenant_domain=tenant_domain, max_per_source=max_per_source,
                               cases_per_kind=cases_per_kind, gnn_epochs=gnn_epochs, enron=enron,
                               enron_cases=enron_cases, synth_tenants=synth_tenants, synth_days=synth_days,
                               synth_employees=synth_employees, models=tuple(model) if model else MODELS)
        with console.status("evaluating") as status:
            metrics = run_evaluation(data, out_dir, load_engine=DecisionEngine.load, spamassassin=spamassassin,
                                     config=cfg, progress=lambda msg: status.update(msg))
    except GraphdetError as e:
        _fail(e)
    for name, t in metrics["tables"].items():
        table = Table(title=f"{metrics['tenant']}, test window: model {name}")
        for col in ("label", "n", "flagged", "recall / FPR [95% CI]"):
            table.add_column(col, justify="left" if col == "label" else "right")
        for label, row in t["labels"].items():
            rate, ci = (row["recall"], row["recall_ci"]) if row["class"] == "attack" else (row["fpr"], row["fpr_ci"])
            table.add_row(label, str(row["n"]), str(row["flagged"]), f"{rate:.1%} [{ci[0]:.1%}, {ci[1]:.1%}]")
        out.print(table)
    out.print(f"report: {out_dir / 'report.md'}  metrics: {out_dir / 'metrics.json'}")


decisions_app = typer.Typer(help="The decision chronicle (Parquet, queried with DuckDB).", no_args_is_help=True)


@decisions_app.command("query")
def decisions_query(
    sql: Annotated[str, typer.Argument(help="SQL over the view `decisions`, e.g. \"SELECT verdict, count(*) FROM decisions GROUP BY 1\".")],
    chronicle: Annotated[Path, typer.Option("--chronicle", help="The decision log folder.")],
    limit: Annotated[int, typer.Option(help="Print at most this many rows.")] = 50,
) -> None:
    """Run SQL over the chronicle and print the result as a table."""
    from serving.chronicle import query

    try:
        result = query(chronicle, sql)
    except GraphdetError as e:
        _fail(e)
    from rich.text import Text

    table = Table(title=f"{result.num_rows} rows")
    for name in result.column_names:
        table.add_column(Text(_plain(name)))
    for row in result.slice(0, limit).to_pylist():
        table.add_row(*(Text(_plain(str(v))) for v in row.values()))  # the values are data, never markup
    out.print(table)


def _mount_subcommands() -> None:
    from graphdet.rules.cli import rules_app

    app.add_typer(rules_app, name="rules", help="Lint rule files and explain which rules fire on a message.")
    app.add_typer(decisions_app, name="decisions")
    from graphdet.eval.cli import register as register_eval

    register_eval(app)  # report, replay, health


_mount_subcommands()

if __name__ == "__main__":  # pragma: no cover
    app()
