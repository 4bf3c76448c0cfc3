"""Hypothesis strategies: small multi-tenant message lists around a fixed rebuild window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

AS_OF = datetime(2026, 1, 10, tzinfo=UTC)
LOOKBACK = 3
TENANTS = ["acme", "globex", "Initech Corp"]  # the last needs a hashed folder name
ADDRS = [f"{u}@{d}" for d in ("acme.com", "ext.org", "mail.net") for u in ("ann", "bob", "cy", "dee")]
NAMES = ["", "Ann", "ann", "Ann  Lee", "ann lee", "Bob"]
DIRECTIONS = ["inbound", "internal", "outbound", "unknown"]


@st.composite
def messages(draw: Any, *, min_size: int = 1, max_size: int = 30, tenants: list[str] = TENANTS,
             inside: bool = False) -> list[tuple[Any, ...]]:
    """Message tuples for :func:`tests.graph.logs.write_log`. Ids are unique within a tenant
    and repeat across tenants; In-Reply-To points at any id (often another tenant's or a
    message outside the window). With ``inside`` every message is in the window."""
    n = draw(st.integers(min_size, max_size))
    used: dict[str, int] = {}
    out = []
    addrs = st.sampled_from(ADDRS[: draw(st.integers(2, len(ADDRS)))])
    lo, hi = (-LOOKBACK * 24, -1) if inside else (-(LOOKBACK + 2) * 24, 24)
    for _ in range(n):
        tenant = draw(st.sampled_from(tenants))
        k = used.get(tenant, 0)
        used[tenant] = k + 1
        hours = draw(st.integers(lo, hi))
        minutes = draw(st.sampled_from([0, 0, 30, 59]))
        t = AS_OF + timedelta(hours=hours, minutes=minutes)
        irt = draw(st.one_of(st.none(), st.integers(0, max_size).map(lambda i: f"<{i}@h>")))
        out.append((
            tenant, draw(addrs), draw(st.lists(addrs, max_size=3)), draw(st.lists(addrs, max_size=2)),
            t, f"<{k}@h>", irt, draw(st.sampled_from(DIRECTIONS)), draw(st.sampled_from(NAMES)),
        ))
    return out
