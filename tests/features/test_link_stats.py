"""OnlineState's pair statistics for a pair equal the snapshot's (igraph/networkx-checked) ones."""

from __future__ import annotations

import math

from graphdet.graph import load_snapshot

from .conftest import World


def test_live_link_stats_equal_the_snapshot_edge_columns(world: World) -> None:
    snap = load_snapshot(world.snap)
    state = world.state()
    checked = 0
    for tenant in snap.tenants:
        st = state.tenant(tenant)
        edges = snap.table(tenant, "edges", ["src_node", "dst_node", "common_neighbors", "adamic_adar"]).to_pydict()
        for s, d, cn, aa in zip(edges["src_node"], edges["dst_node"], edges["common_neighbors"], edges["adamic_adar"],
                                strict=True):
            got_cn, got_aa = st.link_stats(s, d)
            assert got_cn == cn
            assert math.isclose(got_aa, aa, rel_tol=1e-9, abs_tol=1e-12)
            checked += 1
    assert checked > 500
