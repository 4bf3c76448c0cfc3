"""OnlineState: a snapshot as in-memory lookups, plus live deltas after every message.

Between two rebuilds the snapshot goes stale: the first message from a new sender must count
as a first contact, the second one not. :meth:`TenantState.observe` applies one message's
effect (pair counts, new addresses and domains, display names) after it has been decided, so
the next message sees it. A :class:`TenantState` also implements the rules'
:class:`~graphdet.rules.context.TenantContext`, so message signals see the same live view.

One :class:`OnlineState` holds one :class:`TenantState` per tenant; tenants share nothing.
Not thread-safe by itself: serving serialises :meth:`TenantState.observe` per tenant.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from pathlib import Path

import numpy as np

from graphdet.gnn.signals import GNNIndex, load_arrays
from graphdet.graph.snapshot import Snapshot, load_snapshot
from graphdet.rules.context import fold_name, parent_domains
from graphdet.rules.text import decode_domain, skeleton
from graphdet.rules.view import registrable
from graphdet.schema import Category, Direction, Message

__all__ = ["OnlineState", "TenantState"]

logger = logging.getLogger(__name__)

_US_PER_DAY = 86_400_000_000


def _us(t: datetime) -> int:
    return int(t.timestamp() * 1_000_000)


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
        self.out_nb: list[set[int]] = []  # recipients written to
        self.in_nb: list[set[int]] = []  # senders heard from
        self.nb: list[set[int]] = []  # correspondents in either direction (kept, not derived per call)
        self.names: list[set[str]] = []  # folded display names used as a sender
        # snapshot-only statistics (index < n_snap)
        self.pagerank = np.zeros(0)
        self.reciprocity = np.zeros(0)
        self.clustering = np.zeros(0)
        self.community = np.zeros(0, dtype=np.int64)
        self.known_share = np.zeros(0)
        self.pair: dict[int, int] = {}  # (src << 32 | dst) -> messages
        self.domain_first_us: dict[str, int] = {}
        self.domain_addresses: dict[str, int] = {}
        self.internal_domains: set[str] = set()
        self.internal_names: dict[str, set[str]] = {}  # folded name -> internal addresses
        self.name_users: dict[str, set[int]] = {}  # folded name -> all sender ids using it
        self.attacked: dict[int, int] = {}  # recipient id -> time of its last labelled attack
        self.history_start_us: int | None = None
        self.gnn: GNNIndex | None = None
        self.snapshot_version = ""
        self.known_registrable: set[str] = set()
        self._refs: list[str] | None = None  # look-alike reference domains and their skeletons
        self._ref_skeletons: list[str] = []
        self._name_tables: dict[tuple[bool, int], tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]] = {}

    # ------------------------------------------------------------------ building

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot, tenant: str, *, executives: Iterable[str] = ()) -> TenantState:
        st = cls(tenant, executives=executives)
        st.snapshot_version = snapshot.version
        nodes = snapshot.table(tenant, "nodes").to_pydict()
        edges = snapshot.table(
            tenant, "edges", ["src_node", "dst_node", "msgs"]
        ).to_pydict()
        domains = snapshot.table(tenant, "domains", ["domain", "is_internal", "first_seen", "addresses"]).to_pydict()
        n = len(nodes["addr"])
        st.n_snap = n
        st.addrs = list(nodes["addr"])
        st.node_of = {a: i for i, a in enumerate(st.addrs)}
        st.sent = list(nodes["msgs_sent"])
        st.received = list(nodes["msgs_received"])
        st.first_us = [_us(t) for t in nodes["first_seen"]]
        st.internal = list(nodes["is_internal"])
        st.out_nb = [set() for _ in range(n)]
        st.in_nb = [set() for _ in range(n)]
        st.nb = [set() for _ in range(n)]
        for s, d, m in zip(edges["src_node"], edges["dst_node"], edges["msgs"], strict=True):
            st.pair[(s << 32) | d] = m
            if s != d:
                st.out_nb[s].add(d)
                st.in_nb[d].add(s)
                st.nb[s].add(d)
                st.nb[d].add(s)
        st.names = [{fold_name(x) for x in names} for names in nodes["display_names"]]
        for i, names in enumerate(st.names):
            for key in names:
                st.name_users.setdefault(key, set()).add(i)
                if st.internal[i]:
                    st.internal_names.setdefault(key, set()).add(st.addrs[i])
        st.pagerank = np.asarray(nodes["pagerank"], dtype=np.float64)
        st.reciprocity = np.asarray(nodes["reciprocity"], dtype=np.float64)
        st.clustering = np.asarray(nodes["clustering"], dtype=np.float64)
        st.community = np.asarray(nodes["community"], dtype=np.int64)
        st.known_share = np.asarray(nodes["inbound_known_share"], dtype=np.float64)
        for d, internal, first, count in zip(
            domains["domain"], domains["is_internal"], domains["first_seen"], domains["addresses"], strict=True
        ):
            st.domain_first_us[d] = _us(first)
            st.domain_addresses[d] = count
            st.known_registrable.add(registrable(d))
            if internal:
                st.internal_domains.add(d)
        st.history_start_us = min(st.first_us) if st.first_us else None
        info = snapshot.manifest["tenants"][tenant]
        if snapshot.manifest.get("gnn") and info.get("gnn_rows"):
            try:
                st.gnn = GNNIndex(load_arrays(snapshot.path / info["folder"]), snapshot.manifest["gnn"]["bias"],
                                  n, list(domains["domain"]))
            except (OSError, ValueError) as e:
                logger.warning("tenant %s: GNN arrays unusable (%s); GNN signals off", tenant, e)
        return st

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
        self.out_nb.append(set())
        self.in_nb.append(set())
        self.nb.append(set())
        self.names.append(set())
        return i

    # ------------------------------------------------------------------ live deltas

    def observe(self, m: Message) -> None:
        """Learn from one message (after its decision): counts, new nodes, names, domains."""
        t = _us(m.received_at)
        if self.history_start_us is None or t < self.history_start_us:
            self.history_start_us = t
        if m.direction in (Direction.INTERNAL, Direction.OUTBOUND):  # ingest knew the sender is ours
            self.internal_domains.add(m.from_.domain)
        sender_internal = self.is_internal_domain(m.from_.domain)
        s = self.node(m.from_.addr, t, sender_internal)
        self.sent[s] += 1
        self._see_domain(m.from_.domain, t)
        if m.from_.name:
            name_key = fold_name(m.from_.name)
            if name_key not in self.names[s]:
                self.names[s].add(name_key)
                self.name_users.setdefault(name_key, set()).add(s)
                if sender_internal:
                    self.internal_names.setdefault(name_key, set()).add(m.from_.addr)
                    self._name_tables.clear()
        seen: set[int] = set()
        for r in m.recipients:
            d = self.node(r.addr, t, self.is_internal_domain(r.domain))
            if d in seen:
                continue
            seen.add(d)
            self.received[d] += 1
            self._see_domain(r.domain, t)
            pk = (s << 32) | d
            self.pair[pk] = self.pair.get(pk, 0) + 1
            if s != d:
                self.out_nb[s].add(d)
                self.in_nb[d].add(s)
                self.nb[s].add(d)
                self.nb[d].add(s)

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

    def pair_msgs(self, s: int | None, d: int | None) -> int:
        if s is None or d is None:
            return 0
        return self.pair.get((s << 32) | d, 0)

    def neighbours(self, i: int) -> set[int]:
        return self.nb[i]

    def link_stats(self, u: int | None, v: int | None) -> tuple[int, float]:
        """Common neighbours and Adamic-Adar of (u, v) on the live undirected graph."""
        if u is None or v is None or u == v:
            return 0, 0.0
        a, b = self.nb[u], self.nb[v]
        common = a & b if len(a) <= len(b) else b & a
        aa = 0.0
        for w in common:  # a common neighbour has degree >= 2
            aa += 1.0 / math.log(len(self.nb[w]))
        return len(common), aa

    def history_days(self, t_us: int) -> float:
        if self.history_start_us is None:
            return 0.0
        return max(0.0, (t_us - self.history_start_us) / _US_PER_DAY)

    # ------------------------------------------------------------------ TenantContext

    @property
    def available(self) -> bool:
        return self.history_start_us is not None

    def is_internal_domain(self, domain: str) -> bool:
        return domain in self.internal_domains or any(d in self.internal_domains for d in parent_domains(domain))

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

    def name_table(self, execs_only: bool, min_length: int) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
        """Internal display names (at least ``min_length`` long) and their addresses, rebuilt
        only when a new internal name appears."""
        key = (execs_only, min_length)
        table = self._name_tables.get(key)
        if table is None:
            items = [(n, tuple(sorted(a))) for n, a in sorted(self.internal_names.items())
                     if len(n) >= min_length and (not execs_only or any(x in self.executives for x in a))]
            table = (tuple(n for n, _ in items), tuple(a for _, a in items))
            self._name_tables[key] = table
        return table

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
