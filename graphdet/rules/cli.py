"""``graphdet rules ...``: lint rule folders and explain what fires on a message.

The lead mounts :data:`rules_app` under the main ``graphdet`` command. This is the only module
of graphdet.rules that prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from graphdet.rules.context import EMPTY_CONTEXT, SnapshotContext, TenantContext, load_static_context
from graphdet.rules.errors import RuleError
from graphdet.rules.registry import REGISTRY
from graphdet.rules.ruleset import lint, load_rules
from graphdet.rules.signals import DEFAULT_RULES_DIR, extract, phrase_specs

__all__ = ["rules_app"]

rules_app = typer.Typer(help="Lint rule files and explain which signals and rules fire on a message.",
                        no_args_is_help=True, add_completion=False)


@rules_app.command("lint")
def _lint_command(
    paths: Annotated[list[Path], typer.Argument(help="rule folders or rule files")],
) -> None:
    """Check rule folders/files and report EVERY problem (file:line [rule] message); exit 1 if any."""
    console = Console()
    issues = lint(paths)
    for issue in issues:
        console.print(str(issue), markup=False, highlight=False, soft_wrap=True)
    if issues:
        console.print(f"[red]{len(issues)} problem(s)[/red]")
        raise typer.Exit(1)
    console.print("[green]ok[/green]")


@rules_app.command("explain")
def _explain_command(
    eml: Annotated[Path, typer.Argument(help="an RFC 5322 message (.eml)")],
    rules: Annotated[Path, typer.Option("--rules", help="rules folder")] = DEFAULT_RULES_DIR,
    snapshot: Annotated[Path | None, typer.Option("--snapshot", help="graph snapshot root or version")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="tenant of the snapshot")] = None,
    context: Annotated[Path | None, typer.Option("--context", help="tenant context YAML (not with --snapshot)")] = None,
    all_signals: Annotated[bool, typer.Option("--all", help="show signals that are zero/false too")] = False,
) -> None:
    """Print the signals of a message and the rules that fire on it, with their values."""
    from graphdet.exceptions import GraphdetError
    from graphdet.ingest import parse_message
    from graphdet.tenants import TenantConfig

    console = Console()
    try:
        ruleset = load_rules(rules)
        ctx: TenantContext = EMPTY_CONTEXT
        if snapshot is not None:
            from graphdet.graph.snapshot import load_snapshot

            snap = load_snapshot(snapshot)
            if tenant is None:
                raise typer.BadParameter(f"--snapshot needs --tenant (one of {snap.tenants})")
            ctx = SnapshotContext.from_snapshot(snap, tenant)
        elif context is not None:
            ctx = load_static_context(context)
        message = parse_message(eml.read_bytes(), TenantConfig())[0]
    except RuleError as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        raise typer.Exit(2) from None
    except (GraphdetError, OSError) as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        raise typer.Exit(2) from None
    signals = extract(message, ctx, ruleset.lexicon)
    specs = {**REGISTRY, **phrase_specs(ruleset.lexicon)}
    table = Table(title=f"signals of {eml.name}" + ("" if ctx.available else " (no tenant context)"))
    table.add_column("signal", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("meaning")
    for name, value in signals.values.items():
        if value or all_signals:
            shown = f"{value:.1f}" if isinstance(value, float) else str(value)
            table.add_row(name, shown, specs[name].description)
    console.print(table)
    hits = ruleset.evaluate(signals)
    fired = Table(title=f"{len(hits)} rule(s) fired")
    for col in ("rule", "category", "severity", "hard"):
        fired.add_column(col, no_wrap=True)
    fired.add_column("description")
    for rid in hits:
        r = ruleset[rid]
        fired.add_row(rid, r.category.value, r.severity, "yes" if r.hard else "", r.description)
    console.print(fired)
