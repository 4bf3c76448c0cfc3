"""TenantState's compact graph (snapshot arrays + live deltas) equals plain dicts and sets.

The reference below is the pre-issue-7 implementation in miniature: per-node Python sets and
a pair dict, built from the same snapshot rows and updated by the same messages. Random small
snapshots and message streams must give the same pair counts, degrees, neighbours, display-name
answers and link statistics (Adamic-Adar to the bit); the numpy path for big rows, and the probe
of a hub's membership bitmap from a short row, are forced on the same examples by lowering
their thresholds.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from graphdet.exceptions import SnapshotError
from graphdet.features import state as state_module
from graphdet.features.state import TenantState
from graphdet.graph.snapshot import SnapshotWriter, load_snapshot, tenant_folder
from graphdet.rules.context import fold_name
from graphdet.schema import Address, Direction, Message

TENANT = "acme"
AS_OF = datetime(2026, 3, 1, tzinfo=UTC)
NAMES = ["Ann Lee", "ann  lee", "Bob", "Cy Dee", "\u0410nn Lee", ' "Bob" ']  # one has a Cyrillic A: 3 keys


def addr(i: int) -> str:
    return f"u{i}@{'ext.org' if i % 3 == 2 else 'acme.com'}"


@dataclass
class Graph:
    """Snapshot rows and a later stream, as plain Python values."""

    n: int
    edges: dict[tuple[int, int], int]  # (src, dst) -> messages
    names: list[list[str]]  # raw display names per node
    internal: list[bool]
    first_seen: list[datetime]
    stream: list[tuple[int, list[int], str]] = field(default_factory=list)  # (sender, recipients, name)


def write_snapshot(g: Graph, root: Path, *, edge_rows: list[tuple[int, int, int]] | None = None) -> Path:
    """A published snapshot of ``g`` (``edge_rows``: the edges table's rows instead of ``g.edges``)."""
    n = g.n
    rows = edge_rows if edge_rows is not None else [(s, d, m) for (s, d), m in g.edges.items()]
    nodes = pa.table({
        "addr": [addr(i) for i in range(n)],
        "is_internal": g.internal,
        "first_seen": pa.array(g.first_seen, pa.timestamp("us", tz="UTC")),
        "msgs_sent": [sum(m for (s, _), m in g.edges.items() if s == i) for i in range(n)],
        "msgs_received": [sum(m for (_, d), m in g.edges.items() if d == i) for i in range(n)],
        "display_names": pa.array(g.names, pa.list_(pa.string())),
        "pagerank": [1.0 / n] * n,
        "reciprocity": [0.0] * n,
        "clustering": [0.0] * n,
        "community": [0] * n,
        "inbound_known_share": [0.0] * n,
    })
    edges = pa.table({"src_node": pa.array([r[0] for r in rows], pa.int64()),
                      "dst_node": pa.array([r[1] for r in rows], pa.int64()),
                      "msgs": pa.array([r[2] for r in rows], pa.int64())})
    domains = sorted({addr(i).split("@")[1] for i in range(n)})
    dom = pa.table({"domain": domains, "is_internal": [d == "acme.com" for d in domains],
                    "first_seen": pa.array([min(g.first_seen)] * len(domains), pa.timestamp("us", tz="UTC")),
                    "addresses": [1] * len(domains)})
    folder = f"tenants/{tenant_folder(TENANT)}"
    with SnapshotWriter(root, "v1") as w:
        for name, table in (("nodes", nodes), ("edges", edges), ("domains", dom)):
            w.write_table(f"{folder}/{name}.parquet", table)
        w.publish({"as_of": AS_OF.isoformat(), "tenants": {TENANT: {"folder": folder}}})
    return root


def message(k: int, sender: int, rcpts: list[int], name: str) -> Message:
    return Message(tenant=TENANT, message_id=f"<{k}@t>", received_at=AS_OF + timedelta(minutes=k),
                   from_=Address(addr(sender), name), to=tuple(Address(addr(r)) for r in rcpts),
                   direction=Direction.INBOUND)


class Reference:
    """The old TenantState graph: a set per node and a pair dict."""

    def __init__(self, g: Graph) -> None:
        self.node_of = {addr(i): i for i in range(g.n)}
        self.pair: dict[tuple[int, int], int] = dict(g.edges)
        self.out: defaultdict[int, set[int]] = defaultdict(set)
        self.inn: defaultdict[int, set[int]] = defaultdict(set)
        self.nb: defaultdict[int, set[int]] = defaultdict(set)
        self.names: defaultdict[int, set[str]] = defaultdict(set)
        self.users: defaultdict[str, set[int]] = defaultdict(set)
        for (s, d) in g.edges:
            self._link(s, d)
        for i, names in enumerate(g.names):
            for x in names:
                self.names[i].add(fold_name(x))
                self.users[fold_name(x)].add(i)

    def _link(self, s: int, d: int) -> None:
        if s != d:
            self.out[s].add(d)
            self.inn[d].add(s)
            self.nb[s].add(d)
            self.nb[d].add(s)

    def node(self, a: str) -> int:
        return self.node_of.setdefault(a, len(self.node_of))

    def observe(self, m: Message) -> None:
        s = self.node(m.from_.addr)
        if m.from_.name:
            self.names[s].add(fold_name(m.from_.name))
            self.users[fold_name(m.from_.name)].add(s)
        seen = set()
        for r in m.recipients:
            d = self.node(r.addr)
            if d not in seen:
                seen.add(d)
                self.pair[s, d] = self.pair.get((s, d), 0) + 1
                self._link(s, d)

    def link_stats(self, u: int, v: int) -> tuple[int, float]:
        if u == v:
            return 0, 0.0
        common = self.nb[u] & self.nb[v]
        return len(common), math.fsum(1.0 / math.log(len(self.nb[w])) for w in common)


def assert_same(st_: TenantState, ref: Reference) -> None:
    ids = range(len(ref.node_of))
    assert st_.node_of == ref.node_of  # live nodes get ids n_snap, n_snap + 1, ... in order of appearance
    assert st_.n_pairs == len(ref.pair)
    for u in ids:
        assert (st_.out_degree(u), st_.in_degree(u), st_.degree(u)) == (len(ref.out[u]), len(ref.inn[u]),
                                                                        len(ref.nb[u])), u
        assert st_.out_neighbours(u) == ref.out[u]
        assert st_.in_neighbours(u) == ref.inn[u]
        assert st_.neighbours(u) == ref.nb[u]
        for key in {fold_name(x) for x in NAMES}:
            assert st_.has_name(u, key) == (key in ref.names[u]), (u, key)
            assert st_.name_used_by_other(key, u) == any(w != u for w in ref.users[key]), (u, key)
        for v in ids:
            assert st_.pair_msgs(u, v) == ref.pair.get((u, v), 0), (u, v)
            assert st_.link_stats(u, v) == ref.link_stats(u, v), (u, v)
    for key in {fold_name(x) for x in NAMES}:
        assert st_.name_used_by_other(key, None) == bool(ref.users[key])
    assert st_.pair_msgs(None, 0) == 0 and st_.link_stats(0, None) == (0, 0.0)


@st.composite
def graphs(draw: Any) -> Graph:
    n = draw(st.integers(1, 9))
    node = st.integers(0, n - 1)
    edges = draw(st.dictionaries(st.tuples(node, node), st.integers(1, 5), max_size=3 * n))
    names = draw(st.lists(st.lists(st.sampled_from(NAMES), max_size=2, unique=True), min_size=n, max_size=n))
    internal = [addr(i).endswith("acme.com") for i in range(n)]
    us = st.integers(-10**12, 0).map(lambda x: AS_OF + timedelta(microseconds=x))
    first_seen = draw(st.lists(us, min_size=n, max_size=n))
    anyone = st.integers(0, n + 2)  # up to three addresses the snapshot never saw
    stream = draw(st.lists(st.tuples(anyone, st.lists(anyone, min_size=1, max_size=3),
                                     st.sampled_from(["", *NAMES])), max_size=12))
    return Graph(n, edges, names, internal, first_seen, stream)


@pytest.mark.parametrize(("small_rows", "live_loop", "hub_row"), [
    (state_module._SMALL_ROWS, state_module._LIVE_LOOP, state_module._HUB_ROW), (0, 10**6, 10**6), (0, 0, 10**6),
    (0, state_module._LIVE_LOOP, 1),
], ids=["sets", "numpy", "numpy-live-arrays", "hub-bitmaps"])
@given(g=graphs())
def test_compact_state_equals_plain_sets_and_dicts(small_rows: int, live_loop: int, hub_row: int, g: Graph,
                                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    snap = load_snapshot(write_snapshot(g, tmp_path_factory.mktemp("snap")))
    with mock.patch.object(state_module, "_SMALL_ROWS", small_rows), \
            mock.patch.object(state_module, "_LIVE_LOOP", live_loop), \
            mock.patch.object(state_module, "_HUB_ROW", hub_row):  # 1: every non-empty row is a hub
        st_ = TenantState.from_snapshot(snap, TENANT)
        if hub_row == 1:
            assert set(st_._nb.hubs) == {i for i in range(g.n) if st_._nb.snap_list(i)}
        ref = Reference(g)
        assert st_.n_snap == g.n
        assert st_.first_us == [int(t.timestamp() * 1_000_000) for t in g.first_seen]
        assert st_.history_start_us == min(st_.first_us)
        assert_same(st_, ref)
        for k, (s, rcpts, name) in enumerate(g.stream):
            m = message(k, s, rcpts, name)
            st_.observe(m)
            ref.observe(m)
        assert_same(st_, ref)


def test_live_edges_between_snapshot_nodes_count_everywhere(tmp_path: Path) -> None:
    # snapshot: 0 -> 1 (3 messages), 1 -> 2; node 3 alone
    g = Graph(4, {(0, 1): 3, (1, 2): 1}, [["Ann Lee"], [], ["Bob"], []], [True, True, False, True],
              [AS_OF - timedelta(days=3)] * 4)
    st_ = TenantState.from_snapshot(load_snapshot(write_snapshot(g, tmp_path)), TENANT)
    assert (st_.out_degree(0), st_.in_degree(2), st_.degree(0), st_.degree(2)) == (1, 1, 1, 1)
    assert st_.link_stats(0, 1) == (0, 0.0) and st_.link_stats(0, 2) == (1, 1.0 / math.log(2))
    assert st_.pair_msgs(0, 2) == 0 and st_.n_pairs == 2

    st_.observe(message(0, 0, [2, 2], "Ann Lee"))  # a new pair (the repeated recipient counts once)
    assert st_.pair_msgs(0, 2) == 1 and st_.n_pairs == 3
    assert (st_.out_degree(0), st_.in_degree(2), st_.degree(0), st_.degree(2)) == (2, 2, 2, 2)
    assert st_.out_neighbours(0) == {1, 2} and st_.in_neighbours(2) == {0, 1} and st_.neighbours(2) == {0, 1}
    # 2 is now a common neighbour of 0 and 1, and 1 one of 0 and 2 (each of degree 2)
    assert st_.link_stats(0, 1) == (1, 1.0 / math.log(2))
    assert st_.link_stats(0, 2) == (1, 1.0 / math.log(2))

    st_.observe(message(1, 2, [0], "Bob"))  # the reverse of a live pair: a directed edge, no new neighbour
    assert (st_.out_degree(2), st_.in_degree(0), st_.degree(0), st_.degree(2)) == (1, 1, 2, 2)
    st_.observe(message(2, 0, [1, 3], ""))  # a snapshot pair again, and a first contact with 3
    assert st_.pair_msgs(0, 1) == 4 and st_.pair_msgs(0, 3) == 1 and st_.n_pairs == 5
    assert st_.degree(0) == 3 and st_.degree(3) == 1
    # 0 now has degree 3: it weighs 1/log(3) as the common neighbour of 1 and 2, 1 and 3, 2 and 3
    assert st_.link_stats(1, 2) == (1, 1.0 / math.log(3))
    assert st_.link_stats(2, 3) == (1, 1.0 / math.log(3))
    assert st_.has_name(0, fold_name("ann  lee")) and not st_.name_used_by_other(fold_name("Ann Lee"), 0)

    st_.observe(message(3, 3, [1], "Ann Lee"))  # 3 takes 0's display name
    assert st_.has_name(3, fold_name("Ann Lee")) and st_.name_used_by_other(fold_name("Ann Lee"), 0)
    assert st_.internal_names[fold_name("Ann Lee")] == {addr(0), addr(3)}
    assert st_.link_stats(0, 1) == (2, math.fsum([1.0 / math.log(2), 1.0 / math.log(2)]))  # via 2 and 3


def test_hubs_take_the_numpy_path_and_agree_with_sets(tmp_path: Path) -> None:
    """Two hubs with 300 correspondents each, 150 shared, plus live edges on both sides."""
    edges = {(0, i): 1 for i in range(2, 302)} | {(i, 1): 2 for i in range(152, 452)}
    g = Graph(460, edges, [[] for _ in range(460)], [True] * 460, [AS_OF - timedelta(days=1)] * 460)
    st_ = TenantState.from_snapshot(load_snapshot(write_snapshot(g, tmp_path)), TENANT)
    ref = Reference(g)
    assert st_.degree(0) + st_.degree(1) > state_module._SMALL_ROWS
    for k, (s, rcpts) in enumerate([(0, [455, 456]), (1, [455, 2]), (457, [0, 1]), (3, [1]), (458, [459])]):
        m = message(k, s, rcpts, "")
        st_.observe(m)
        ref.observe(m)
    for u, v in [(0, 1), (1, 0), (0, 2), (1, 455), (457, 0), (0, 459)]:
        assert st_.link_stats(u, v) == ref.link_stats(u, v), (u, v)
    assert st_.link_stats(0, 1)[0] == 150 + 4  # shared: 152..301, then 2, 3, 455 and 457 (live)
    with mock.patch.object(state_module, "_SMALL_ROWS", 10**6):  # the set path: the same floats
        assert st_.link_stats(0, 1) == ref.link_stats(0, 1)
    # live sets past _LIVE_LOOP are looked up in the other row as arrays: the same answers
    for k in range(20):
        m = message(10 + k, 0, [460 + k], "")  # twenty live correspondents of 0 ...
        st_.observe(m)
        ref.observe(m)
        m = message(40 + k, 460 + k, [1], "")  # ... who also write to 1
        st_.observe(m)
        ref.observe(m)
    assert len(st_._nb.live[0]) > state_module._LIVE_LOOP
    for u, v in [(0, 1), (1, 0), (0, 460), (2, 1)]:
        assert st_.link_stats(u, v) == ref.link_stats(u, v), (u, v)
    assert st_.link_stats(0, 1)[0] == 150 + 4 + 20


def test_short_rows_probe_a_hubs_bitmap_and_agree_with_sets(tmp_path: Path) -> None:
    """Hub 0 writes to 2..1201 (a bitmap), hub 1 is written to by 700..1900 (a bitmap too);
    short rows and live edges on every side."""
    edges = {(0, i): 1 for i in range(2, 1202)} | {(i, 1): 1 for i in range(700, 1901)}
    edges |= {(1950, i): 1 for i in (3, 700, 800, 1500, 1949)}  # a short row: common with both hubs
    g = Graph(1960, edges, [[] for _ in range(1960)], [True] * 1960, [AS_OF - timedelta(days=1)] * 1960)
    with mock.patch.object(state_module, "_HUB_ROW", 1000):
        st_ = TenantState.from_snapshot(load_snapshot(write_snapshot(g, tmp_path)), TENANT)
    assert set(st_._nb.hubs) == {0, 1}
    ref = Reference(g)
    adjacency = state_module._Adjacency
    probes = mock.patch.object(adjacency, "_probe", autospec=True, side_effect=adjacency._probe)
    pairs = [(1950, 0), (0, 1950), (1950, 1), (1, 1950), (1949, 0), (0, 1), (1955, 0), (1955, 1), (2, 1)]
    for k, (s, rcpts) in enumerate([(0, [1955, 1956]), (1955, [1950, 1]), (1950, [1957]), (1957, [0]),
                                    (1958, [1950, 0]), (1, [1958])]):
        m = message(k, s, rcpts, "")  # live neighbours: of the hubs, of the short row, of both, past n
        st_.observe(m)
        ref.observe(m)
        with probes as probe:
            for u, v in pairs:
                assert st_.link_stats(u, v) == ref.link_stats(u, v), (k, u, v)
        # every pair but the two hubs' own (both rows too long to probe) is answered by a probe
        assert probe.call_count == len(pairs) - 1
    # 3, 700 and 800 in both snapshot rows; 1955, 1957 and 1958 live neighbours of both
    assert st_.link_stats(1950, 0)[0] == 3 + 3
    with mock.patch.object(state_module, "_PROBE_MAX", 0), probes as probe:  # too long to probe: numpy
        assert [st_.link_stats(u, v) for u, v in pairs] == [ref.link_stats(u, v) for u, v in pairs]
        assert probe.call_count == 0


def test_hub_bitmaps_take_the_largest_rows_within_the_budget(tmp_path: Path) -> None:
    edges = {(0, i): 1 for i in range(1, 40)} | {(40, i): 1 for i in range(41, 60)}
    edges |= {(60, i): 1 for i in range(61, 90)}
    g = Graph(100, edges, [[] for _ in range(100)], [True] * 100, [AS_OF - timedelta(days=1)] * 100)
    snap = load_snapshot(write_snapshot(g, tmp_path))
    with mock.patch.object(state_module, "_HUB_ROW", 19), mock.patch.object(state_module, "_HUB_BYTES", 2 * 13):
        st_ = TenantState.from_snapshot(snap, TENANT)  # bitmaps of 13 bytes (100 nodes): room for two
    assert set(st_._nb.hubs) == {0, 60}  # 39 and 29 neighbours; 40's 19 did not fit
    bits = np.unpackbits(np.frombuffer(st_._nb.hubs[60], dtype=np.uint8), bitorder="little")[:100]
    assert np.flatnonzero(bits).tolist() == sorted(st_.neighbours(60)) == list(range(61, 90))



@pytest.mark.parametrize(("rows", "error"), [
    ([(0, 5, 1)], r"an edge names a node outside 0\.\.2 \(src_node 0\.\.0, dst_node 5\.\.5\)"),
    ([(0, 1, 1), (1, 2, 1), (0, 1, 2)], r"1 repeated pairs, e\.g\. src_node 0 -> dst_node 1"),
])
def test_a_corrupt_edge_table_is_refused(rows: list[tuple[int, int, int]], error: str, tmp_path: Path) -> None:
    g = Graph(3, {}, [[], [], []], [True, True, False], [AS_OF] * 3)
    with pytest.raises(SnapshotError, match=error):
        TenantState.from_snapshot(load_snapshot(write_snapshot(g, tmp_path, edge_rows=rows)), TENANT)


def test_internal_domain_answers_follow_a_growing_set_of_internal_domains(monkeypatch: pytest.MonkeyPatch) -> None:
    """The remembered answers of ``is_internal_domain`` change when an outbound message shows a
    new domain of the tenant's, and a full memo starts over instead of growing."""
    monkeypatch.setattr(state_module, "_MEMO_SIZE", 4)
    st = TenantState(TENANT)
    st.internal_domains.add("acme.com")
    asked = ["acme.com", "mail.acme.com", "b.net", "x.b.net", "ext.org", "a.b.c.d.net"]
    assert [st.is_internal_domain(d) for d in asked] == [True, True, False, False, False, False]
    assert len(st._internal_memo) <= 4
    out = Message(tenant=TENANT, message_id="<o@t>", received_at=AS_OF, from_=Address("ann@b.net"),
                  to=(Address("u1@ext.org"),), direction=Direction.OUTBOUND)
    st.observe(out)
    assert [st.is_internal_domain(d) for d in asked] == [True, True, True, True, False, False]
    assert "b.net" in st.internal_domains


def test_the_inverse_log_table_grows_past_the_degrees_it_was_built_for(tmp_path: Path) -> None:
    """Adamic-Adar terms come from a shared 1/log(k) table, built at load up to the snapshot's
    biggest degree (plus headroom); a degree that grows past it extends the table."""
    g = Graph(4, {(0, 1): 1, (1, 2): 1, (1, 3): 1}, [[], [], [], []], [True] * 4, [AS_OF - timedelta(days=1)] * 4)
    st_ = TenantState.from_snapshot(load_snapshot(write_snapshot(g, tmp_path)), TENANT)
    assert len(state_module._INV_LOG) > 3 + 1000
    with mock.patch.object(state_module, "_INV_LOG", [math.nan, math.nan]):  # a table that is too short
        assert st_.link_stats(0, 2) == (1, 1.0 / math.log(3))  # via 1, of degree 3
        assert len(state_module._INV_LOG) > 3 and state_module._INV_LOG[3] == 1.0 / math.log(3)
    short = [math.nan, math.nan]
    with mock.patch.object(state_module, "_INV_LOG", short), \
            mock.patch.object(state_module, "_INV_LOG_ARRAY", np.array(short)), \
            mock.patch.object(state_module, "_SMALL_ROWS", 0):  # the numpy path reads the array
        assert st_.link_stats(0, 2) == (1, 1.0 / math.log(3))
        assert state_module._INV_LOG_ARRAY[3] == 1.0 / math.log(3)
    # growers racing each other append each degree once
    with mock.patch.object(state_module, "_INV_LOG", [math.nan, math.nan]):
        threads = [threading.Thread(target=state_module._grow_inv_log, args=(200_000 + 1000 * i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        table = state_module._INV_LOG
        assert all(table[k] == 1.0 / math.log(k) for k in range(2, len(table)))
