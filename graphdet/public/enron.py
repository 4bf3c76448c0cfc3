"""Enron: executive impersonation on the real graph, and time-split GNN link prediction.

The Enron graph has real job titles. The executives (a title part ``CEO``, ``President`` or
``Vice President``) become the tenant's ``executives``; outside addresses using an
executive's real name write to people that executive really corresponds with, in the test
window (the last ``test_share`` of the messages, by count). The corpus has no subjects or
bodies, so neither have the cases: only the graph and the name can catch them, and the
negatives are the real Enron mail of the same window.

The GNN is evaluated on the same time split: trained on edges first seen before the test
window, scored on the edges first seen inside it against random and hard negatives, beside
common neighbours, Adamic-Adar and preferential attachment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphdet.gnn.data import TenantGraph
from graphdet.gnn.model import GNNConfig
from graphdet.gnn.train import train_gnn
from graphdet.graph.rebuild import RebuildConfig, rebuild
from graphdet.graph.snapshot import load_snapshot
from graphdet.ingest import ingest
from graphdet.ingest.enron import read_people
from graphdet.messagelog import labels_to_table, messages_to_table, read_messages, table_to_messages
from graphdet.public.cases import History, impersonation_cases, materialise
from graphdet.public.inject import TimeSampler, neutral_view
from graphdet.public.models import LoadEngine, decide_tenant, write_log
from graphdet.schema import Category, Label
from graphdet.tenants import TenantConfig, TenantSpec

__all__ = ["ENRON_EXECUTIVE_TITLES", "enron_executives", "evaluate_enron", "gnn_time_split"]

logger = logging.getLogger(__name__)

ENRON_EXECUTIVE_TITLES = ("CEO", "President", "Vice President")
TENANT = "enron.com"


def enron_executives(folder: Path) -> dict[str, tuple[str, str]]:
    """address -> (name, title) of the people whose title has an executive part."""
    out = {}
    for p in read_people(folder).values():
        parts = [x.strip() for x in p["title"].split(",")]
        if any(x in ENRON_EXECUTIVE_TITLES for x in parts):
            out[p["addr"]] = (p["name"], p["title"])
    return out


def _test_start(times: pa.ChunkedArray, test_share: float) -> datetime:
    us = np.sort(pc.cast(times, pa.int64()).to_numpy())
    t = datetime.fromtimestamp(us[int(len(us) * (1 - test_share))] / 1e6, tz=UTC)
    return datetime(t.year, t.month, t.day, tzinfo=UTC)


def gnn_time_split(log: Path, work: Path, test_start: datetime, end: datetime, lookback_days: int,
                   epochs: int | None, seed: int) -> dict[str, Any]:
    """Train the GNN on edges first seen before ``test_start``; AUC on the edges first seen
    in ``[test_start, end)``, with the heuristics on the same split."""
    val_days = max(1, (end - test_start).days)
    r = rebuild(log, work / "gnn_snapshot", as_of=end,
                config=RebuildConfig(lookback_days=lookback_days + val_days, gnn=False), force=True)
    snap = load_snapshot(r.path)
    graphs = [TenantGraph.from_snapshot(snap, t) for t in snap.tenants]
    cfg = GNNConfig(val_days=val_days, seed=seed, **({"epochs": epochs} if epochs else {}))
    trained = train_gnn(graphs, end, cfg)
    return {"train_edges_before": test_start.isoformat(), "val_days": val_days, "nodes": r.nodes,
            "edges": r.edges, **trained.metrics}


def evaluate_enron(
    data: Path,
    work: Path,
    models: dict[str, Path],
    load_engine: LoadEngine,
    *,
    test_share: float,
    cases: int,
    lookback_days: int,
    gnn_epochs: int | None,
    seed: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Executive impersonation per model (``models``: name -> training output folder) and the
    GNN time split. Writes decisions under ``work``; returns the tables and facts."""
    folder = data / "enron-graph"
    execs = enron_executives(folder)
    spec = TenantSpec(TENANT, ("enron.com",), tuple(sorted(execs)))
    config = TenantConfig((spec,))
    progress("Enron: ingesting the graph")
    stats = ingest([folder], work / "enron_log", config, overwrite=True)
    table = neutral_view(read_messages(work / "enron_log"))
    table = table.sort_by([("received_at", "ascending"), ("message_id", "ascending")])
    test_start = _test_start(table.column("received_at"), test_share)
    end = datetime.fromtimestamp(pc.max(pc.cast(table.column("received_at"), pa.int64())).as_py() / 1e6, tz=UTC)
    end = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
    history = list(table_to_messages(table.filter(pc.less(table.column("received_at"), test_start))))
    h = History.from_messages(history, config)
    rng = np.random.default_rng([seed, 31])
    real_test = table.filter(pc.greater_equal(table.column("received_at"), test_start))
    times = TimeSampler(test_start, end, tuple(m["received_at"] for m in real_test.select(["received_at"]).to_pylist()))
    targets = sorted(a for a in execs if h.contacts_of(a))
    built = materialise(impersonation_cases(h, cases, rng, times, targets=targets, texts=(("", ""),),
                                            kind="executive", seed=seed), config)
    real_labels = [Label(m, Category.SAFE, "", "tenant-internal") for m in table.column("message_id").to_pylist()]
    log = write_log(work / "enron_eval_log", [(table, labels_to_table(real_labels)),
                                              (messages_to_table(built.messages), labels_to_table(built.labels))],
                    [spec])
    stream = sorted([*table_to_messages(real_test), *built.messages], key=lambda m: (m.received_at, m.message_id))
    label_of = {lb.message_id: (lb.source, lb.category.value) for lb in [*real_labels, *built.labels]}
    tables = {}
    for name, train_dir in models.items():
        progress(f"Enron: deciding {len(stream)} messages with the {name} model")
        slug = name.replace("+", "-")
        tables[name] = decide_tenant(train_dir, work / f"enron-artifacts-{slug}", log, test_start, [spec], stream,
                                     label_of, load_engine, lookback_days=lookback_days,
                                     decisions=work / f"enron-decisions-{slug}.parquet")
    progress("Enron: GNN time-split link prediction")
    gnn = gnn_time_split(work / "enron_log", work, test_start, end, lookback_days, gnn_epochs, seed)
    return {
        "test_start": test_start.isoformat(), "end": end.isoformat(),
        "ingest": {"records": stats.records_in, "parsed": stats.parsed, "quarantined": stats.quarantined},
        "executives": len(execs), "impersonated": min(len(targets), cases),
        "cases": len(built.messages), "cases_skipped": dict(built.skipped),
        "tables": tables, "gnn": gnn,
    }
