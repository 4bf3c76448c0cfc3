"""OnlineState: a snapshot as compact arrays, plus live deltas after every message.

Between two rebuilds the snapshot goes stale: the first message from a new sender must count
as a first contact, the second one not. :meth:`TenantState.observe` applies one message's
effect (pair counts, new addresses and domains, display names) after it has been decided, so
the next message sees it. A :class:`TenantState` also implements the rules'
:class:`~graphdet.rules.context.TenantContext`, so message signals see the same live view.

The snapshot's graph is held as numpy arrays: CSR rows of out-, in- and undirected
neighbours, pair counts in rows by sender, display names by id. Only what
:meth:`TenantState.observe` learns after the snapshot lives in dicts and sets, and every
lookup answers snapshot plus live. For a tenant with 1M edges this is ~40 MB where per-node
Python sets and a pair dict took ~500 MB (issue 7).

One :class:`OnlineState` holds one :class:`TenantState` per tenant; tenants share nothing.
Not thread-safe by itself: serving serialises :meth:`TenantState.observe` per tenant.
"""

from __future__ import annotations

import logging
import math
import threading
from bisect import bisect_left
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphdet.exceptions import SnapshotError
from graphdet.gnn.signals import GNNIndex, load_arrays
from graphdet.graph.snapshot import Snapshot, load_snapshot
from graphdet.rules.context import NameTable, fold_name, parent_domains
from graphdet.rules.nameindex import NameIndex
from graphdet.rules.text import decode_domain, skeleton
from graphdet.rules.view import registrable
from graphdet.schema import Category, Direction, Message

__all__ = ["OnlineState", "TenantState"]

logger = logging.getLogger(__name__)

_US_PER_DAY = 86_400_000_000
_LOW32 = (1 << 32) - 1
_SMALL_ROWS = 256  # link_stats intersects Python sets up to this many snapshot neighbours, numpy beyond
_LIVE_LOOP = 8  # on the numpy path, live neighbour sets up to this size are looked up one by one
_HUB_ROW = 1024  # snapshot rows this long get a membership bitmap (link_stats probes it from the other side)
_HUB_BYTES = 32 << 20  # one adjacency's bitmaps, largest rows first, take at most this (and its ids' bytes)
_PROBE_MAX = 256  # link_stats probes a hub's bitmap from a side with at most this many neighbours
_NO_IDS = np.zeros(0, dtype=np.int32)
_NO_LIVE: frozenset[int] = frozenset()
_MEMO_SIZE = 65_536  # domains whose internal-or-not answer a TenantState remembers


def _us(t: datetime) -> int:
    return int(t.timestamp() * 1_000_000)


def _us_column(column: pa.ChunkedArray) -> np.ndarray:
    """:func:`_us` of every value of a UTC timestamp[us] column, to the bit: ``timestamp()`` is
    the correctly rounded quotient µs / 1e6, which float64 division of the (exact) µs gives too."""
    exact: np.ndarray = pc.cast(column, pa.int64()).to_numpy()
    us: np.ndarray = (exact.astype(np.float64) / 1e6 * 1_000_000).astype(np.int64)
    return us


def _row_starts(rows: np.ndarray, n: int) -> np.ndarray:
    """CSR row pointers (length ``n + 1``) of row ids sorted ascending."""
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=ptr[1:])
    return ptr


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` by sorting (numpy 2's hash-based unique is ~10x slower on 2M int64 keys)."""
    values = np.sort(values)
    keep = np.ones(len(values), dtype=bool)
    keep[1:] = values[1:] != values[:-1]
    return values[keep]


def _in_sorted(values: np.ndarray, x: int) -> bool:
    j = int(values.searchsorted(x))
    return j < len(values) and int(values[j]) == x


def _sorted_members(values: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The elements of ``xs`` that are in the sorted ``values``: one binary search each, in C
    (``np.intersect1d`` sorts both arrays again; a hub's rows hold thousands of ids)."""
    if not len(values) or not len(xs):
        return xs[:0]
    j = values.searchsorted(xs)
    found: np.ndarray = xs[values[np.minimum(j, len(values) - 1)] == xs]
    return found


_INV_LOG: list[float] = [math.nan, math.nan]  # 1 / log(k) by degree k >= 2, shared, grown on demand
_INV_LOG_ARRAY = np.array(_INV_LOG)  # the same floats as an array (replaced, never changed, when it grows)
_INV_LOG_LOCK = threading.Lock()


def _grow_inv_log(top: int) -> None:
    """Extend :data:`_INV_LOG` past degree ``top``, and its array (appended in place, so a reader
    sees a shorter table at worst and grows it again). Built at load up to the snapshot's biggest
    degree: with a hub of 75,000 correspondents, the first decision that met it built a table per
    state, 20-40 ms."""
    global _INV_LOG_ARRAY
    if top < len(_INV_LOG):
        return
    with _INV_LOG_LOCK:  # one grower at a time (a snapshot may load while another state decides)
        if top >= len(_INV_LOG):  # 1,024 degrees of headroom: a growing hub extends it ~80 µs at a time
            _INV_LOG.extend([1.0 / math.log(k) for k in range(len(_INV_LOG), top + 1025)])
            _INV_LOG_ARRAY = np.array(_INV_LOG)


def _live_members(values: np.ndarray, live: set[int]) -> list[int]:
    """The ids of a live neighbour set that are in the sorted snapshot row ``values`` (the set as
    an array of the row's own dtype: a mixed comparison would copy the whole row)."""
    if len(live) <= _LIVE_LOOP:
        return [w for w in live if _in_sorted(values, w)]
    found: list[int] = _sorted_members(values, np.fromiter(live, dtype=values.dtype, count=len(live))).tolist()
    return found


class _Adjacency:
    """Neighbour sets in one direction: the snapshot's as CSR rows (sorted int32 ids), live
    additions as a small set per node that got any. A live set never repeats a snapshot
    neighbour (the caller adds only first contacts), so a degree is the sum of the two.
    Scalar reads go through memoryviews (plain ints, no numpy scalar boxing)."""

    def __init__(self, ptr: np.ndarray, ids: np.ndarray) -> None:
        self.ptr = ptr
        self.ids = ids
        self.live: dict[int, set[int]] = {}
        self.live_n = np.zeros(len(ptr) - 1, dtype=np.int32)  # len(live[i]) of snapshot nodes
        self.n_snap = len(ptr) - 1
        self.deg: list[int] = np.diff(ptr).tolist()  # snapshot + live, grown for live nodes (~8 B a node)
        if self.deg:
            _grow_inv_log(max(self.deg))  # at load, not at the first decision that meets the biggest hub
        self._ptr = ptr.data
        self._ids = ids.data
        self.hubs: dict[int, bytes] = {}  # snapshot row -> membership bitmap (index_hubs)

    def index_hubs(self) -> None:
        """Membership bitmaps of the longest snapshot rows (at least :data:`_HUB_ROW` ids),
        largest first, within :data:`_HUB_BYTES` and the bytes of the adjacency's own ids (so
        they never more than double it, per tenant): bit ``w`` of row ``i``'s bitmap says ``w``
        is a snapshot neighbour of ``i``. One bitmap is ``n_snap / 8`` bytes (16 KB for 130,000
        nodes) and, as ``bytes``, nothing the garbage collector scans (a Python set of a
        75,000-id row would be ~4 MB of int objects)."""
        n = self.n_snap
        lengths = np.diff(self.ptr)
        rows = np.flatnonzero(lengths >= _HUB_ROW)
        size = (n + 7) // 8
        budget = min(_HUB_BYTES, self.ids.nbytes)
        hubs: dict[int, bytes] = {}
        for i in rows[np.argsort(-lengths[rows], kind="stable")].tolist()[: budget // max(size, 1)]:
            mask = np.zeros(n, dtype=bool)
            mask[self.ids[self.ptr[i] : self.ptr[i + 1]]] = True
            hubs[i] = np.packbits(mask, bitorder="little").tobytes()
        self.hubs = hubs

    @classmethod
    def from_edges(cls, rows: np.ndarray, cols: np.ndarray, n: int) -> _Adjacency:
        """From distinct (row, col) pairs sorted by row, then col."""
        return cls(_row_starts(rows, n), cols.astype(np.int32))

    def snap_row(self, i: int) -> np.ndarray:
        if i < self.n_snap:
            return self.ids[self._ptr[i] : self._ptr[i + 1]]
        return _NO_IDS

    def snap_list(self, i: int) -> list[int]:
        return self._ids[self._ptr[i] : self._ptr[i + 1]].tolist() if i < self.n_snap else []

    def degree(self, i: int) -> int:
        return self.deg[i] if i < len(self.deg) else 0

    def neighbours(self, i: int) -> set[int]:
        out = set(self.snap_list(i))
        live = self.live.get(i)
        if live:
            out |= live
        return out

    def link_stats(self, u: int, v: int) -> tuple[int, float]:
        """Common neighbours of ``u != v`` and the ``math.fsum`` of ``1 / log(degree)`` over them."""
        lu, lv = self.live.get(u), self.live.get(v)
        ptr, n = self._ptr, self.n_snap
        su = ptr[u + 1] - ptr[u] if u < n else 0
        sv = ptr[v + 1] - ptr[v] if v < n else 0
        if su + sv <= _SMALL_ROWS:
            if su > sv:
                u, v, lu, lv = v, u, lv, lu
            ids = self._ids
            # (sets built per call: remembered sets would be scanned by every young GC collection)
            small = set(ids[ptr[u] : ptr[u + 1]].tolist()) if u < n else set()
            if lu:
                small |= lu
            common = small.intersection(ids[ptr[v] : ptr[v + 1]].tolist()) if v < n else set()
            if lv:
                common |= small & lv
            return self._adamic_adar(common)
        hubs = self.hubs
        if hubs:  # one side a hub, the other short: probe the hub's bitmap with the short side's ids
            bits = hubs.get(v)
            if bits is None and (bits := hubs.get(u)) is not None:
                u, v, lu, lv, su = v, u, lv, lu, sv
            if bits is not None and su + (len(lu) if lu else 0) <= _PROBE_MAX:
                return self._probe(u, lu, lv, bits)
        # big rows: the snapshot parts intersect in numpy, live sets one by one or (past _LIVE_LOOP) as arrays
        au, av = self.snap_row(u), self.snap_row(v)
        both = _sorted_members(av, au) if len(au) <= len(av) else _sorted_members(au, av)
        terms: list[float] = self._inv_log_of(self.ptr[both + 1] - self.ptr[both] + self.live_n[both]).tolist()
        # live neighbours are never in the same node's snapshot row: a live neighbour of u is
        # common if it is one of v's (live or snapshot), one of v's only if it is in u's snapshot
        extra: list[int] = []
        if lu:
            if lv:
                extra += lu & lv
                extra += _live_members(av, lu - lv)
            else:
                extra += _live_members(av, lu)
        if lv:
            extra += _live_members(au, lv)
        if extra:
            terms += self._inv_log_terms(extra)
        return len(both) + len(extra), math.fsum(terms)

    def _probe(self, u: int, lu: set[int] | None, lv: set[int] | None, bits: bytes) -> tuple[int, float]:
        """:meth:`link_stats` of a short side ``u`` and a hub whose snapshot row is ``bits``:
        each of ``u``'s neighbours is looked up in the hub's bitmap and live set."""
        n = self.n_snap
        mine = self._ids[self._ptr[u] : self._ptr[u + 1]].tolist() if u < n else []
        if lu:
            mine += lu
        other = lv or _NO_LIVE
        # (a live id may be past the snapshot, and so past the bitmap)
        return self._adamic_adar([w for w in mine if (w < n and bits[w >> 3] >> (w & 7) & 1) or w in other])

    def _adamic_adar(self, common: Collection[int]) -> tuple[int, float]:
        """How many ``common`` neighbours, and the ``math.fsum`` of ``1 / log(degree)`` over them."""
        if not common:
            return 0, 0.0
        return len(common), math.fsum(self._inv_log_terms(common))

    def _inv_log_terms(self, nodes: Collection[int]) -> list[float]:
        """``1 / log(degree)`` of each node (a common neighbour has degree >= 2), by table."""
        deg = self.deg
        try:
            return [_INV_LOG[deg[w]] for w in nodes]
        except IndexError:  # a degree past the table (a live neighbour made it grow)
            _grow_inv_log(max(deg[w] for w in nodes))
            return [_INV_LOG[deg[w]] for w in nodes]

    def _inv_log_of(self, degrees: np.ndarray) -> np.ndarray:
        """``1.0 / math.log(k)`` for each degree ``k >= 2``: the floats computed one by one, by table."""
        if not len(degrees):
            return np.zeros(0)
        top = int(degrees.max())
        _grow_inv_log(top)
        out: np.ndarray = _INV_LOG_ARRAY[degrees]
        return out

    def add(self, i: int, j: int) -> None:
        """``j`` becomes a neighbour of ``i`` (it was not one)."""
        self.live.setdefault(i, set()).add(j)
        if i < self.n_snap:
            self.live_n[i] += 1
        if i >= len(self.deg):
            self.deg.extend([0] * (i + 1 - len(self.deg)))
        self.deg[i] += 1


class _PairCounts:
    """Messages per directed pair: the snapshot's as CSR rows by sender (sorted recipients,
    binary-searched) with their counts, live messages in a dict keyed ``src << 32 | dst``."""

    def __init__(self, ptr: np.ndarray, dst: np.ndarray, msgs: np.ndarray) -> None:
        self.ptr = ptr
        self.dst = dst
        self.msgs = msgs
        self.live: dict[int, int] = {}
        self.n_new = 0  # pairs first seen live
        self.n_snap = len(ptr) - 1
        self._ptr = ptr.data
        self._dst = dst.data
        self._msgs = msgs.data

    def _snap_index(self, s: int, d: int) -> int:
        if s >= self.n_snap or d >= self.n_snap:
            return -1
        end = self._ptr[s + 1]
        j = bisect_left(self._dst, d, self._ptr[s], end)
        return j if j < end and self._dst[j] == d else -1

    def get(self, s: int, d: int) -> int:
        n = self.live.get((s << 32) | d, 0)
        j = self._snap_index(s, d)
        return n + self._msgs[j] if j >= 0 else n

    def exists(self, s: int, d: int) -> bool:
        return (s << 32) | d in self.live or self._snap_index(s, d) >= 0

    def add(self, s: int, d: int) -> bool:
        """One more message on the pair; true if it is the pair's first."""
        key = (s << 32) | d
        n = self.live.get(key, 0)
        first = n == 0 and self._snap_index(s, d) < 0
        self.live[key] = n + 1
        self.n_new += first
        return first


class _Names:
    """Folded display names per sender and senders per name: the snapshot's as CSR rows over
    name ids, live additions in dicts (disjoint from the snapshot's)."""

    def __init__(self, key_id: dict[str, int], node_ptr: np.ndarray, node_keys: np.ndarray,
                 user_ptr: np.ndarray, users: np.ndarray) -> None:
        self.key_id = key_id
        self.node_ptr = node_ptr  # snapshot node -> its name ids
        self.node_keys = node_keys
        self.user_ptr = user_ptr  # name id -> snapshot nodes that used it
        self.users = users
        self.live_names: dict[int, set[str]] = {}
        self.live_users: dict[str, set[int]] = {}
        self._node_ptr = node_ptr.data
        self._node_keys = node_keys.data
        self._user_ptr = user_ptr.data
        self._users = users.data

    def has(self, i: int, key: str) -> bool:
        k = self.key_id.get(key)
        if k is not None and i < len(self._node_ptr) - 1 and \
                k in self._node_keys[self._node_ptr[i] : self._node_ptr[i + 1]].tolist():
            return True
        live = self.live_names.get(i)
        return live is not None and key in live

    def used_by_other(self, key: str, i: int | None) -> bool:
        k = self.key_id.get(key)
        if k is not None:
            start, end = self._user_ptr[k], self._user_ptr[k + 1]
            if end - start > 1 or (end - start == 1 and self._users[start] != i):
                return True
        live = self.live_users.get(key)
        return live is not None and (len(live) > 1 or i not in live)

    def add(self, i: int, key: str) -> None:
        """Sender ``i`` used ``key`` (it had not)."""
        self.live_names.setdefault(i, set()).add(key)
        self.live_users.setdefault(key, set()).add(i)


def _empty_adjacency() -> _Adjacency:
    return _Adjacency(np.zeros(1, dtype=np.int64), _NO_IDS)


class TenantState:
    """One tenant's graph view: snapshot arrays for known nodes, dicts for everything live.

    Node ids: snapshot addresses keep their snapshot id (``0..n_snap-1``); an address first
    seen live gets the next free id. Per-node statistics that only a rebuild can compute
    (PageRank, community, clustering, reciprocity) are NaN for live nodes.
    """

    def __init__(self, tenant: str, *, executives: Iterable[str] = ()) -> None:
        self.tenant = tenant
        self.executives = frozenset(a.lower() for a in executives)
        self.node_of: dict[str, int] = {}
        self.addrs: list[str] = []
        self.n_snap = 0
        # per-node counters (grow with live nodes)
        self.sent: list[int] = []
        self.received: list[int] = []
        self.first_us: list[int] = []
        self.internal: list[bool] = []
        # the graph: snapshot arrays + live deltas, read through the lookups below
        self._out = _empty_adjacency()  # recipients written to
        self._in = _empty_adjacency()  # senders heard from
        self._nb = _empty_adjacency()  # correspondents in either direction
        self._pairs = _PairCounts(np.zeros(1, dtype=np.int64), _NO_IDS, _NO_IDS)
        self._names = _Names({}, np.zeros(1, dtype=np.int64), _NO_IDS, np.zeros(1, dtype=np.int64), _NO_IDS)
        # snapshot-only statistics (index < n_snap)
        self.pagerank = np.zeros(0)
        self.reciprocity = np.zeros(0)
        self.clustering = np.zeros(0)
        self.community = np.zeros(0, dtype=np.int64)
        self.known_share = np.zeros(0)
        self.domain_first_us: dict[str, int] = {}
        self.domain_addresses: dict[str, int] = {}
        self.internal_domains: set[str] = set()
        self._internal_memo: dict[str, bool] = {}  # is_internal_domain; emptied when internal_domains grows
        self.internal_names: dict[str, set[str]] = {}  # folded name -> internal addresses
        self.attacked: dict[int, int] = {}  # recipient id -> time of its last labelled attack
        self.history_start_us: int | None = None
        self.gnn: GNNIndex | None = None
        self.snapshot_version = ""
        self.known_registrable: set[str] = set()
        self._refs: list[str] | None = None  # look-alike reference domains and their skeletons
        self._ref_skeletons: list[str] = []
        self._name_tables: dict[tuple[bool, int], NameTable] = {}
        self._name_pending: dict[tuple[bool, int], set[str]] = {}  # per table: internal names changed since
        self._name_indexes: dict[tuple[bool, int], NameIndex] = {}  # per table, built on first use

    # ------------------------------------------------------------------ building

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot, tenant: str, *, executives: Iterable[str] = ()) -> TenantState:
        st = cls(tenant, executives=executives)
        st.snapshot_version = snapshot.version
        nodes = snapshot.table(tenant, "nodes")
        domains = snapshot.table(tenant, "domains", ["domain", "is_internal", "first_seen", "addresses"]).to_pydict()
        n = nodes.num_rows
        st.n_snap = n
        st.addrs = nodes.column("addr").to_pylist()
        st.node_of = {a: i for i, a in enumerate(st.addrs)}
        st.sent = nodes.column("msgs_sent").to_pylist()
        st.received = nodes.column("msgs_received").to_pylist()
        first_us = _us_column(nodes.column("first_seen"))
        st.first_us = first_us.tolist()
        st.internal = nodes.column("is_internal").to_pylist()
        st._load_edges(snapshot.table(tenant, "edges", ["src_node", "dst_node", "msgs"]), n)
        st._load_names(nodes.column("display_names"), n)

        def floats(name: str) -> np.ndarray:
            return np.asarray(nodes.column(name).to_numpy(), dtype=np.float64)

        st.pagerank = floats("pagerank")
        st.reciprocity = floats("reciprocity")
        st.clustering = floats("clustering")
        st.community = np.asarray(nodes.column("community").to_numpy(), dtype=np.int64)
        st.known_share = floats("inbound_known_share")
        for d, internal, first, count in zip(
            domains["domain"], domains["is_internal"], domains["first_seen"], domains["addresses"], strict=True
        ):
            st.domain_first_us[d] = _us(first)
            st.domain_addresses[d] = count
            st.known_registrable.add(registrable(d))
            if internal:
                st.internal_domains.add(d)  # (before any is_internal_domain: no memo to empty)
        st.history_start_us = int(first_us.min()) if n else None
        info = snapshot.manifest["tenants"][tenant]
        if snapshot.manifest.get("gnn") and info.get("gnn_rows"):
            try:
                st.gnn = GNNIndex(load_arrays(snapshot.path / info["folder"]), snapshot.manifest["gnn"]["bias"],
                                  n, list(domains["domain"]))
                st.gnn.attach_edges(st._pairs.ptr, st._pairs.dst)
            except (OSError, ValueError) as e:
                logger.warning("tenant %s: GNN arrays unusable (%s); GNN signals off", tenant, e)
        return st

    def _load_edges(self, edges: pa.Table, n: int) -> None:
        """Pair counts and the three neighbour CSRs from the snapshot's edges, vectorised."""
        src = edges.column("src_node").to_numpy().astype(np.int64)
        dst = edges.column("dst_node").to_numpy().astype(np.int64)
        if len(src) and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= n):
            raise SnapshotError(f"snapshot {self.snapshot_version}, tenant {self.tenant}: an edge names a node "
                                f"outside 0..{n - 1} (src_node {src.min()}..{src.max()}, dst_node "
                                f"{dst.min()}..{dst.max()})")
        msgs = edges.column("msgs").to_numpy()
        key = (src << 32) | dst
        order = np.argsort(key)
        key, msgs = key[order], msgs[order]
        repeated = np.flatnonzero(key[1:] == key[:-1])
        if len(repeated):
            k = int(key[repeated[0]])
            raise SnapshotError(f"snapshot {self.snapshot_version}, tenant {self.tenant}: the edges hold "
                                f"{len(repeated)} repeated pairs, e.g. src_node {k >> 32} -> dst_node {k & _LOW32}")
        if len(msgs) and int(msgs.max()) < 2**31:
            msgs = msgs.astype(np.int32)
        src, dst = key >> 32, key & _LOW32
        self._pairs = _PairCounts(_row_starts(src, n), dst.astype(np.int32), msgs)
        link = src != dst  # a self-loop counts messages but makes no neighbour
        src, dst = src[link], dst[link]
        self._out = _Adjacency.from_edges(src, dst, n)
        by_dst = np.lexsort((src, dst))
        self._in = _Adjacency.from_edges(dst[by_dst], src[by_dst], n)
        both = _sorted_unique(np.concatenate([(src << 32) | dst, (dst << 32) | src]))
        self._nb = _Adjacency.from_edges(both >> 32, both & _LOW32, n)
        self._nb.index_hubs()  # (link_stats reads only the undirected one)

    def _load_names(self, display_names: pa.ChunkedArray, n: int) -> None:
        """Folded display names per snapshot node, and the internal ones' owners."""
        lists = display_names.combine_chunks()
        raw = pc.list_flatten(lists).dictionary_encode()
        node = pc.list_parent_indices(lists).to_numpy().astype(np.int64)
        key_id: dict[str, int] = {}
        keys: list[str] = []
        raw_key = np.zeros(len(raw.dictionary), dtype=np.int64)
        for j, name in enumerate(raw.dictionary.to_pylist()):
            key = fold_name(name)
            k = key_id.get(key)
            if k is None:
                k = key_id[key] = len(keys)
                keys.append(key)
            raw_key[j] = k
        pair = _sorted_unique((node << 32) | raw_key[raw.indices.to_numpy().astype(np.int64)])
        node, kid = pair >> 32, pair & _LOW32
        by_key = np.lexsort((node, kid))
        self._names = _Names(key_id, _row_starts(node, n), kid.astype(np.int32),
                             _row_starts(kid[by_key], len(keys)), node[by_key].astype(np.int32))
        for i, k in zip(node.tolist(), kid.tolist(), strict=True):
            if self.internal[i]:
                self.internal_names.setdefault(keys[k], set()).add(self.addrs[i])

    def node(self, addr: str, t_us: int, internal: bool) -> int:
        """The id of ``addr``, creating a live node the first time it is seen."""
        i = self.node_of.get(addr)
        if i is not None:
            return i
        i = len(self.addrs)
        self.node_of[addr] = i
        self.addrs.append(addr)
        self.sent.append(0)
        self.received.append(0)
        self.first_us.append(t_us)
        self.internal.append(internal)
        return i

    # ------------------------------------------------------------------ live deltas

    def observe(self, m: Message, t_us: int | None = None) -> None:
        """Learn from one message (after its decision): counts, new nodes, names, domains.
        ``t_us``: the message's time in µs when the caller has it already."""
        t = _us(m.received_at) if t_us is None else t_us
        if self.history_start_us is None or t < self.history_start_us:
            self.history_start_us = t
        sender_domain = m.from_.domain
        if m.direction in (Direction.INTERNAL, Direction.OUTBOUND) and sender_domain not in self.internal_domains:
            self.internal_domains.add(sender_domain)  # ingest knew the sender is ours
            self._internal_memo.clear()
        sender_internal = self.is_internal_domain(sender_domain)
        s = self.node(m.from_.addr, t, sender_internal)
        self.sent[s] += 1
        self._see_domain(m.from_.domain, t)
        if m.from_.name:
            name_key = fold_name(m.from_.name)
            if not self._names.has(s, name_key):
                self._names.add(s, name_key)
                if sender_internal:
                    self.internal_names.setdefault(name_key, set()).add(m.from_.addr)
                    for pending in self._name_pending.values():  # the tables take it when next asked
                        pending.add(name_key)
        seen: set[int] = set()
        for r in m.recipients:
            d = self.node(r.addr, t, self.is_internal_domain(r.domain))
            if d in seen:
                continue
            seen.add(d)
            self.received[d] += 1
            self._see_domain(r.domain, t)
            if self._pairs.add(s, d) and s != d:  # first s -> d: new neighbours
                self._out.add(s, d)
                self._in.add(d, s)
                if not self._pairs.exists(d, s):
                    self._nb.add(s, d)
                    self._nb.add(d, s)

    def _see_domain(self, domain: str, t: int) -> None:
        if domain not in self.domain_first_us:
            self.domain_first_us[domain] = t
            self.domain_addresses[domain] = 0
            self.known_registrable.add(registrable(domain))
            if self._refs is not None:
                self._refs.append(domain)
                self._ref_skeletons.append(skeleton(decode_domain(domain)))
        # address counts are refreshed by the next rebuild; a live count is enough here

    def record_label(self, m: Message, category: Category) -> None:
        """Feedback: ``m`` was an attack; its recipients count as attacked from its time on."""
        if not category.is_attack:
            return
        t = _us(m.received_at)
        for r in m.recipients:
            i = self.node_of.get(r.addr)
            if i is not None:
                self.attacked[i] = max(self.attacked.get(i, 0), t)

    # ------------------------------------------------------------------ lookups

    @property
    def n_pairs(self) -> int:
        """Distinct directed pairs with at least one message (snapshot and live)."""
        return len(self._pairs.dst) + self._pairs.n_new

    def pair_msgs(self, s: int | None, d: int | None) -> int:
        if s is None or d is None:
            return 0
        return self._pairs.get(s, d)

    def sender_pairs(self, s: int, rcpts: list[int | None]) -> tuple[int, int, int, int, int, float]:
        """Sender ``s`` and its distinct recipients (``None``: never seen): how many it never
        wrote to, the fewest and most earlier messages ``s`` -> a recipient, the most a
        recipient sent ``s``, and the most common neighbours and highest Adamic-Adar of a pair.
        :meth:`pair_msgs` and :meth:`link_stats` per recipient, in one pass (once per message
        decided)."""
        pairs = self._pairs
        live, snap_index, msgs = pairs.live, pairs._snap_index, pairs._msgs
        link_stats = self._nb.link_stats
        first = reverse_max = common_max = 0
        pair_min = pair_max = -1
        aa_max = 0.0
        for k, d in enumerate(rcpts):
            if d is None:
                p = r = c = 0
                a = 0.0
            else:
                p = live.get((s << 32) | d, 0)
                j = snap_index(s, d)
                if j >= 0:
                    p += msgs[j]
                r = live.get((d << 32) | s, 0)
                j = snap_index(d, s)
                if j >= 0:
                    r += msgs[j]
                c, a = link_stats(s, d) if d != s else (0, 0.0)
            if k == 0:
                pair_min = pair_max = p
                reverse_max, common_max, aa_max = r, c, a
            else:
                pair_min, pair_max = min(pair_min, p), max(pair_max, p)
                reverse_max, common_max = max(reverse_max, r), max(common_max, c)
                if a > aa_max:
                    aa_max = a
            first += p == 0
        return first, pair_min, pair_max, reverse_max, common_max, aa_max

    def out_degree(self, i: int) -> int:
        """Distinct recipients ``i`` wrote to (self excluded)."""
        return self._out.degree(i)

    def in_degree(self, i: int) -> int:
        """Distinct senders ``i`` heard from (self excluded)."""
        return self._in.degree(i)

    def degree(self, i: int) -> int:
        """Distinct correspondents of ``i`` in either direction."""
        return self._nb.degree(i)

    def out_neighbours(self, i: int) -> set[int]:
        return self._out.neighbours(i)

    def in_neighbours(self, i: int) -> set[int]:
        return self._in.neighbours(i)

    def neighbours(self, i: int) -> set[int]:
        """Correspondents in either direction (a new set)."""
        return self._nb.neighbours(i)

    def has_name(self, i: int, key: str) -> bool:
        """Sender ``i`` used the folded display name ``key`` before."""
        return self._names.has(i, key)

    def name_used_by_other(self, key: str, i: int | None) -> bool:
        """A sender other than ``i`` used the folded display name ``key`` before."""
        return self._names.used_by_other(key, i)

    def link_stats(self, u: int | None, v: int | None) -> tuple[int, float]:
        """Common neighbours and Adamic-Adar of (u, v) on the live undirected graph.

        Adamic-Adar is ``math.fsum`` of ``1 / log(degree)`` over the common neighbours: exactly
        rounded, so it does not depend on the order they are found in (Python sets for small
        rows, numpy for big ones give the same float).
        """
        if u is None or v is None or u == v:
            return 0, 0.0
        return self._nb.link_stats(u, v)

    def history_days(self, t_us: int) -> float:
        if self.history_start_us is None:
            return 0.0
        return max(0.0, (t_us - self.history_start_us) / _US_PER_DAY)

    # ------------------------------------------------------------------ TenantContext

    @property
    def available(self) -> bool:
        return self.history_start_us is not None

    def is_internal_domain(self, domain: str) -> bool:
        known = self._internal_memo.get(domain)
        if known is None:
            internal = self.internal_domains
            known = domain in internal or any(d in internal for d in parent_domains(domain))
            if len(self._internal_memo) >= _MEMO_SIZE:
                self._internal_memo.clear()
            self._internal_memo[domain] = known
        return known

    def knows_domain(self, domain: str) -> bool:
        """Seen before: the domain, a parent of it, or a sibling under the same registrable domain."""
        if domain in self.domain_first_us:
            return True
        domain = domain.lower()
        if any(d in self.domain_first_us for d in parent_domains(domain)):
            return True
        return registrable(domain) in self.known_registrable

    def knows_link_domain(self, domain: str) -> bool:
        return self.knows_domain(domain)

    def sender_known(self, addr: str) -> bool:
        i = self.node_of.get(addr.lower())
        return i is not None and self.sent[i] > 0

    def internal_display_names(self) -> Mapping[str, tuple[str, ...]]:
        return {k: tuple(sorted(v)) for k, v in self.internal_names.items()}

    def executive_addresses(self) -> Collection[str]:
        return self.executives

    def correspondent_domains(self) -> Collection[str]:
        return [d for d in self.domain_first_us if d not in self.internal_domains]

    def tenant_domains(self) -> Collection[str]:
        return self.internal_domains

    def name_table(self, execs_only: bool, min_length: int) -> NameTable:
        """Internal display names (at least ``min_length`` long; with ``execs_only``, those an
        executive uses) in sorted order, and their sorted addresses: the same object until an
        internal name or address it holds is added, then a new table with the changes merged
        in (the names tuple stays the same object when only addresses changed)."""
        key = (execs_only, min_length)
        table = self._name_tables.get(key)
        if table is not None and (pending := self._name_pending[key]):
            table = self._patched(table, pending, execs_only, min_length)
            pending.clear()
            if table is not None:
                self._name_tables[key] = table
        if table is None:
            items = [(n, tuple(sorted(a))) for n, a in sorted(self.internal_names.items())
                     if self._in_name_table(n, a, execs_only, min_length)]
            table = self._name_tables[key] = (tuple(n for n, _ in items), tuple(a for _, a in items))
            self._name_pending[key] = set()
            self._name_indexes.pop(key, None)
        return table

    def name_index(self, execs_only: bool, min_length: int) -> tuple[NameTable, NameIndex]:
        """:meth:`name_table` and its :class:`~graphdet.rules.nameindex.NameIndex` (built on
        first use, then patched with the table), as one pair."""
        key = (execs_only, min_length)
        table = self.name_table(execs_only, min_length)
        index = self._name_indexes.get(key)
        if index is None:
            index = self._name_indexes[key] = NameIndex(table[0])
        return table, index

    def _in_name_table(self, name: str, users: Collection[str], execs_only: bool, min_length: int) -> bool:
        return len(name) >= min_length and (not execs_only or any(x in self.executives for x in users))

    def _patched(self, table: NameTable, changed: set[str], execs_only: bool, min_length: int) -> NameTable | None:
        """``table`` with the ``changed`` internal names as a rebuild would have them, in one
        merge (and its index, when built, with one insert): a rebuild of 18,000 names and their
        index took ~40 ms inside a decision. None when a rebuild is needed (a name leaving the
        table: never, as names and their users only grow)."""
        names, addrs = table
        moved: list[tuple[str, tuple[str, ...]]] = []  # names new to the table, sorted below
        updated: list[tuple[int, tuple[str, ...]]] = []
        for name in changed:
            users = self.internal_names[name]
            i = bisect_left(names, name)
            here = i < len(names) and names[i] == name
            if not self._in_name_table(name, users, execs_only, min_length):
                if here:
                    return None
                continue
            if here:
                updated.append((i, tuple(sorted(users))))
            else:
                moved.append((name, tuple(sorted(users))))
        if not moved and not updated:
            return table  # nothing of this table changed: the memos keep their answers
        new_addrs = list(addrs)
        for i, a in updated:
            new_addrs[i] = a
        if not moved:
            return names, tuple(new_addrs)
        moved.sort()
        at = [bisect_left(names, name) for name, _ in moved]  # places in the old table, ascending
        merged_names: list[str] = []
        merged_addrs: list[tuple[str, ...]] = []
        last = 0
        for i, (name, a) in zip(at, moved, strict=True):
            merged_names += names[last:i]
            merged_addrs += new_addrs[last:i]
            merged_names.append(name)
            merged_addrs.append(a)
            last = i
        merged_names += names[last:]
        merged_addrs += new_addrs[last:]
        key = (execs_only, min_length)
        index = self._name_indexes.get(key)
        if index is not None:
            self._name_indexes[key] = index.inserted(at, [name for name, _ in moved])
        return tuple(merged_names), tuple(merged_addrs)

    def lookalike_references(self) -> tuple[list[str], list[str]]:
        """Every known domain and its visual skeleton, kept up to date as domains appear."""
        if self._refs is None:
            self._refs = sorted(self.domain_first_us)
            self._ref_skeletons = [skeleton(decode_domain(d)) for d in self._refs]
        return self._refs, self._ref_skeletons


class OnlineState:
    """Every tenant's :class:`TenantState`; a tenant missing from the snapshot starts empty."""

    def __init__(self, tenants: dict[str, TenantState], *, snapshot_version: str = "") -> None:
        self.tenants = tenants
        self.snapshot_version = snapshot_version
        self._executives: dict[str, frozenset[str]] = {}

    @classmethod
    def from_snapshot(
        cls, snapshot: Snapshot | str | Path, *, executives: Mapping[str, Iterable[str]] | None = None
    ) -> OnlineState:
        snap = snapshot if isinstance(snapshot, Snapshot) else load_snapshot(snapshot)
        execs = executives or {}
        tenants = {t: TenantState.from_snapshot(snap, t, executives=execs.get(t, ())) for t in snap.tenants}
        state = cls(tenants, snapshot_version=snap.version)
        state._executives = {t: frozenset(v) for t, v in execs.items()}
        return state

    def tenant(self, name: str) -> TenantState:
        st = self.tenants.get(name)
        if st is None:  # a tenant with no history yet: cold start
            st = TenantState(name, executives=self._executives.get(name, ()))
            self.tenants[name] = st
        return st
