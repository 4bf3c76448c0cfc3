"""Embedding a tenant with a trained model, and saving / loading the model without pickle.

The model is stored as ``model.pt`` (a torch ``state_dict``: tensors only, loaded with
``weights_only=True``) and ``model.json`` (architecture, feature standardisation, metrics).
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graphdet.exceptions import SnapshotError
from graphdet.gnn.data import FEATURE_NAMES, TenantGraph, node_features
from graphdet.gnn.model import GNNConfig, LinkModel, sparse_adjacency
from graphdet.gnn.train import Standardizer, TrainedGNN
from graphdet.graph.stats import sorted_unique

__all__ = ["embed_tenant", "load_model", "model_files"]


def embed_tenant(trained: TrainedGNN, g: TenantGraph) -> dict[str, np.ndarray]:
    """All rows' decoder projections, normalised embeddings and correspondent means."""
    model = trained.model
    model.eval()
    x = torch.from_numpy(trained.standardizer.transform(node_features(g)))
    adj = sparse_adjacency(torch.from_numpy(g.message_passing_edges()), g.n_nodes)
    with torch.no_grad():
        z = model.encoder(x, adj)
        src = model.decoder.src(z).numpy()
        dst = model.decoder.dst(z).numpy()
    zn = z.numpy()
    emb = zn / np.maximum(np.linalg.norm(zn, axis=1, keepdims=True), 1e-12)
    # correspondents of each address: neighbours in either direction, mean of their embeddings
    a = np.concatenate([g.src, g.dst])
    b = np.concatenate([g.dst, g.src])
    keys = sorted_unique(a * g.n_nodes + b)  # sorted: rows are grouped
    rows, cols = keys // g.n_nodes, keys % g.n_nodes
    crow = np.zeros(g.n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=g.n_nodes), out=crow[1:])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")
        adjacency = torch.sparse_csr_tensor(torch.from_numpy(crow), torch.from_numpy(cols),
                                            torch.ones(len(cols)), size=(g.n_nodes, g.n_nodes))
        corr = torch.sparse.mm(adjacency, torch.from_numpy(emb.astype(np.float32))).numpy()
    corr /= np.maximum(np.linalg.norm(corr, axis=1, keepdims=True), 1e-12)
    return {"src": src, "dst": dst, "emb": emb.astype(np.float32), "corr": corr.astype(np.float32)}


def model_files(trained: TrainedGNN) -> dict[str, bytes]:
    """``model.pt`` and ``model.json`` as bytes, for the snapshot writer."""
    buf = io.BytesIO()
    torch.save(trained.model.state_dict(), buf)
    meta: dict[str, Any] = {
        "config": trained.config.as_dict(),
        "features": list(FEATURE_NAMES),
        "feature_mean": trained.standardizer.mean.tolist(),
        "feature_std": trained.standardizer.std.tolist(),
        "bias": float(trained.model.decoder.bias.detach()),
        "metrics": trained.metrics,
    }
    return {"model.pt": buf.getvalue(), "model.json": (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode()}


def load_model(folder: str | Path) -> TrainedGNN:
    """Load ``model.pt`` + ``model.json`` from a folder (``weights_only=True``: no pickle)."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / "model.json").read_text())
        state = torch.load(folder / "model.pt", weights_only=True, map_location="cpu")
    except FileNotFoundError as e:
        raise SnapshotError(f"GNN model missing in {folder}: {e.filename}") from None
    except (json.JSONDecodeError, RuntimeError, ValueError) as e:
        raise SnapshotError(f"GNN model in {folder} is unreadable: {e}") from None
    if meta.get("features") != list(FEATURE_NAMES):
        raise SnapshotError(
            f"{folder}/model.json: trained on features {meta.get('features')}, expected {list(FEATURE_NAMES)}"
        )
    config = GNNConfig(**meta["config"])
    model = LinkModel(len(FEATURE_NAMES), config)
    model.load_state_dict(state)
    std = Standardizer(np.asarray(meta["feature_mean"]), np.asarray(meta["feature_std"]))
    return TrainedGNN(model, std, config, dict(meta.get("metrics", {})))
