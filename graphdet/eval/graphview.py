"""Graph view of one decision: the sender's and recipients' neighbourhoods in the tenant graph.

The view is drawn from the snapshot the decision was made with (the graph as of its rebuild;
the live deltas serving adds between rebuilds are not in it). Each endpoint shows at most
``max_neighbours`` correspondents (the busiest edges), so the picture stays readable. The
edge under decision is drawn red and dashed; when it is missing from the graph the title
says "first contact". Internal addresses are circles, external ones squares.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np

from graphdet.graph.snapshot import Snapshot

__all__ = ["EgoView", "ego_view", "plot_ego_view"]


@dataclass(frozen=True)
class EgoView:
    """The subgraph to draw: ``graph`` (directed, edge attribute ``msgs``), the endpoints,
    and facts about the decided edges."""

    graph: nx.DiGraph
    tenant: str
    sender: str
    recipients: tuple[str, ...]
    earlier_messages: dict[str, int]  # recipient -> messages sender -> recipient in the snapshot
    common_neighbours: dict[str, int]
    sender_known: bool


def ego_view(snapshot: Snapshot, tenant: str, sender: str, recipients: Sequence[str], *,
             max_neighbours: int = 12) -> EgoView:
    """The union of the sender's and the recipients' ego graphs (radius 1) in ``tenant``."""
    nodes = snapshot.table(tenant, "nodes", ["addr", "is_internal"]).to_pydict()
    edges = snapshot.table(tenant, "edges", ["src_node", "dst_node", "msgs"]).to_pydict()
    addr = nodes["addr"]
    node_of = {a: i for i, a in enumerate(addr)}
    src = np.asarray(edges["src_node"], dtype=np.int64)
    dst = np.asarray(edges["dst_node"], dtype=np.int64)
    msgs = np.asarray(edges["msgs"], dtype=np.int64)
    g = nx.DiGraph()
    ends = [sender, *recipients]
    for a in ends:
        i = node_of.get(a)
        g.add_node(a, internal=bool(nodes["is_internal"][i]) if i is not None else False, known=i is not None)
    neighbourhoods: dict[str, set[str]] = {}
    for a in ends:
        i = node_of.get(a)
        if i is None:
            neighbourhoods[a] = set()
            continue
        touching = np.flatnonzero((src == i) | (dst == i))
        neighbourhoods[a] = {addr[int(k)] for k in (set(src[touching].tolist()) | set(dst[touching].tolist())) - {i}}
        for e in touching[np.argsort(-msgs[touching], kind="mergesort")][:max_neighbours]:
            u, v = addr[int(src[e])], addr[int(dst[e])]
            for w in (u, v):
                if w not in g:
                    g.add_node(w, internal=bool(nodes["is_internal"][node_of[w]]), known=True)
            g.add_edge(u, v, msgs=int(msgs[e]))
    s = node_of.get(sender)
    earlier, common = {}, {}
    for r in recipients:
        d = node_of.get(r)
        hit = np.flatnonzero((src == s) & (dst == d)) if s is not None and d is not None else np.zeros(0, np.int64)
        earlier[r] = int(msgs[hit[0]]) if len(hit) else 0
        common[r] = len(neighbourhoods[sender] & neighbourhoods[r])
    return EgoView(g, tenant, sender, tuple(recipients), earlier, common, s is not None)


def plot_ego_view(view: EgoView, path: str | Path, *, title: str = "") -> Path:
    """Draw ``view`` to a PNG: sender red, recipients blue, the decided edges red and dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    g = view.graph
    pos = nx.spring_layout(g.to_undirected(), seed=7, k=1.6 / math.sqrt(max(len(g), 1)))
    fig, ax = plt.subplots(figsize=(7.5, 6))
    colour = {n: "#d62728" if n == view.sender else "#1f77b4" if n in view.recipients else "#bbbbbb" for n in g}
    for internal, shape in ((True, "o"), (False, "s")):
        ns = [n for n in g if g.nodes[n]["internal"] == internal]
        nx.draw_networkx_nodes(g, pos, nodelist=ns, node_shape=shape, ax=ax,
                               node_color=[colour[n] for n in ns],
                               node_size=[260 if n == view.sender or n in view.recipients else 90 for n in ns])
    width = [0.6 + math.log1p(d["msgs"]) * 0.5 for _, _, d in g.edges(data=True)]
    nx.draw_networkx_edges(g, pos, ax=ax, width=width, edge_color="#999999", arrows=True, arrowsize=7, alpha=0.7)
    decided = [(view.sender, r) for r in view.recipients if r != view.sender]
    nx.draw_networkx_edges(g, pos, edgelist=decided, ax=ax, edge_color="#d62728", style="dashed", width=2.2,
                           arrows=True, arrowsize=14)
    labels = {n: n for n in [view.sender, *view.recipients]}
    nx.draw_networkx_labels(g, pos, labels=labels, font_size=7, ax=ax)
    facts = []
    for r in view.recipients:
        n = view.earlier_messages.get(r, 0)
        facts.append(f"-> {r}: {'first contact' if n == 0 else f'{n} earlier messages'}, "
                     f"{view.common_neighbours.get(r, 0)} common correspondents")
    if not view.sender_known:
        facts.insert(0, "sender not in the tenant graph")
    ax.set_title((title + "\n" if title else "") + "\n".join(facts[:3]), fontsize=8)
    ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
