"""Cold start: an immature tenant's graph and GNN features are unknown (NaN), not zeros."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import numpy as np

from graphdet.features import BEHAVIOUR_FEATURES, OnlineState, replay
from graphdet.features.state import _US_PER_DAY
from graphdet.messagelog import read_messages, table_to_messages

from .conftest import World

GRAPH = [n for n, (fam, _) in BEHAVIOUR_FEATURES.items() if fam in ("graph", "gnn") and n != "tenant_history_days"]
# defined for every row with a recipient, whatever the sender and recipients are
ALWAYS = ["sender_known", "sender_msgs_sent_log", "sender_out_degree_log", "sender_in_degree_log",
          "sender_days_known", "sender_is_internal", "sender_domain_known", "sender_domain_days_known",
          "sender_name_new", "sender_name_shared", "sender_name_internal_other", "rcpt_internal_share",
          "rcpt_first_contact_share", "rcpt_first_contact_count", "pair_msgs_min_log", "pair_msgs_max_log",
          "pair_reverse_max_log", "pair_common_neighbors_max", "pair_adamic_adar_max", "rcpt_received_log_mean",
          "rcpt_attacked_before"]


def test_new_tenant_is_masked_until_min_history_days(world: World) -> None:
    """A tenant absent from the snapshot replays 20 days of (subsampled) traffic: every graph/GNN
    feature is NaN before day 14, defined after; tenant_history_days counts the days."""
    table = read_messages(world.log)
    tenant = world.stream[0].tenant
    every = [m for m in table_to_messages(table.sort_by([("received_at", "ascending"), ("message_id", "ascending")]))
             if m.tenant == tenant]
    newco = [replace(m, tenant="newco") for m in every[::6]]
    t0 = newco[0].received_at
    newco = [m for m in newco if m.received_at < t0 + timedelta(days=20)]
    b = world.builder
    names = b.schema.names
    pairs = list(replay(newco, OnlineState.from_snapshot(world.snap), b))
    x = np.stack([r.values for _, r in pairs])
    days = np.array([(m.received_at - t0) / timedelta(microseconds=1) / _US_PER_DAY for m, _ in pairs])
    mature = np.array([r.mature for _, r in pairs])
    assert np.array_equal(mature, days >= b.min_history_days)
    assert 100 < (~mature).sum() and 50 < mature.sum()
    assert np.allclose(x[:, names.index("tenant_history_days")], days, rtol=0, atol=1e-9)
    graph_cols = [names.index(n) for n in GRAPH]
    assert np.isnan(x[~mature][:, graph_cols]).all()
    # message features are never masked
    message_cols = [i for i, n in enumerate(names) if n not in GRAPH and n != "tenant_history_days"]
    assert np.isfinite(x[:, message_cols]).all()
    # mature rows: always-defined features are finite (rows with at least one recipient)
    has_rcpt = x[:, names.index("rcpt_count")] > 0
    always = [names.index(n) for n in ALWAYS]
    assert np.isfinite(x[mature & has_rcpt][:, always]).all()
    # a tenant without a snapshot has no snapshot statistics or GNN rows: those stay unknown
    for n in ("sender_pagerank_log", "gnn_plausibility_min", "rcpt_known_share_mean"):
        assert np.isnan(x[:, names.index(n)]).all(), n


def test_boundary_is_inclusive(world: World) -> None:
    state = OnlineState.from_snapshot(world.snap)
    m = replace(world.stream[0], tenant="fresh")
    state.tenant("fresh").observe(m)
    at = replace(m, message_id="<at14@test>", received_at=m.received_at + timedelta(days=14))
    just_before = replace(at, received_at=at.received_at - timedelta(microseconds=1))
    assert world.builder.row(at, state.tenant("fresh")).mature
    assert not world.builder.row(just_before, state.tenant("fresh")).mature


def test_snapshot_tenant_rows_are_defined(world: World) -> None:
    """The mature snapshot tenants: always-defined features finite everywhere; snapshot and GNN
    features finite on most rows (measured on seed 5: 0.979 for sender_pagerank_log, 0.997 for
    the recipient and GNN features, 1.0 for gnn_fallback)."""
    b = world.builder
    names = b.schema.names
    x = np.stack([r.values for _, r in replay(world.stream, OnlineState.from_snapshot(world.snap), b)])
    has_rcpt = x[:, names.index("rcpt_count")] > 0
    assert np.isfinite(x[has_rcpt][:, [names.index(n) for n in ALWAYS]]).all()
    shares = {n: float(np.isfinite(x[has_rcpt, names.index(n)]).mean())
              for n in ("sender_pagerank_log", "rcpt_pagerank_log_max", "rcpt_known_share_mean",
                        "gnn_plausibility_min", "gnn_plausibility_mean", "gnn_similarity_mean", "gnn_fallback")}
    for n, share in shares.items():
        assert share >= 0.9, (n, shares)
    p = x[:, names.index("gnn_plausibility_min")]
    assert np.nanmin(p) >= 0.0 and np.nanmax(p) <= 1.0
    assert not math.isnan(float(np.nanmean(p)))
