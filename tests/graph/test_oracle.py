"""Snapshot tables against oracles: a pure-Python recount of the base tables, and networkx
for every graph statistic, on small random multi-tenant message logs."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from hypothesis import given, settings

from graphdet.exceptions import NothingToBuild
from graphdet.graph import COLUMNS, load_snapshot
from graphdet.graph.engine import BASE_COLUMNS

from .conftest import run_rebuild
from .logs import recount, write_log
from .strategies import AS_OF, LOOKBACK, messages


def _snapshot_of(msgs: list[tuple[Any, ...]], tmp: Path):  # -> Snapshot | None
    write_log(tmp / "log", msgs)
    try:
        run_rebuild(tmp / "log", tmp / "out")
    except NothingToBuild:
        return None
    return load_snapshot(tmp / "out")


@settings(max_examples=30, deadline=None)
@given(messages())
def test_base_tables_equal_a_python_recount(msgs: list[tuple[Any, ...]]) -> None:
    expected = recount(msgs, AS_OF, LOOKBACK)
    with tempfile.TemporaryDirectory() as d:
        snap = _snapshot_of(msgs, Path(d))
        if snap is None:
            assert expected == {}
            return
        assert snap.tenants == sorted(expected)
        for tenant, tables in expected.items():
            for name, rows in tables.items():
                got = snap.table(tenant, name).to_pylist()
                assert {r["tenant"] for r in got} <= {tenant}
                base = [c for c in BASE_COLUMNS[name] if c != "tenant"]
                assert [{c: r[c] for c in base} for r in got] == rows, (tenant, name)


def _graphs(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> tuple[nx.DiGraph, nx.Graph, nx.Graph]:
    """Directed weighted graph, undirected simple graph and undirected weighted graph (weights
    of both directions summed), all without self-loops, over every node."""
    g, ug, wg = nx.DiGraph(), nx.Graph(), nx.Graph()
    for G in (g, ug, wg):
        G.add_nodes_from(n["addr"] for n in nodes)
    for e in edges:
        if e["src"] == e["dst"]:
            continue
        g.add_edge(e["src"], e["dst"], weight=e["msgs"])
        ug.add_edge(e["src"], e["dst"])
        w = wg.edges[e["src"], e["dst"]]["weight"] if wg.has_edge(e["src"], e["dst"]) else 0
        wg.add_edge(e["src"], e["dst"], weight=w + e["msgs"])
    return g, ug, wg


def _check_tenant(nodes: list[dict[str, Any]], edges: list[dict[str, Any]], summary: dict[str, float]) -> None:
    g, ug, wg = _graphs(nodes, edges)
    addrs = [n["addr"] for n in nodes]
    reciprocity = nx.reciprocity(g, list(addrs))  # a list: a dict, None for isolated nodes
    pagerank = nx.pagerank(g, weight="weight", tol=1e-12, max_iter=10_000)
    clustering = nx.clustering(ug)
    for n in nodes:
        a = n["addr"]
        assert n["out_degree"] == g.out_degree(a)
        assert n["in_degree"] == g.in_degree(a)
        assert n["out_strength"] == g.out_degree(a, weight="weight")
        assert n["in_strength"] == g.in_degree(a, weight="weight")
        assert n["reciprocity"] == pytest.approx(reciprocity[a] or 0.0, abs=1e-12)
        assert n["pagerank"] == pytest.approx(pagerank[a], abs=1e-6)
        assert n["clustering"] == pytest.approx(clustering[a], abs=1e-12)
        in_msgs = [d["weight"] for _, _, d in g.in_edges(a, data=True)]
        known = sum(w - 1 for w in in_msgs) / sum(in_msgs) if in_msgs else 0.0
        assert n["inbound_known_share"] == pytest.approx(known, abs=1e-12)
    assert sum(n["pagerank"] for n in nodes) == pytest.approx(1.0, abs=1e-9)

    for e in edges:
        u, v = e["src"], e["dst"]
        if u == v:
            assert (e["common_neighbors"], e["adamic_adar"]) == (0, 0.0)
            continue
        common = list(nx.common_neighbors(ug, u, v))
        assert e["common_neighbors"] == len(common)
        ((_, _, aa),) = nx.adamic_adar_index(ug, [(u, v)])
        assert e["adamic_adar"] == pytest.approx(aa, abs=1e-12)

    # Leiden: a partition of the non-isolated nodes into connected communities, isolated -> -1
    isolated = {a for a in addrs if ug.degree(a) == 0}
    groups: dict[int, set[str]] = {}
    for n in nodes:
        if n["addr"] in isolated:
            assert n["community"] == -1
        else:
            assert n["community"] >= 0
            groups.setdefault(n["community"], set()).add(n["addr"])
    assert set().union(*groups.values()) == set(addrs) - isolated
    assert all(nx.is_connected(ug.subgraph(c)) for c in groups.values())
    assert summary["communities"] == len(groups)
    assert summary["nodes"] == len(nodes)
    assert summary["edges"] == g.number_of_edges()
    overall = nx.overall_reciprocity(g) if g.number_of_edges() else 0.0
    assert summary["reciprocity"] == pytest.approx(overall, abs=1e-12)
    if wg.number_of_edges() == 0:
        assert summary["modularity"] == 0.0
        return
    partition = [*groups.values(), *({a} for a in isolated)]
    q = nx.community.modularity(wg, partition, weight="weight")
    assert summary["modularity"] == pytest.approx(q, abs=1e-9)
    louvain = nx.community.modularity(wg, nx.community.louvain_communities(wg, weight="weight", seed=1))
    assert q >= 0.9 * louvain - 1e-12


@settings(max_examples=30, deadline=None)
@given(messages(max_size=40))
def test_statistics_equal_networkx(msgs: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        snap = _snapshot_of(msgs, Path(d))
        if snap is None:
            return
        for tenant in snap.tenants:
            nodes = snap.table(tenant, "nodes").to_pylist()
            edges = snap.table(tenant, "edges").to_pylist()
            assert list(snap.table(tenant, "nodes").column_names) == ["tenant", *COLUMNS["nodes"]]
            _check_tenant(nodes, edges, snap.manifest["tenants"][tenant]["graph"])


def test_statistics_on_a_known_graph(tmp_path: Path) -> None:
    """A hand-checked triangle with a pendant, a self-loop and a silent sender."""
    t = AS_OF.replace(day=8)
    msgs = [
        ("acme", "a@x.com", ["b@x.com"], [], t, "<1>", None, "internal"),
        ("acme", "b@x.com", ["a@x.com", "c@x.com"], [], t, "<2>", "<1>", "internal"),
        ("acme", "c@x.com", ["a@x.com"], [], t, "<3>", None, "internal"),
        ("acme", "a@x.com", ["b@x.com"], [], t, "<4>", None, "internal"),
        ("acme", "d@y.org", ["c@x.com"], [], t, "<5>", None, "inbound"),
        ("acme", "e@y.org", ["e@y.org"], [], t, "<6>", None, "inbound"),
        ("acme", "f@y.org", [], [], t, "<7>", None, "inbound"),
    ]
    write_log(tmp_path / "log", msgs)
    run_rebuild(tmp_path / "log", tmp_path / "out")
    snap = load_snapshot(tmp_path / "out")
    nodes = {n["addr"]: n for n in snap.table("acme", "nodes").to_pylist()}
    edges = {(e["src"], e["dst"]): e for e in snap.table("acme", "edges").to_pylist()}
    a, b, c = nodes["a@x.com"], nodes["b@x.com"], nodes["c@x.com"]
    assert (a["out_degree"], a["in_degree"], a["out_strength"], a["in_strength"]) == (1, 2, 2, 2)
    assert a["reciprocity"] == pytest.approx(2 * 1 / 3)  # b both ways, c only inbound
    assert a["clustering"] == 1.0 and c["clustering"] == pytest.approx(1 / 3)
    assert a["inbound_known_share"] == 0.0 and b["inbound_known_share"] == 0.5
    assert edges[("b@x.com", "a@x.com")]["replies"] == 1
    assert edges[("a@x.com", "b@x.com")]["reverse_msgs"] == 1
    assert edges[("a@x.com", "b@x.com")]["common_neighbors"] == 1
    assert edges[("a@x.com", "b@x.com")]["adamic_adar"] == pytest.approx(1 / math.log(3))
    assert edges[("e@y.org", "e@y.org")]["common_neighbors"] == 0
    assert nodes["e@y.org"]["community"] == nodes["f@y.org"]["community"] == -1
    assert nodes["e@y.org"]["out_degree"] == 0 and nodes["e@y.org"]["msgs_received"] == 1
    assert nodes["f@y.org"]["msgs_sent"] == 1
    assert {nodes[x]["community"] for x in ("a@x.com", "b@x.com", "c@x.com", "d@y.org")} != {-1}
    assert [n["is_internal"] for n in nodes.values()] == [True, True, True, False, False, False]
