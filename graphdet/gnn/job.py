"""The rebuild's GNN step: train (or refresh) one model on every tenant, write the arrays."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from graphdet.gnn.artifacts import embed_tenant, load_model, model_files
from graphdet.gnn.data import TenantGraph
from graphdet.gnn.model import GNNConfig
from graphdet.gnn.signals import save_array
from graphdet.gnn.train import TrainedGNN

__all__ = ["train_and_write", "train_from_snapshot"]

logger = logging.getLogger(__name__)


class _Writer(Protocol):
    def write_bytes(self, relpath: str, data: bytes) -> None: ...


def _write(trained: TrainedGNN, graphs: list[TenantGraph], tenant_info: dict[str, Any], writer: _Writer) -> None:
    for name, data in model_files(trained).items():
        writer.write_bytes(f"gnn/{name}", data)
    for g in graphs:
        arrays = embed_tenant(trained, g)
        folder = tenant_info[g.tenant]["folder"]
        for name, a in arrays.items():
            writer.write_bytes(f"{folder}/gnn_{name}.npy", save_array(a))
        tenant_info[g.tenant]["gnn_rows"] = g.n_nodes


def train_and_write(
    tables: dict[str, tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]],
    tenant_info: dict[str, Any],
    as_of: datetime,
    writer: _Writer,
    *,
    epochs: int | None = None,
    seed: int = 0,
    init_from: Path | None = None,
    fixed_model: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Train on all tenants (warm start from ``init_from`` when given), embed each tenant,
    and write ``gnn/model.pt``, ``gnn/model.json`` and ``<tenant folder>/gnn_*.npy``.
    With ``fixed_model`` nothing is trained: that model embeds every tenant.

    Returns the manifest's ``gnn`` entry (config, metrics, refresh flag).
    """
    from graphdet.gnn.train import train_gnn

    graphs = [TenantGraph.from_tables(t, *tables[t]) for t in sorted(tables)]
    if fixed_model is not None:
        trained = load_model(fixed_model)
        _write(trained, graphs, tenant_info, writer)
        return {
            "model": "gnn/model.pt",
            "applied_from": str(fixed_model),
            "config": trained.config.as_dict(),
            "bias": float(trained.model.decoder.bias.detach()),
            "metrics": trained.metrics,
        }
    config = GNNConfig(seed=seed)
    init = None
    if init_from is not None:
        try:
            previous = load_model(init_from)
            if previous.config.embedding == config.embedding and previous.config.hidden == config.hidden:
                init = previous.model
        except Exception as e:  # noqa: BLE001 - a bad earlier model means: train from scratch
            logger.warning("cannot refresh from %s (%s); training from scratch", init_from, e)
    full_epochs = epochs if epochs is not None else config.epochs
    config = GNNConfig(seed=seed, epochs=max(1, full_epochs // 4) if init is not None else full_epochs)

    def on_epoch(done: int, total: int, loss: float) -> None:
        if progress is not None:
            progress("gnn epochs", done, total)

    trained = train_gnn(graphs, as_of, config, init=init, progress=on_epoch)
    _write(trained, graphs, tenant_info, writer)
    return {
        "model": "gnn/model.pt",
        "refreshed_from": str(init_from) if init is not None else None,
        "config": config.as_dict(),
        "bias": float(trained.model.decoder.bias.detach()),
        "metrics": trained.metrics,
    }


def train_from_snapshot(root: str | Path, config: GNNConfig | None = None) -> TrainedGNN:
    """Train a model on every tenant of a published snapshot (as of its as-of time)."""
    from graphdet.gnn.train import train_gnn
    from graphdet.graph.snapshot import load_snapshot

    s = load_snapshot(root)
    graphs = [TenantGraph.from_snapshot(s, t) for t in s.tenants]
    return train_gnn(graphs, datetime.fromisoformat(s.manifest["as_of"]), config)
