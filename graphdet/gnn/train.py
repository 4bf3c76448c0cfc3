"""Self-supervised link-prediction training, split by time, across all tenants at once.

Edges first seen before ``cut = as_of - val_days`` train; edges first seen after it validate,
so the validation AUC answers "is this *new* sender -> recipient edge plausible?". The tenants
are one disjoint union (a full batch with a sparse adjacency: no neighbour sampling). Each
epoch holds a share of the training edges out of message passing and scores them against
negatives: uniform recipients of the same tenant, and hard ones (an address of the true
recipient's domain, or of the sender's community) that are not neighbours.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import torch

from graphdet.gnn.data import TenantGraph, node_features
from graphdet.gnn.model import GNNConfig, LinkModel, sparse_adjacency
from graphdet.graph.stats import sorted_unique

__all__ = ["Standardizer", "TrainedGNN", "auc", "train_gnn"]

logger = logging.getLogger(__name__)


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half)."""
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    scores = np.concatenate([pos, neg])
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2.0
    return float(u / (len(pos) * len(neg)))


@dataclass
class Standardizer:
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardizer:
        std = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(std > 1e-9, std, 1.0))

    def transform(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = ((x - self.mean) / self.std).astype(np.float32)
        return out


@dataclass
class TrainedGNN:
    model: LinkModel
    standardizer: Standardizer
    config: GNNConfig
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class _Union:
    """Disjoint union of tenant graphs with global node ids."""

    offsets: np.ndarray  # first global id of each tenant
    src: np.ndarray  # global address edge endpoints, all edges
    dst: np.ndarray
    train: np.ndarray  # bool per edge: first seen before the cut
    tenant_of_edge: np.ndarray
    n_addr: np.ndarray  # per tenant
    n_nodes: int
    edge_keys: np.ndarray  # sorted src*N+dst of all edges (for excluding true edges)
    domain_groups: tuple[np.ndarray, np.ndarray, np.ndarray]  # (group of node, start, size) over members
    community_groups: tuple[np.ndarray, np.ndarray, np.ndarray]


def _groups(node_ids: np.ndarray, labels: np.ndarray, n_nodes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For nodes with a label >= 0: members sorted by label, each node's group start and size."""
    keep = labels >= 0
    ids, lab = node_ids[keep], labels[keep]
    order = np.lexsort((ids, lab))
    members = ids[order]
    uniq, start, size = np.unique(lab[order], return_index=True, return_counts=True)
    group_start = np.full(n_nodes, -1, np.int64)
    group_size = np.zeros(n_nodes, np.int64)
    pos = np.searchsorted(uniq, lab)
    group_start[ids] = start[pos]
    group_size[ids] = size[pos]
    return members, group_start, group_size


def _build_union(graphs: Sequence[TenantGraph], cut_us: int) -> _Union:
    offsets = np.cumsum([0] + [g.n_nodes for g in graphs[:-1]]).astype(np.int64)
    n_nodes = int(sum(g.n_nodes for g in graphs))
    src = np.concatenate([g.src + o for g, o in zip(graphs, offsets, strict=True)])
    dst = np.concatenate([g.dst + o for g, o in zip(graphs, offsets, strict=True)])
    first = np.concatenate([g.first_seen for g in graphs])
    tenant_of_edge = np.concatenate([np.full(len(g.src), i) for i, g in enumerate(graphs)])
    addr_ids = np.concatenate([np.arange(g.n_addr) + o for g, o in zip(graphs, offsets, strict=True)])
    # domain and community labels made unique across tenants
    dom_labels = np.concatenate([g.addr_domain + o for g, o in zip(graphs, offsets, strict=True)])
    com_labels = np.concatenate(
        [np.where(g.community >= 0, g.community + o, -1) for g, o in zip(graphs, offsets, strict=True)]
    )
    return _Union(
        offsets=offsets,
        src=src,
        dst=dst,
        train=first < cut_us,
        tenant_of_edge=tenant_of_edge,
        n_addr=np.array([g.n_addr for g in graphs], np.int64),
        n_nodes=n_nodes,
        edge_keys=sorted_unique(src * n_nodes + dst),
        domain_groups=_groups(addr_ids, dom_labels, n_nodes),
        community_groups=_groups(addr_ids, com_labels, n_nodes),
    )


def _pick(rng: np.random.Generator, groups: tuple[np.ndarray, np.ndarray, np.ndarray], of: np.ndarray) -> np.ndarray:
    members, start, size = groups
    ok = size[of] > 0
    out = np.full(len(of), -1, np.int64)
    idx = start[of[ok]] + (rng.random(int(ok.sum())) * size[of[ok]]).astype(np.int64)
    out[ok] = members[idx]
    return out


def _negatives(
    rng: np.random.Generator, u: _Union, src: np.ndarray, dst: np.ndarray, tenant: np.ndarray, hard_share: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Negative (src, dst) pairs for positives, and a flag marking the hard ones."""
    rand = u.offsets[tenant] + (rng.random(len(src)) * u.n_addr[tenant]).astype(np.int64)
    hard = rng.random(len(src)) < hard_share
    same_domain = _pick(rng, u.domain_groups, dst)
    same_comm = _pick(rng, u.community_groups, src)
    use_domain = rng.random(len(src)) < 0.5
    hard_dst = np.where(use_domain, same_domain, same_comm)
    hard_dst = np.where(hard_dst >= 0, hard_dst, np.where(use_domain, same_comm, same_domain))
    hard &= hard_dst >= 0
    neg = np.where(hard, hard_dst, rand)
    keys = src * u.n_nodes + neg
    pos = np.searchsorted(u.edge_keys, keys)
    is_edge = (pos < len(u.edge_keys)) & (u.edge_keys[np.minimum(pos, len(u.edge_keys) - 1)] == keys)
    keep = ~is_edge & (neg != src)
    return src[keep], neg[keep], hard[keep]


def _features(graphs: Sequence[TenantGraph], masks: Sequence[np.ndarray | None]) -> np.ndarray:
    return np.concatenate([node_features(g, m) for g, m in zip(graphs, masks, strict=True)])


def _adjacency(graphs: Sequence[TenantGraph], offsets: np.ndarray, masks: Sequence[np.ndarray | None]) -> torch.Tensor:
    parts = [g.message_passing_edges(m) + o for g, o, m in zip(graphs, offsets, masks, strict=True)]
    n = int(sum(g.n_nodes for g in graphs))
    return sparse_adjacency(torch.from_numpy(np.concatenate(parts, axis=1)), n)


def train_gnn(
    graphs: Sequence[TenantGraph],
    as_of: datetime,
    config: GNNConfig | None = None,
    *,
    init: LinkModel | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> TrainedGNN:
    """Train one link model over all tenants; validate on edges first seen after the cut.

    ``init`` warm-starts from an earlier model (a refresh). Seeded and deterministic on CPU.
    """
    config = config or GNNConfig()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    cut_us = int((as_of - timedelta(days=config.val_days)).timestamp() * 1_000_000)
    u = _build_union(graphs, cut_us)
    tenant_split = np.cumsum([0] + [len(g.src) for g in graphs])
    train_masks = [u.train[a:b] for a, b in itertools.pairwise(tenant_split)]

    x_train_raw = _features(graphs, train_masks)
    standardizer = Standardizer.fit(x_train_raw)
    x = torch.from_numpy(standardizer.transform(x_train_raw))
    model = LinkModel(x.shape[1], config)
    if init is not None:
        model.load_state_dict(init.state_dict())
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    train_idx = np.flatnonzero(u.train)
    if len(train_idx) == 0:
        raise ValueError("no edges before the validation cut to train on; widen the window or lower val_days")
    loss_fn = torch.nn.BCEWithLogitsLoss()
    t0 = time.perf_counter()
    last_loss = float("nan")
    target = train_idx
    adj = None
    for epoch in range(config.epochs):
        model.train()
        if adj is None or epoch % max(1, config.resample_every) == 0:
            # new split of the training edges: targets are held out of message passing
            target = train_idx[rng.random(len(train_idx)) < config.target_share]
            if len(target) == 0:
                target = train_idx
            mp = u.train.copy()
            mp[target] = False
            adj = _adjacency(graphs, u.offsets, [mp[a:b] for a, b in itertools.pairwise(tenant_split)])
        s, d, t = u.src[target], u.dst[target], u.tenant_of_edge[target]
        ns_list, nd_list = [], []
        for _ in range(config.negatives_per_positive):
            ns, nd, _hard = _negatives(rng, u, s, d, t, config.hard_negative_share)
            ns_list.append(ns)
            nd_list.append(nd)
        all_s = torch.from_numpy(np.concatenate([s, *ns_list]))
        all_d = torch.from_numpy(np.concatenate([d, *nd_list]))
        labels = torch.cat([torch.ones(len(s)), torch.zeros(len(all_s) - len(s))])
        opt.zero_grad()
        z = model.encoder(x, adj)
        loss = loss_fn(model.decoder(z, all_s, all_d), labels)
        loss.backward()
        opt.step()
        last_loss = float(loss.detach())
        if progress is not None:
            progress(epoch + 1, config.epochs, last_loss)
    train_s = time.perf_counter() - t0
    metrics = {"train_time_s": round(train_s, 2), "final_loss": round(last_loss, 4), "epochs": config.epochs}
    metrics.update(evaluate_split(model, graphs, u, train_masks, x, rng, config))
    logger.info("GNN trained in %.1f s: %s", train_s, metrics)
    return TrainedGNN(model, standardizer, config, metrics)


def evaluate_split(
    model: LinkModel,
    graphs: Sequence[TenantGraph],
    u: _Union,
    train_masks: Sequence[np.ndarray],
    x: torch.Tensor,
    rng: np.random.Generator,
    config: GNNConfig,
) -> dict[str, float]:
    """AUC of new (post-cut) edges against random and against hard negatives, and the same
    for common neighbours, Adamic-Adar and preferential attachment on the pre-cut graph."""
    from graphdet.graph.stats import pair_stats, undirected_adjacency

    val = np.flatnonzero(~u.train)
    if len(val) == 0:
        return {"val_edges": 0}
    model.eval()
    with torch.no_grad():
        z = model.encoder(x, _adjacency(graphs, u.offsets, train_masks))
    s, d, t = u.src[val], u.dst[val], u.tenant_of_edge[val]
    rs, rd, _ = _negatives(rng, u, s, d, t, 0.0)
    hs, hd, hard = _negatives(rng, u, s, d, t, 1.0)
    hs, hd = hs[hard], hd[hard]

    def gnn(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            scores: np.ndarray = model.decoder(z, torch.from_numpy(a), torch.from_numpy(b)).numpy()
        return scores

    # heuristics on the pre-cut undirected address graph (global ids; domain nodes excluded)
    tr = u.train
    indptr, indices = undirected_adjacency(u.n_nodes, u.src[tr], u.dst[tr])
    deg = np.diff(indptr).astype(np.float64)

    def heuristic(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
        cn, aa = pair_stats(u.n_nodes, indptr, indices, a, b)
        return {
            "common_neighbors": cn.astype(np.float64),
            "adamic_adar": aa,
            "preferential_attachment": deg[a] * deg[b],
        }

    out: dict[str, float] = {"val_edges": len(val), "val_hard_negatives": len(hs)}
    out["val_auc"] = round(auc(gnn(s, d), gnn(rs, rd)), 4)
    out["val_auc_hard"] = round(auc(gnn(s, d), gnn(hs, hd)), 4)
    hp, hr, hh = heuristic(s, d), heuristic(rs, rd), heuristic(hs, hd)
    for name in hp:
        out[f"baseline_{name}_auc"] = round(auc(hp[name], hr[name]), 4)
        out[f"baseline_{name}_auc_hard"] = round(auc(hp[name], hh[name]), 4)
    return out
