"""GraphSAGE embeddings of tenant communication graphs (PyTorch Geometric), and their signals."""

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
