"""Snapshot tables -> the tensors the GNN trains and embeds on.

One tenant is a homogeneous graph of address nodes (rows of the ``nodes`` table, in order)
followed by domain nodes (rows of the ``domains`` table, in order) and one extra *unknown*
node: an external address with no history, whose embedding is the fallback for a sender whose
domain the tenant has never seen.

Node features are computed from a given set of directed address edges (so a time split can
build them from the edges first seen before its cut, without peeking at later edges):
log-scaled degrees and strengths, reciprocity, internal / domain flags and domain size. They
are standardised with statistics fitted on the training graphs and stored with the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from graphdet.graph.stats import sorted_unique

__all__ = ["FEATURE_NAMES", "TenantGraph", "node_features"]

FEATURE_NAMES = (
    "log_out_degree",
    "log_in_degree",
    "log_out_strength",
    "log_in_strength",
    "reciprocity",
    "is_internal",
    "is_domain",
    "log_domain_addresses",
    "log_domain_in_degree",
)


@dataclass
class TenantGraph:
    """One tenant's graph in index form; ``n_addr`` address rows, then domains, then unknown."""

    tenant: str
    n_addr: int
    n_dom: int
    addr_domain: np.ndarray  # domain row (0..n_dom-1) of each address
    is_internal: np.ndarray  # bool per address
    dom_internal: np.ndarray  # bool per domain
    src: np.ndarray  # address edges (no self-loops), node ids < n_addr
    dst: np.ndarray
    msgs: np.ndarray
    first_seen: np.ndarray  # int64 microseconds since the epoch, per edge
    community: np.ndarray  # per address, -1 isolated (for hard negatives only)

    @property
    def n_nodes(self) -> int:
        return self.n_addr + self.n_dom + 1

    @property
    def unknown(self) -> int:
        return self.n_addr + self.n_dom

    @classmethod
    def from_tables(cls, tenant: str, nodes: pd.DataFrame, edges: pd.DataFrame, domains: pd.DataFrame) -> TenantGraph:
        dom_index = {d: i for i, d in enumerate(domains["domain"].tolist())}
        addr_domain = np.array([dom_index[d] for d in nodes["domain"].tolist()], dtype=np.int64)
        keep = edges["src_node"].to_numpy() != edges["dst_node"].to_numpy()
        first_us = pd.to_datetime(edges["first_seen"], utc=True).dt.as_unit("us").astype("int64").to_numpy()
        return cls(
            tenant=tenant,
            n_addr=len(nodes),
            n_dom=len(domains),
            addr_domain=addr_domain,
            is_internal=nodes["is_internal"].to_numpy(dtype=bool),
            dom_internal=domains["is_internal"].to_numpy(dtype=bool),
            src=edges["src_node"].to_numpy(dtype=np.int64)[keep],
            dst=edges["dst_node"].to_numpy(dtype=np.int64)[keep],
            msgs=edges["msgs"].to_numpy(dtype=np.float64)[keep],
            first_seen=first_us[keep],
            community=nodes["community"].to_numpy(dtype=np.int64),
        )

    @classmethod
    def from_snapshot(cls, snapshot: Any, tenant: str) -> TenantGraph:
        """One tenant of a :class:`graphdet.graph.snapshot.Snapshot`."""
        return cls.from_tables(
            tenant,
            snapshot.table(tenant, "nodes").to_pandas(),
            snapshot.table(tenant, "edges").to_pandas(),
            snapshot.table(tenant, "domains").to_pandas(),
        )

    def message_passing_edges(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Undirected edge index (2, E) over the selected address edges plus address<->domain
        membership edges, without duplicates."""
        s, d = (self.src, self.dst) if mask is None else (self.src[mask], self.dst[mask])
        member = np.arange(self.n_addr, dtype=np.int64)
        dom = self.n_addr + self.addr_domain
        a = np.concatenate([s, d, member, dom])
        b = np.concatenate([d, s, dom, member])
        keys = sorted_unique(a * self.n_nodes + b)
        return np.stack([keys // self.n_nodes, keys % self.n_nodes])


def node_features(g: TenantGraph, mask: np.ndarray | None = None) -> np.ndarray:
    """Raw (unstandardised) features of every node of ``g`` from the selected edges."""
    s, d, w = (g.src, g.dst, g.msgs) if mask is None else (g.src[mask], g.dst[mask], g.msgs[mask])
    n = g.n_addr
    out_deg = np.bincount(s, minlength=n).astype(np.float64)
    in_deg = np.bincount(d, minlength=n).astype(np.float64)
    out_str = np.bincount(s, weights=w, minlength=n)
    in_str = np.bincount(d, weights=w, minlength=n)
    keys = s * n + d
    mutual = np.isin(d * n + s, keys)
    overlap = np.bincount(s[mutual], minlength=n).astype(np.float64)
    total = in_deg + out_deg
    recip = np.divide(2 * overlap, total, out=np.zeros(n), where=total > 0)
    dom_addresses = np.bincount(g.addr_domain, minlength=g.n_dom).astype(np.float64)
    dom_in = np.bincount(g.addr_domain, weights=in_deg, minlength=g.n_dom)
    dom_out = np.bincount(g.addr_domain, weights=out_deg, minlength=g.n_dom)
    dom_in_str = np.bincount(g.addr_domain, weights=in_str, minlength=g.n_dom)
    dom_out_str = np.bincount(g.addr_domain, weights=out_str, minlength=g.n_dom)

    x = np.zeros((g.n_nodes, len(FEATURE_NAMES)))
    a = slice(0, n)
    x[a, 0], x[a, 1] = np.log1p(out_deg), np.log1p(in_deg)
    x[a, 2], x[a, 3] = np.log1p(out_str), np.log1p(in_str)
    x[a, 4] = recip
    x[a, 5] = g.is_internal
    x[a, 7] = np.log1p(dom_addresses[g.addr_domain])
    x[a, 8] = np.log1p(dom_in[g.addr_domain])
    dm = slice(n, n + g.n_dom)
    x[dm, 0], x[dm, 1] = np.log1p(dom_out), np.log1p(dom_in)
    x[dm, 2], x[dm, 3] = np.log1p(dom_out_str), np.log1p(dom_in_str)
    x[dm, 5] = g.dom_internal
    x[dm, 6] = 1.0
    x[dm, 7] = np.log1p(dom_addresses)
    x[dm, 8] = np.log1p(dom_in)
    # the unknown node: an external address of an unseen domain, no history (all zeros)
    return x
