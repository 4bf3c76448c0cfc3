"""Train/serve parity, point-in-time correctness and tenant isolation of feature rows."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from graphdet.features import FeatureBuilder, FeatureRow, OnlineState, replay
from graphdet.features.state import _US_PER_DAY
from graphdet.graph import RebuildConfig, load_snapshot, rebuild
from graphdet.graph.columns import TABLES
from graphdet.messagelog import MessageLogWriter, read_messages
from graphdet.rules.context import fold_name
from graphdet.schema import Address, Category, Direction, Message

from .conftest import CUT, World


def _matrix(pairs: list[tuple[Message, FeatureRow]]) -> np.ndarray:
    return np.stack([row.values for _, row in pairs])


def _replay(messages: list[Message], state: OnlineState, builder: FeatureBuilder) -> np.ndarray:
    return _matrix(list(replay(messages, state, builder)))


def _col(builder: FeatureBuilder, name: str) -> int:
    return builder.schema.names.index(name)


# ---------------------------------------------------------------- train/serve parity


def test_replay_equals_serving_one_message_at_a_time(world: World) -> None:
    """replay() (training) and row()-then-observe() (serving) give the same numbers, and so do
    two half-streams replayed with the state carried over."""
    b = world.builder
    pairs = list(replay(world.stream, world.state(), b))
    trained = _matrix(pairs)

    served_state = world.state()
    served, hits = [], []
    for m in world.stream:
        row = b.row(m, served_state.tenant(m.tenant))
        served_state.tenant(m.tenant).observe(m)
        served.append(row.values)
        hits.append(row.hits)
    assert np.array_equal(trained, np.stack(served), equal_nan=True)
    assert [r.hits for _, r in pairs] == hits

    half = len(world.stream) // 2
    carried = world.state()
    halves = np.vstack([_replay(world.stream[:half], carried, b), _replay(world.stream[half:], carried, b)])
    assert np.array_equal(trained, halves, equal_nan=True)
    assert trained.shape == (len(world.stream), len(b.schema.names))
    # the stream really exercises the graph: most rows are mature and many senders are known
    assert np.mean([r.mature for _, r in pairs]) == 1.0
    assert np.nanmean(trained[:, _col(b, "sender_known")]) > 0.5


def test_row_does_not_change_the_state(world: World) -> None:
    state = world.state()
    b = world.builder
    m = world.stream[0]
    first = b.row(m, state.tenant(m.tenant)).values
    again = b.row(m, state.tenant(m.tenant)).values
    assert np.array_equal(first, again, equal_nan=True)
    st, fresh = state.tenant(m.tenant), world.state().tenant(m.tenant)
    assert (st.n_pairs, st.sent, st.received) == (fresh.n_pairs, fresh.sent, fresh.received)


# ---------------------------------------------------------------- point in time


@settings(max_examples=12)
@given(k=st.integers(1, 300), extra=st.lists(st.integers(0, 299), min_size=1, max_size=40))
def test_later_messages_never_change_earlier_rows(world: World, k: int, extra: list[int]) -> None:
    """Appending messages after position k (copies of earlier traffic, new ids, later times)
    leaves rows 0..k-1 untouched."""
    stream = world.stream[:300]
    base = _replay(stream[:k], world.state(), world.builder)
    t_end = stream[k - 1].received_at
    later = [
        replace(stream[i], message_id=f"<later-{j}@test>", received_at=t_end + timedelta(minutes=j + 1))
        for j, i in enumerate(extra)
    ]
    longer = _replay(stream[:k] + later, world.state(), world.builder)
    assert np.array_equal(base, longer[:k], equal_nan=True)


def _internal_recipient(state: OnlineState, tenant: str) -> str:
    ts = state.tenant(tenant)
    return next(a for i, a in enumerate(ts.addrs[: ts.n_snap]) if ts.internal[i] and ts.received[i] > 5)


def test_a_message_does_not_see_itself(world: World) -> None:
    """First message of a new sender: unknown sender, all first contacts; the identical second
    message sees exactly one earlier message on the pair."""
    b = world.builder
    state = world.state()
    tenant = world.stream[0].tenant
    rcpt = _internal_recipient(state, tenant)
    received_before = state.tenant(tenant).received[state.tenant(tenant).node_of[rcpt]]
    t0 = CUT + timedelta(hours=1)
    first = Message(tenant=tenant, message_id="<n1@test>", received_at=t0,
                    from_=Address("newcomer@fresh-domain.example", "Nora Newcomer"), to=(Address(rcpt),),
                    subject="hello", body="hello there", direction=Direction.INBOUND)
    second = replace(first, message_id="<n2@test>", received_at=t0 + timedelta(minutes=1))
    reply = Message(tenant=tenant, message_id="<n3@test>", received_at=t0 + timedelta(minutes=2),
                    from_=Address(rcpt), to=(Address("newcomer@fresh-domain.example"),), subject="re: hello",
                    body="thanks", in_reply_to="<n2@test>", direction=Direction.OUTBOUND)
    rows = [r for _, r in replay([first, second, reply], state, b)]
    f1, f2, f3 = ({n: r.values[i] for i, n in enumerate(b.schema.names)} for r in rows)
    assert all(r.mature for r in rows)
    assert f1["tenant_history_days"] >= 14

    one_min = 60_000_000 / _US_PER_DAY
    assert f1["sender_known"] == 0.0 and f2["sender_known"] == 1.0
    assert f1["sender_msgs_sent_log"] == 0.0 and f2["sender_msgs_sent_log"] == math.log(2)
    assert f1["sender_out_degree_log"] == 0.0 and f2["sender_out_degree_log"] == math.log(2)
    assert f1["sender_days_known"] == 0.0 and f2["sender_days_known"] == one_min
    assert f1["sender_domain_known"] == 0.0 and f2["sender_domain_known"] == 1.0
    assert f1["sender_domain_days_known"] == 0.0 and f2["sender_domain_days_known"] == one_min
    assert f1["rcpt_count"] == f2["rcpt_count"] == 1.0
    assert f1["rcpt_internal_share"] == f2["rcpt_internal_share"] == 1.0
    assert f1["rcpt_first_contact_share"] == 1.0 and f2["rcpt_first_contact_share"] == 0.0
    assert f1["rcpt_first_contact_count"] == 1.0 and f2["rcpt_first_contact_count"] == 0.0
    assert f1["pair_msgs_min_log"] == 0.0 and f2["pair_msgs_min_log"] == math.log(2)
    assert f1["pair_msgs_max_log"] == 0.0 and f2["pair_msgs_max_log"] == math.log(2)
    assert f1["pair_reverse_max_log"] == f2["pair_reverse_max_log"] == 0.0
    assert f1["rcpt_received_log_mean"] == math.log1p(received_before)
    assert f2["rcpt_received_log_mean"] == math.log1p(received_before + 1)
    assert f1["sender_name_new"] == f2["sender_name_new"] == 0.0
    assert f1["sender_name_shared"] == f2["sender_name_shared"] == 0.0
    # a live node has no snapshot statistics
    for name in ("sender_reciprocity", "sender_pagerank_log", "sender_clustering", "pair_same_community_share"):
        assert math.isnan(f1[name]) and math.isnan(f2[name]), name
    # the reply sees the two messages the newcomer sent, as its reverse pair
    assert f3["pair_reverse_max_log"] == math.log1p(2)  # == log(3) up to one ulp
    assert f3["rcpt_first_contact_share"] == 1.0
    assert f3["sender_known"] == 1.0


def test_display_name_of_an_internal_person_from_outside(world: World) -> None:
    b = world.builder
    state = world.state()
    tenant = world.stream[0].tenant
    ts = state.tenant(tenant)
    display = next(k for k, owners in sorted(ts.internal_names.items()) if len(k) > 3 and owners)
    assert fold_name(display) == display  # a folded name folds to itself, so it is a usable display name
    m = Message(tenant=tenant, message_id="<imp@test>", received_at=CUT + timedelta(hours=2),
                from_=Address("boss.private@freemail.example", display),
                to=(Address(_internal_recipient(state, tenant)),),
                subject="urgent", body="are you available", direction=Direction.INBOUND)
    f = dict(zip(b.schema.names, b.row(m, ts).values, strict=True))
    assert f["sender_name_internal_other"] == 1.0
    assert f["sender_name_shared"] == 1.0


def test_labelled_attack_marks_recipients_only_after_it(world: World) -> None:
    b = world.builder
    state = world.state()
    m = world.stream[0]
    ts = state.tenant(m.tenant)
    col = _col(b, "rcpt_attacked_before")
    assert b.row(m, ts).values[col] == 0.0
    ts.observe(m)
    ts.record_label(m, Category.BEC)
    assert b.row(m, ts).values[col] == 0.0  # same time: not "before"
    later = replace(m, message_id="<after@test>", received_at=m.received_at + timedelta(seconds=1))
    assert b.row(later, ts).values[col] == 1.0
    ts.record_label(later, Category.SAFE)  # safe feedback changes nothing
    assert state.tenant(m.tenant).attacked == {ts.node_of[r.addr]: int(m.received_at.timestamp() * 1e6)
                                                 for r in m.recipients if r.addr in ts.node_of}


def test_snapshot_as_of_a_cut_holds_nothing_after_it(world: World) -> None:
    snap = load_snapshot(world.snap)
    as_of = datetime.fromisoformat(snap.manifest["as_of"])
    assert as_of == CUT
    table = read_messages(world.log)
    lookback = RebuildConfig().lookback_days
    window = table.filter(pc.and_(pc.less(table.column("received_at"), CUT),
                                  pc.greater_equal(table.column("received_at"), CUT - timedelta(days=lookback))))
    for tenant in snap.tenants:
        for name in TABLES:
            t = snap.table(tenant, name)
            if "last_seen" in t.column_names and t.num_rows:
                assert pc.max(t.column("last_seen")).as_py() < CUT, (tenant, name)
        sent = sum(snap.table(tenant, "nodes", ["msgs_sent"]).column("msgs_sent").to_pylist())
        mine = window.filter(pc.equal(window.column("tenant"), tenant)).num_rows
        assert sent == mine, tenant  # every message before the cut, and none after it


def test_message_exactly_at_the_cut_is_not_in_the_snapshot(tmp_path: Path) -> None:
    cut = datetime(2026, 3, 1, tzinfo=UTC)

    def msg(i: int, sender: str, t: datetime) -> Message:
        return Message(tenant="acme", message_id=f"<m{i}@t>", received_at=t, from_=Address(sender),
                       to=(Address("bob@acme.com"),), direction=Direction.INBOUND)

    with MessageLogWriter(tmp_path / "log", created_by="tests/features") as w:
        w.write_messages([msg(0, "before@x.example", cut - timedelta(seconds=1)),
                          msg(1, "atcut@y.example", cut), msg(2, "after@z.example", cut + timedelta(hours=1))])
    rebuild(tmp_path / "log", tmp_path / "snap", as_of=cut, config=RebuildConfig(gnn=False))
    snap = load_snapshot(tmp_path / "snap")
    assert sorted(snap.table("acme", "nodes").column("addr").to_pylist()) == ["before@x.example", "bob@acme.com"]
    state = OnlineState.from_snapshot(tmp_path / "snap")
    assert state.tenant("acme").sender_known("before@x.example")
    assert not state.tenant("acme").sender_known("atcut@y.example")


# ---------------------------------------------------------------- tenant isolation


def test_traffic_of_another_tenant_changes_no_row(world: World) -> None:
    tenants = sorted({m.tenant for m in world.stream})
    assert len(tenants) == 2
    a, b_name = tenants
    b_only = [m for m in world.stream if m.tenant == b_name]
    alone = _replay(b_only, world.state(), world.builder)
    # tenant A gets extra traffic that reuses B's very addresses, one second after each B message
    noise = [replace(m, tenant=a, message_id=f"<noise-{i}@test>", received_at=m.received_at + timedelta(seconds=1))
             for i, m in enumerate(b_only)]
    mixed_stream = sorted(world.stream + noise, key=lambda m: (m.received_at, m.message_id))
    state = world.state()
    mixed_rows = []
    for m, row in replay(mixed_stream, state, world.builder):
        if m.tenant == a:
            state.tenant(a).record_label(m, Category.BEC)  # feedback in A must not leak either
        else:
            mixed_rows.append(row.values)
    assert np.array_equal(alone, np.stack(mixed_rows), equal_nan=True)
