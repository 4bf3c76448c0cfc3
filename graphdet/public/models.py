"""The two models of the public evaluation, and deciding a real tenant with either.

* ``synthetic``: ``graphdet train`` on a synthetic log only.
* ``synthetic+real``: ``graphdet train`` on the same synthetic log merged with the real
  tenant's mail *before the test window* and the injected *train* parts of the corpora.

Both logs pass through :func:`~graphdet.public.inject.neutral_view`, so both models are
trained without authentication results and Return-Path, which the evaluation cannot use.

A real tenant is decided as a newly onboarded tenant is (journey 2 of the design): its own
graph rebuilt on its history, the shared model's GNN applied to it (``rebuild --gnn-model``),
the shared combiner, rules and policy; decisions come from the serving engine the caller
passes in (``load_engine``: graphdet never imports serving), in time order, learning as
serving does. No label feedback reaches the engine.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from graphdet.combiner.pipeline import TrainConfig, train_pipeline
from graphdet.exceptions import GraphdetError
from graphdet.graph.rebuild import RebuildConfig, rebuild
from graphdet.graph.snapshot import current_version
from graphdet.messagelog import LABEL_SCHEMA, MESSAGE_SCHEMA, MessageLogWriter
from graphdet.public.inject import neutral_view
from graphdet.public.report import Row, label_table, rows_of
from graphdet.schema import Decision, Message
from graphdet.synth import SynthConfig, generate, write_generated
from graphdet.tenants import TenantSpec, dump_tenant_config, load_tenant_config

__all__ = ["Engine", "LoadEngine", "assemble_artifacts", "decide_stream", "decide_tenant", "synthetic_log",
           "train_model", "write_decisions", "write_log"]

logger = logging.getLogger(__name__)


class Engine(Protocol):
    """What the evaluation needs of a decision engine (``serving.DecisionEngine`` has it)."""

    def decide_batch(self, messages: Sequence[Message]) -> list[Decision]: ...

    def close(self) -> None: ...


LoadEngine = Callable[[Path], Engine]


def synthetic_log(out: Path, config: SynthConfig) -> Path:
    """Generate the synthetic log (auth and Return-Path cleared) into ``out``."""
    import dataclasses

    log = generate(config)
    write_generated(dataclasses.replace(log, messages=neutral_view(log.messages)), out, overwrite=True)
    return out


def write_log(
    out: Path,
    parts: Sequence[tuple[pa.Table, pa.Table]],
    specs: Sequence[TenantSpec],
    *,
    extras_from: Path | None = None,
    created_by: str = "graphdet evaluate-public",
) -> Path:
    """Write ``(messages, labels)`` parts as one message log with ``tenants.yaml``.

    ``extras_from``: a synthetic log whose ``campaigns.parquet`` and ``kinds.parquet`` are
    copied (training holds whole synthetic campaign families out with them).
    """
    messages = pa.concat_tables([p[0].cast(MESSAGE_SCHEMA) for p in parts])
    messages = messages.sort_by([("received_at", "ascending"), ("message_id", "ascending")])
    labels = pa.concat_tables([p[1].cast(LABEL_SCHEMA) for p in parts])
    with MessageLogWriter(out, overwrite=True, created_by=created_by) as w:
        w.write_table(messages)
        w.write_labels(labels)
    dump_tenant_config(specs, out / "tenants.yaml")
    for name in ("campaigns.parquet", "kinds.parquet"):
        if extras_from is not None and (extras_from / name).exists():
            shutil.copy(extras_from / name, out / name)
    return out


def train_model(log: Path, out: Path, cut: datetime, config: TrainConfig,
                progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``graphdet train`` on ``log`` with history before ``cut``; returns its report."""
    return train_pipeline(log, out, cut=cut, config=config, progress=progress)


def _gnn_model(train_dir: Path) -> Path:
    version = current_version(train_dir / "snapshot")
    folder = train_dir / "snapshot" / (version or "") / "gnn"
    if version is None or not (folder / "model.pt").exists():
        raise GraphdetError(f"{train_dir}: no trained GNN model in its snapshot (snapshot/current/gnn/model.pt)")
    return folder


def assemble_artifacts(
    train_dir: Path,
    out: Path,
    log: Path,
    as_of: datetime,
    specs: Sequence[TenantSpec],
    *,
    lookback_days: int,
) -> Path:
    """An artifacts folder for the real tenant: the trained model, rules, policy and reasons
    of ``train_dir``, the tenant config, and a snapshot of ``log`` as of ``as_of`` with the
    trained GNN applied (not retrained)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in ("model", "rules", "policy"):
        shutil.copytree(train_dir / name, out / name)
    shutil.copy(train_dir / "reasons.yaml", out / "reasons.yaml")
    dump_tenant_config(specs, out / "tenants.yaml")
    load_tenant_config(out / "tenants.yaml")  # fail here, not in the engine, if it is invalid
    rebuild(log, out / "snapshot", as_of=as_of, config=RebuildConfig(lookback_days=lookback_days),
            gnn_model=_gnn_model(train_dir), force=True)
    return out


def decide_stream(engine: Engine, messages: Sequence[Message], batch: int = 256) -> list[Decision]:
    """Decide ``messages`` in the order given (time order), ``batch`` at a time."""
    out: list[Decision] = []
    for i in range(0, len(messages), batch):
        out += engine.decide_batch(messages[i : i + batch])
    if len(out) != len(messages):
        raise GraphdetError(f"the engine returned {len(out)} decisions for {len(messages)} messages")
    return out


def decide_tenant(
    train_dir: Path,
    artifacts: Path,
    log: Path,
    as_of: datetime,
    specs: Sequence[TenantSpec],
    stream: Sequence[Message],
    label_of: dict[str, tuple[str, str]],
    load_engine: LoadEngine,
    *,
    lookback_days: int,
    decisions: Path,
) -> dict[str, Any]:
    """Decide ``stream`` with the model of ``train_dir`` on a snapshot of ``log`` as of
    ``as_of``; write every decision to ``decisions`` and return the per-label table."""
    art = assemble_artifacts(train_dir, artifacts, log, as_of, specs, lookback_days=lookback_days)
    engine = load_engine(art)
    try:
        rows = rows_of(decide_stream(engine, stream), label_of)
    finally:
        engine.close()
    write_decisions(decisions, rows)
    return label_table(rows)


def write_decisions(path: Path, rows: Sequence[Row]) -> None:
    """The decided rows as Parquet, for FP/FN analysis."""
    table = pa.Table.from_pylist([
        {"message_id": r.message_id, "label": r.label, "category": r.category, "verdict": r.verdict,
         "predicted": r.predicted, "score": r.score, "reasons": list(r.reasons)} for r in rows
    ])
    pq.write_table(table, path, compression="zstd")
