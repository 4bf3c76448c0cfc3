"""GraphSAGE embeddings of tenant communication graphs (PyTorch Geometric), and their signals.

Members are imported on first use (PEP 562): serving reads only :mod:`graphdet.gnn.signals`
(NumPy), and must not pay for torch and PyG.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from graphdet._lazy import lazy_members

if TYPE_CHECKING:
    from graphdet.gnn.artifacts import embed_tenant, load_model, model_files
    from graphdet.gnn.data import FEATURE_NAMES, TenantGraph, node_features
    from graphdet.gnn.model import GNNConfig, LinkModel
    from graphdet.gnn.signals import GNNIndex, GNNSignal, load_arrays
    from graphdet.gnn.train import TrainedGNN, auc, train_gnn

__all__ = [
    "FEATURE_NAMES",
    "GNNConfig",
    "GNNIndex",
    "GNNSignal",
    "LinkModel",
    "TenantGraph",
    "TrainedGNN",
    "auc",
    "embed_tenant",
    "load_arrays",
    "load_model",
    "model_files",
    "node_features",
    "train_gnn",
]

_HOME = {
    "embed_tenant": "graphdet.gnn.artifacts",
    "load_model": "graphdet.gnn.artifacts",
    "model_files": "graphdet.gnn.artifacts",
    "FEATURE_NAMES": "graphdet.gnn.data",
    "TenantGraph": "graphdet.gnn.data",
    "node_features": "graphdet.gnn.data",
    "GNNConfig": "graphdet.gnn.model",
    "LinkModel": "graphdet.gnn.model",
    "GNNIndex": "graphdet.gnn.signals",
    "GNNSignal": "graphdet.gnn.signals",
    "load_arrays": "graphdet.gnn.signals",
    "TrainedGNN": "graphdet.gnn.train",
    "auc": "graphdet.gnn.train",
    "train_gnn": "graphdet.gnn.train",
}


__getattr__, __dir__ = lazy_members(__name__, globals(), _HOME)
