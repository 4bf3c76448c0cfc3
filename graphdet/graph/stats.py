"""Graph statistics of one tenant with igraph (networkx is the oracle in the tests).

:func:`add_statistics` takes one tenant's base ``nodes`` and ``edges`` tables and returns
them with the statistics columns of :mod:`.columns` added. The directed graph has one
vertex per address and one edge per (sender, recipient) pair, weighted by messages;
self-loops (mail to oneself) stay in the edge table but not in any statistic.

Pair statistics (common neighbours, Adamic-Adar) are computed for every existing edge here;
serving computes them for a new pair from the same adjacency with :func:`link_stats`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

import igraph as ig
import numpy as np
import pandas as pd

__all__ = ["add_statistics", "link_stats", "pair_stats", "sorted_unique", "undirected_adjacency"]

LEIDEN_SEED = 20260105
_LEIDEN_MAX_ITERATIONS = 100
_LEIDEN_RESTARTS = 10
_LEIDEN_RESTART_MAX_EDGES = 5_000
_GATHER_BUDGET = 20_000_000  # neighbour entries examined per chunk in the pair statistics


def sorted_unique(keys: np.ndarray) -> np.ndarray:
    """``np.unique`` of an int64 array by sorting (numpy 2's hash-based unique is ~5x slower
    on millions of edge keys)."""
    if len(keys) == 0:
        return keys
    s = np.sort(keys)
    out: np.ndarray = s[np.r_[True, s[1:] != s[:-1]]]
    return out


def undirected_adjacency(n: int, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR (indptr, indices) of the undirected simple graph, neighbours sorted; no loops."""
    keep = src != dst
    a = np.concatenate([src[keep], dst[keep]]).astype(np.int64)
    b = np.concatenate([dst[keep], src[keep]]).astype(np.int64)
    keys = sorted_unique(a * n + b)
    rows, cols = keys // n, keys % n
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return indptr, cols


def pair_stats(
    n: int, indptr: np.ndarray, indices: np.ndarray, u: np.ndarray, v: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Common neighbours and Adamic-Adar for pairs (u, v), vectorised.

    For each pair the neighbours of the lower-degree end are looked up in the sorted key
    array of the other end's adjacency, so the cost is the sum of the smaller degrees.
    """
    deg = np.diff(indptr)
    keys = np.repeat(np.arange(n, dtype=np.int64), deg) * n + indices  # sorted
    inv_log = np.zeros(n)
    inv_log[deg > 1] = 1.0 / np.log(deg[deg > 1])
    small = np.where(deg[u] <= deg[v], u, v)
    large = np.where(deg[u] <= deg[v], v, u)
    cn = np.zeros(len(u), dtype=np.int64)
    aa = np.zeros(len(u))
    loops = u == v
    counts = np.where(loops, 0, deg[small])
    bounds = np.cumsum(counts)
    start = 0
    while start < len(u):
        # the largest chunk of pairs whose neighbour lists fit in the budget
        base = bounds[start - 1] if start else 0
        stop = int(np.searchsorted(bounds, base + _GATHER_BUDGET, side="right"))
        stop = max(stop, start + 1)
        c = counts[start:stop]
        pair = np.repeat(np.arange(start, stop), c)
        offsets = np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c)
        w = indices[indptr[small[pair]] + offsets]
        probe = large[pair] * n + w
        pos = np.searchsorted(keys, probe)
        hit = (pos < len(keys)) & (keys[np.minimum(pos, len(keys) - 1)] == probe)
        cn[start:stop] = np.bincount(pair[hit] - start, minlength=stop - start)
        aa[start:stop] = np.bincount(pair[hit] - start, weights=inv_log[w[hit]], minlength=stop - start)
        start = stop
    return cn, aa


def link_stats(neighbours: Sequence[set[int]] | dict[int, set[int]], u: int, v: int) -> tuple[int, float]:
    """(common neighbours, Adamic-Adar) of one pair from undirected neighbour sets.

    Same definitions as the snapshot's edge columns, for a pair that has no edge yet.
    """
    if u == v:
        return 0, 0.0
    common = neighbours[u] & neighbours[v]
    return len(common), sum(1.0 / math.log(len(neighbours[w])) for w in common)


def _leiden_run(ug: ig.Graph, initial: list[int] | None = None) -> tuple[list[int], float]:
    """One Leiden run from singletons (or ``initial``), iterated while an iteration improves
    modularity.

    At most _LEIDEN_MAX_ITERATIONS iterations: igraph's ``n_iterations=-1`` can loop forever
    on floating-point ties (tests/graph/test_stats_regressions.py holds an 11-node graph
    that hangs it).
    """
    parts = ug.community_leiden(objective_function="modularity", weights="weight", n_iterations=1,
                                initial_membership=initial)
    quality = ug.modularity(parts.membership, weights="weight") if ug.ecount() else 0.0
    for _ in range(_LEIDEN_MAX_ITERATIONS - 1):
        if not ug.ecount():
            break
        nxt = ug.community_leiden(objective_function="modularity", weights="weight", n_iterations=1,
                                  initial_membership=parts.membership)
        q = ug.modularity(nxt.membership, weights="weight")
        if q <= quality + 1e-12:
            break
        parts, quality = nxt, q
    return list(parts.membership), float(quality)


def _leiden(g: ig.Graph, seed: int) -> tuple[list[int], float]:
    """Leiden (modularity) on the undirected weighted graph, seeded; on small graphs the best
    of _LEIDEN_RESTARTS runs (one run can stop at a poor optimum, even a single community)."""
    ug = g.as_undirected(mode="collapse", combine_edges={"weight": "sum"})
    previous = random.getstate()
    rng = random.Random(seed)
    ig.set_random_number_generator(rng)
    try:
        best = _leiden_run(ug)
        # restarts only on small graphs: poor optima are a small-graph effect, and a run costs
        # seconds on a large one (igraph draws its random numbers through Python)
        restarts = _LEIDEN_RESTARTS if 0 < ug.ecount() <= _LEIDEN_RESTART_MAX_EDGES else 1
        runs: list[Callable[[], tuple[list[int], float]]] = [lambda: _leiden_run(ug)] * (restarts - 1)
        if restarts > 1:  # and Leiden refining Louvain's partition (never below Louvain's quality)
            runs.append(lambda: _leiden_run(ug, ug.community_multilevel(weights="weight").membership))
        for runner in runs:
            run = runner()
            if run[1] > best[1] + 1e-12:
                best = run
    finally:
        ig.set_random_number_generator(random)
        random.setstate(previous)
    return best


def add_statistics(
    nodes: pd.DataFrame, edges: pd.DataFrame, *, seed: int = LEIDEN_SEED
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """One tenant's nodes and edges with their statistics columns, and a graph summary.

    ``nodes.node`` must be ``0..n-1`` in row order and ``edges.src_node/dst_node`` refer to
    it. The inputs are not modified.
    """
    n = len(nodes)
    if not np.array_equal(nodes["node"].to_numpy(), np.arange(n)):
        raise ValueError("nodes.node must be 0..n-1 in row order")
    src = edges["src_node"].to_numpy(dtype=np.int64)
    dst = edges["dst_node"].to_numpy(dtype=np.int64)
    msgs = edges["msgs"].to_numpy(dtype=np.float64)
    keep = src != dst

    g = ig.Graph(n=n, edges=np.column_stack([src[keep], dst[keep]]).tolist(), directed=True)
    g.es["weight"] = msgs[keep].tolist()
    out_deg = np.asarray(g.outdegree(), dtype=np.int64)
    in_deg = np.asarray(g.indegree(), dtype=np.int64)
    out_strength = np.bincount(src[keep], weights=msgs[keep], minlength=n)
    in_strength = np.bincount(dst[keep], weights=msgs[keep], minlength=n)
    mutual = np.asarray(g.is_mutual(loops=False), dtype=bool) if g.ecount() else np.zeros(0, bool)
    overlap = np.bincount(src[keep][mutual], minlength=n)
    total = in_deg + out_deg
    reciprocity = np.divide(2.0 * overlap, total, out=np.zeros(n), where=total > 0)
    pagerank = np.asarray(g.pagerank(weights="weight", damping=0.85, directed=True)) if n else np.zeros(0)
    membership, modularity = _leiden(g, seed) if n else ([], 0.0)
    community = np.asarray(membership, dtype=np.int64)
    community[total == 0] = -1
    clustering = (
        np.asarray(g.as_undirected(mode="collapse").transitivity_local_undirected(mode="zero"))
        if n else np.zeros(0)
    )
    # share of received message-recipients whose sender had written before: all but the first
    # message of each in-edge come from a known sender
    recv = np.bincount(dst[keep], weights=msgs[keep], minlength=n)
    known = np.bincount(dst[keep], weights=msgs[keep] - 1, minlength=n)
    inbound_known = np.divide(known, recv, out=np.zeros(n), where=recv > 0)

    indptr, indices = undirected_adjacency(n, src, dst)
    cn, aa = pair_stats(n, indptr, indices, src, dst)

    nodes = nodes.assign(
        out_degree=out_deg,
        in_degree=in_deg,
        out_strength=out_strength.astype(np.int64),
        in_strength=in_strength.astype(np.int64),
        reciprocity=reciprocity,
        pagerank=pagerank,
        community=community,
        clustering=clustering,
        inbound_known_share=inbound_known,
    )
    edges = edges.assign(common_neighbors=cn, adamic_adar=aa)
    summary = {
        "nodes": float(n),
        "edges": float(int(keep.sum())),
        "communities": float(len(set(community[community >= 0].tolist()))),
        "modularity": modularity,
        "reciprocity": float(g.reciprocity()) if g.ecount() else 0.0,
    }
    return nodes, edges, summary
