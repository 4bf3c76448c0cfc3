"""Each behaviour column against its definition, spelled out from the state's public lookups.

``FeatureBuilder._behaviour`` is written as straight-line code for speed; this oracle is the
plain reading of :data:`BEHAVIOUR_FEATURES` (one lookup per feature, recipients one by one),
so a fast path that changes a number fails here, column by column.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from graphdet.features import FeatureBuilder, OnlineState
from graphdet.features.schema import BEHAVIOUR_FEATURES
from graphdet.features.state import _US_PER_DAY, TenantState
from graphdet.rules.context import fold_name
from graphdet.schema import Address, Category, Direction, Message

from .conftest import World

_NAN = float("nan")


def _oracle(m: Message, st: TenantState, min_history_days: float) -> dict[str, float]:
    t = int(m.received_at.timestamp() * 1_000_000)
    f = dict.fromkeys(BEHAVIOUR_FEATURES, _NAN)
    f["dir_inbound"] = float(m.direction is Direction.INBOUND)
    f["dir_internal"] = float(m.direction is Direction.INTERNAL)
    f["tenant_history_days"] = st.history_days(t)
    sender = m.from_.addr
    rcpts: list[Address] = []  # distinct, in order of first appearance, the sender left out
    for r in m.recipients:
        if r.addr != sender and all(r.addr != x.addr for x in rcpts):
            rcpts.append(r)
    f["rcpt_count"] = float(len(rcpts))
    if st.history_days(t) < min_history_days:
        return f
    s = st.node_of.get(sender)
    f["sender_known"] = float(s is not None and st.sent[s] > 0)
    f["sender_msgs_sent_log"] = math.log1p(st.sent[s]) if s is not None else 0.0
    f["sender_out_degree_log"] = math.log1p(len(st.out_neighbours(s))) if s is not None else 0.0
    f["sender_in_degree_log"] = math.log1p(len(st.in_neighbours(s))) if s is not None else 0.0
    f["sender_days_known"] = max(0.0, (t - st.first_us[s]) / _US_PER_DAY) if s is not None else 0.0
    scale = max(st.n_snap, 1)
    if s is not None and s < st.n_snap:
        f["sender_reciprocity"] = float(st.reciprocity[s])
        f["sender_pagerank_log"] = math.log(max(float(st.pagerank[s]) * scale, 1e-12))
        f["sender_clustering"] = float(st.clustering[s])
    f["sender_is_internal"] = float(st.is_internal_domain(m.from_.domain))
    first_seen = st.domain_first_us.get(m.from_.domain)
    f["sender_domain_known"] = float(first_seen is not None)
    f["sender_domain_days_known"] = max(0.0, (t - first_seen) / _US_PER_DAY) if first_seen is not None else 0.0
    key = fold_name(m.from_.name) if m.from_.name else ""
    f["sender_name_new"] = float(bool(key) and s is not None and st.sent[s] > 0 and not st.has_name(s, key))
    f["sender_name_shared"] = float(bool(key) and st.name_used_by_other(key, s))
    owners = st.internal_names.get(key, set()) if key else set()
    f["sender_name_internal_other"] = float(bool(owners) and sender not in owners)
    if not rcpts:
        return f
    nodes = [st.node_of.get(r.addr) for r in rcpts]
    pair = [st.pair_msgs(s, d) for d in nodes]
    f["rcpt_internal_share"] = sum(st.is_internal_domain(r.domain) for r in rcpts) / len(nodes)
    f["rcpt_first_contact_count"] = float(sum(p == 0 for p in pair))
    f["rcpt_first_contact_share"] = f["rcpt_first_contact_count"] / len(nodes)
    f["pair_msgs_min_log"] = math.log1p(min(pair))
    f["pair_msgs_max_log"] = math.log1p(max(pair))
    f["pair_reverse_max_log"] = math.log1p(max(st.pair_msgs(d, s) for d in nodes))
    links = [st.link_stats(s, d) for d in nodes]
    f["pair_common_neighbors_max"] = float(max(c for c, _ in links))
    f["pair_adamic_adar_max"] = max(a for _, a in links)
    in_snapshot = [d for d in nodes if d is not None and d < st.n_snap]
    if in_snapshot:
        if s is not None and s < st.n_snap:
            same = [st.community[d] == st.community[s] and st.community[s] >= 0 for d in in_snapshot]
            f["pair_same_community_share"] = sum(same) / len(in_snapshot)
        f["rcpt_known_share_mean"] = sum(float(st.known_share[d]) for d in in_snapshot) / len(in_snapshot)
        f["rcpt_pagerank_log_max"] = max(math.log(max(float(st.pagerank[d]) * scale, 1e-12)) for d in in_snapshot)
    f["rcpt_received_log_mean"] = sum(math.log1p(st.received[d]) if d is not None else 0.0 for d in nodes) / len(nodes)
    f["rcpt_attacked_before"] = float(any(d is not None and 0 < st.attacked.get(d, 0) < t for d in nodes))
    if st.gnn is not None:
        row, fallback = st.gnn.sender_row(s if s is not None and s < st.n_snap else None, m.from_.domain)
        f["gnn_fallback"] = float(fallback)
        if in_snapshot:
            (low, mean, sim), = st.gnn.message_features([(row, in_snapshot)])
            f["gnn_plausibility_min"], f["gnn_plausibility_mean"], f["gnn_similarity_mean"] = low, mean, sim
    return f


def _variants(stream: list[Message]) -> list[Message]:
    """The stream, plus copies with several recipients (repeated, the sender among them)."""
    out = list(stream)
    for i, m in enumerate(stream[::15]):
        extra = tuple(r for other in stream[i * 15 + 1 : i * 15 + 4] for r in other.recipients)
        out.append(replace(m, message_id=f"<multi{i}@test>", to=m.to + extra + m.to, cc=(m.from_,)))
    return sorted(out, key=lambda m: m.received_at)


def test_behaviour_columns_equal_their_definitions(world: World) -> None:
    builder = FeatureBuilder(world.builder.ruleset, min_history_days=14)
    state: OnlineState = world.state()
    names = builder.schema.names
    checked = 0
    multi = 0
    for i, m in enumerate(_variants(world.stream)):
        st = state.tenant(m.tenant)
        want = _oracle(m, st, builder.min_history_days)
        row = builder.one(m, state)
        for name in BEHAVIOUR_FEATURES:
            got, expected = row.values[names.index(name)], want[name]
            assert (math.isnan(got) and math.isnan(expected)) or got == expected, (m.message_id, name, got, expected)
        checked += 1
        multi += want["rcpt_count"] > 1
        if i % 7 == 0:  # feedback, so rcpt_attacked_before is exercised
            st.record_label(m, Category.BEC)
    assert checked > 1500 and multi > 100


def test_cold_tenant_masks_every_graph_column(world: World) -> None:
    builder = FeatureBuilder(world.builder.ruleset, min_history_days=14)
    state = OnlineState({})  # no snapshot: the tenant starts now
    m = world.stream[0]
    m = replace(m, to=(*m.to, Address("x@y.example"), m.from_))
    row = builder.one(m, state)
    values = dict(zip(builder.schema.names, row.values.tolist(), strict=False))
    want = _oracle(m, state.tenant(m.tenant), 14)  # after observing: still under a day of history
    assert not row.mature
    for name in BEHAVIOUR_FEATURES:
        if name in ("dir_inbound", "dir_internal", "rcpt_count", "tenant_history_days"):
            assert values[name] == want[name], name
        else:
            assert math.isnan(values[name]), name
    assert values["rcpt_count"] == len({r.addr for r in m.recipients} - {m.from_.addr})
    assert np.isfinite(row.values[len(BEHAVIOUR_FEATURES):]).all()
