"""The periodic rebuild job: message log -> per-tenant graph tables + statistics -> snapshot.

Idempotent: the version name is derived from the as-of time, the job's configuration and the
identity of the input log, so running it again on the same inputs finds the version already
published and only makes sure ``current`` points at it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from graphdet.exceptions import NothingToBuild, SnapshotError
from graphdet.graph.columns import COLUMNS, TABLES, table_schema
from graphdet.graph.engine import GraphEngine, StatisticsEngine, Window
from graphdet.graph.local import LocalEngine
from graphdet.graph.snapshot import SnapshotWriter, current_version, load_snapshot, tenant_folder
from graphdet.graph.stats import LEIDEN_SEED, add_statistics
from graphdet.messagelog import read_log_info

__all__ = ["RebuildConfig", "RebuildResult", "default_as_of", "log_identity", "rebuild"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RebuildConfig:
    """What the rebuild computes (hashed into the version name and the manifest).

    ``gnn``: train (or refresh) the GraphSAGE model and write every tenant's embeddings;
    ``gnn_epochs`` overrides the model's default epochs (a refresh uses a quarter of them).
    """

    lookback_days: int = 90
    leiden_seed: int = LEIDEN_SEED
    gnn: bool = True
    gnn_epochs: int | None = None
    gnn_seed: int = 0
    gnn_model_sha256: str | None = None  # set by rebuild() when a fixed model is applied

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()


@dataclass
class RebuildResult:
    version: str
    path: Path
    published: bool  # False: the same version was already there (idempotent re-run)
    tenants: int = 0
    nodes: int = 0
    edges: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    gnn_metrics: dict[str, Any] | None = None


def log_identity(log_dir: Path) -> str:
    """A hash identifying a message log's content: its log.json and its files' names, sizes
    and modification times (a log rewritten in place with same-size files is a new input)."""
    h = hashlib.sha256((Path(log_dir) / "log.json").read_bytes())
    for part in sorted((Path(log_dir) / "messages").glob("*.parquet")):
        st = part.stat()
        h.update(f"{part.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def default_as_of(log_dir: Path) -> datetime:
    """Midnight UTC after the last message of the log."""
    glob = f"{(Path(log_dir) / 'messages').as_posix()}/*.parquet"
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        row = con.execute("SELECT max(received_at) FROM read_parquet(?)", [glob]).fetchone()
    finally:
        con.close()
    last = row[0] if row else None
    if last is None:
        raise NothingToBuild(f"message log {log_dir} has no messages")
    last = last.astimezone(UTC) if last.tzinfo else last.replace(tzinfo=UTC)
    return datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)


def _to_arrow(df: pd.DataFrame, table: str) -> pa.Table:
    schema = table_schema(table)
    # no pandas metadata: it records the frame's dtypes, which for an empty table depend on
    # other tenants' rows, so one tenant's traffic would change another tenant's file bytes
    return pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False).replace_schema_metadata(None)


def rebuild(
    log_dir: str | Path,
    out: str | Path,
    *,
    as_of: datetime | None = None,
    config: RebuildConfig | None = None,
    engine: GraphEngine | None = None,
    keep: int = 3,
    force: bool = False,
    gnn_model: str | Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> RebuildResult:
    """Build and publish the snapshot of ``log_dir`` as of ``as_of`` into ``out``.

    With ``config.gnn`` the GNN is trained (refreshed from the previous snapshot's model when
    there is one); ``gnn_model`` instead applies an existing model folder (``model.pt`` +
    ``model.json``, e.g. from ``training/train_gnn.py``) without training: onboarding a tenant
    with the shared model. ``progress(stage, done, total)`` reports tenants and epochs.
    Raises :class:`~graphdet.exceptions.NothingToBuild` when the window holds no messages.
    """
    log_dir, out = Path(log_dir), Path(out)
    config = config or RebuildConfig()
    if gnn_model is not None:
        from graphdet.graph.snapshot import sha256_file

        model_pt = Path(gnn_model) / "model.pt"
        if not model_pt.exists():
            raise SnapshotError(f"--gnn-model {gnn_model}: no model.pt there")
        config = replace(config, gnn=True, gnn_model_sha256=sha256_file(model_pt))
    engine = engine or LocalEngine()
    log_info = read_log_info(log_dir)
    as_of = as_of or default_as_of(log_dir)
    window = Window(as_of, config.lookback_days)
    input_hash = log_identity(log_dir)
    version = f"{as_of:%Y%m%dT%H%M%SZ}-{config.digest()[:8]}-{input_hash[:8]}"

    if not force and (out / version / "manifest.json").exists():
        load_snapshot(out / version)  # verify before trusting it
        if current_version(out) != version:
            # re-point current (same atomic replace as a publish)
            pointer = out / ".current-repoint"
            pointer.write_text(version + "\n")
            pointer.replace(out / "current")
        logger.info("snapshot %s already published; nothing to do", version)
        return RebuildResult(version, out / version, published=False)

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    summaries: dict[str, dict[str, float]] | None = None
    if isinstance(engine, StatisticsEngine):  # statistics computed inside the engine (Spark)
        base, summaries = engine.build_with_statistics(log_dir, window, seed=config.leiden_seed)
        timings["aggregate_and_statistics_s"] = time.perf_counter() - t0
    else:
        base = engine.build(log_dir, window)
        timings["aggregate_s"] = time.perf_counter() - t0
    if base["nodes"].empty:
        raise NothingToBuild(
            f"no messages in {log_dir} between {window.start:%Y-%m-%d %H:%M} and {as_of:%Y-%m-%d %H:%M} UTC"
        )

    t1 = time.perf_counter()
    grouped = {name: dict(tuple(df.groupby("tenant", sort=True))) for name, df in base.items()}
    tenants = sorted(grouped["nodes"])
    tenant_info: dict[str, Any] = {}
    n_nodes = n_edges = 0
    gnn_inputs: dict[str, tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]] = {}
    previous = current_version(out)
    with SnapshotWriter(out, version) as writer:
        for i, tenant in enumerate(tenants):
            empty = {name: base[name].iloc[0:0] for name in TABLES}
            frames = {name: grouped[name].get(tenant, empty[name]) for name in TABLES}
            if summaries is None:
                nodes, edges, summary = add_statistics(
                    frames["nodes"].reset_index(drop=True), frames["edges"].reset_index(drop=True),
                    seed=config.leiden_seed,
                )
            else:
                nodes, edges = frames["nodes"].reset_index(drop=True), frames["edges"].reset_index(drop=True)
                summary = summaries[tenant]
            frames["nodes"], frames["edges"] = nodes, edges
            folder = f"tenants/{tenant_folder(tenant)}"
            for name in TABLES:
                writer.write_table(f"{folder}/{name}.parquet", _to_arrow(frames[name], name))
            tenant_info[tenant] = {
                "folder": folder,
                "rows": {name: len(frames[name]) for name in TABLES},
                "graph": summary,
            }
            n_nodes += len(nodes)
            n_edges += len(edges)
            if config.gnn:
                gnn_inputs[tenant] = (nodes, edges, frames["domains"].reset_index(drop=True))
            if progress is not None:
                progress("tenants", i + 1, len(tenants))
        timings["write_s" if summaries is not None else "statistics_and_write_s"] = time.perf_counter() - t1
        gnn_manifest = None
        if config.gnn:
            t2 = time.perf_counter()
            from graphdet.gnn.job import train_and_write

            init_from = out / previous / "gnn" if previous and (out / previous / "gnn" / "model.pt").exists() else None
            gnn_manifest = train_and_write(
                gnn_inputs, tenant_info, as_of, writer,
                epochs=config.gnn_epochs, seed=config.gnn_seed, init_from=init_from, progress=progress,
                fixed_model=Path(gnn_model) if gnn_model is not None else None,
            )
            timings["gnn_s"] = time.perf_counter() - t2
        manifest = {
            "kind": "graphdet-graph-snapshot",
            "as_of": as_of.isoformat(),
            "window_start": window.start.isoformat(),
            "lookback_days": config.lookback_days,
            "config": asdict(config),
            "config_hash": config.digest(),
            "engine": engine.name,
            "input": {"log": str(log_dir), "log_hash": input_hash, "log_messages": log_info.get("messages")},
            "tenants": tenant_info,
            "columns": COLUMNS,
            "gnn": gnn_manifest,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "timings": {k: round(v, 3) for k, v in timings.items()},
        }
        path = writer.publish(manifest, keep=keep)
    return RebuildResult(
        version, path, True, len(tenants), n_nodes, n_edges, timings,
        gnn_metrics=gnn_manifest["metrics"] if gnn_manifest else None,
    )
