"""The local engine: DuckDB SQL straight over the message log's Parquet files.

Internal domains of a tenant are the sender domains of its internal and outbound mail (the
direction ingest decided from the tenant config), so a rebuild needs no config of its own.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import duckdb
import pandas as pd

from graphdet.graph.engine import BASE_COLUMNS, Window
from graphdet.messagelog import read_log_info

__all__ = ["LocalEngine"]

logger = logging.getLogger(__name__)

_SQL = """
CREATE TEMP TABLE m AS
SELECT tenant, message_id, received_at, from_addr, from_name, "to", cc, in_reply_to, direction
FROM read_parquet($glob)
WHERE received_at >= $start AND received_at < $as_of;

-- the tenant's own domains: senders of internal and outbound mail
CREATE TEMP TABLE internal AS
SELECT DISTINCT tenant, dom(from_addr) AS domain FROM m WHERE direction IN ('internal', 'outbound');

-- one row per (message, recipient); an address in both To and Cc counts once, as To
-- (list operations per message instead of a GROUP BY over every message-recipient)
CREATE TEMP TABLE r AS
WITH a AS (
    SELECT tenant, message_id, received_at, from_addr, in_reply_to,
           list_distinct(list_transform("to", lambda x: x.addr)) AS to_addrs,
           list_distinct(list_transform(cc, lambda x: x.addr)) AS cc_addrs
    FROM m
)
SELECT tenant, message_id, received_at, from_addr AS src, in_reply_to, unnest(to_addrs) AS dst, true AS is_to
FROM a
UNION ALL
SELECT tenant, message_id, received_at, from_addr AS src, in_reply_to,
       unnest(list_filter(cc_addrs, lambda x: NOT list_contains(to_addrs, x))) AS dst, false AS is_to
FROM a;

-- the sender of each message a reply points at (any time before as_of, not only the window)
CREATE TEMP TABLE parent AS
SELECT DISTINCT p.tenant, p.message_id, p.from_addr
FROM read_parquet($glob) p
SEMI JOIN (SELECT DISTINCT tenant, in_reply_to FROM m WHERE in_reply_to IS NOT NULL) q
  ON p.tenant = q.tenant AND p.message_id = q.in_reply_to
WHERE p.received_at < $as_of;

CREATE TEMP TABLE e AS
SELECT r.tenant, r.src, r.dst,
       count(*) AS msgs,
       count(*) FILTER (r.is_to) AS msgs_to,
       count(*) FILTER (NOT r.is_to) AS msgs_cc,
       min(r.received_at) AS first_seen,
       max(r.received_at) AS last_seen,
       count(DISTINCT CAST(r.received_at AS DATE)) AS active_days,
       count(*) FILTER (p.from_addr = r.dst) AS replies
FROM r LEFT JOIN parent p ON p.tenant = r.tenant AND p.message_id = r.in_reply_to
GROUP BY r.tenant, r.src, r.dst;

CREATE TEMP TABLE n AS
WITH sent AS (
    SELECT tenant, from_addr AS addr, count(*) AS msgs_sent, min(received_at) AS f, max(received_at) AS l,
           list(DISTINCT from_name ORDER BY from_name) FILTER (from_name <> '') AS display_names
    FROM m GROUP BY tenant, from_addr
), recv AS (
    SELECT tenant, dst AS addr, count(*) AS msgs_received, min(received_at) AS f, max(received_at) AS l
    FROM r GROUP BY tenant, dst
)
SELECT coalesce(s.tenant, v.tenant) AS tenant,
       coalesce(s.addr, v.addr) AS addr,
       least(s.f, v.f) AS first_seen,
       greatest(s.l, v.l) AS last_seen,
       coalesce(s.msgs_sent, 0) AS msgs_sent,
       coalesce(v.msgs_received, 0) AS msgs_received,
       coalesce(s.display_names, []) AS display_names
FROM sent s FULL OUTER JOIN recv v ON s.tenant = v.tenant AND s.addr = v.addr;
"""

_NODES = """
SELECT n.tenant,
       (row_number() OVER (PARTITION BY n.tenant ORDER BY n.addr) - 1)::BIGINT AS node,
       n.addr, dom(n.addr) AS domain, (i.domain IS NOT NULL) AS is_internal,
       n.first_seen, n.last_seen, n.msgs_sent, n.msgs_received, n.display_names
FROM n LEFT JOIN internal i ON i.tenant = n.tenant AND i.domain = dom(n.addr)
ORDER BY n.tenant, n.addr
"""

_EDGES = """
SELECT e.tenant, e.src, e.dst, s.node AS src_node, d.node AS dst_node,
       e.msgs, e.msgs_to, e.msgs_cc, e.first_seen, e.last_seen, e.active_days, e.replies,
       coalesce(b.msgs, 0) AS reverse_msgs
FROM e
JOIN nodes s ON s.tenant = e.tenant AND s.addr = e.src
JOIN nodes d ON d.tenant = e.tenant AND d.addr = e.dst
LEFT JOIN e b ON b.tenant = e.tenant AND b.src = e.dst AND b.dst = e.src
ORDER BY e.tenant, e.src, e.dst
"""

_DOMAINS = """
SELECT tenant, domain, bool_or(is_internal) AS is_internal, min(first_seen) AS first_seen,
       max(last_seen) AS last_seen, count(*) AS addresses,
       sum(msgs_sent)::BIGINT AS msgs_sent, sum(msgs_received)::BIGINT AS msgs_received
FROM nodes GROUP BY tenant, domain ORDER BY tenant, domain
"""

_DOMAIN_EDGES = """
SELECT tenant, dom(src) AS src_domain, dom(dst) AS dst_domain, sum(msgs)::BIGINT AS msgs,
       count(*) AS pairs, min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM e GROUP BY ALL ORDER BY tenant, src_domain, dst_domain
"""

_DISPLAY_NAMES = """
WITH spelled AS (  -- fold each distinct spelling once, not every message
    SELECT tenant, from_addr, from_name, count(*) AS msgs, min(received_at) AS f, max(received_at) AS l
    FROM m WHERE trim(from_name) <> '' GROUP BY tenant, from_addr, from_name
), keyed AS (
    SELECT *, lower(trim(regexp_replace(from_name, '\\s+', ' ', 'g'))) AS name_key FROM spelled
)
SELECT tenant, name_key, first(from_name ORDER BY msgs DESC, from_name) AS name, from_addr AS addr,
       sum(msgs)::BIGINT AS msgs, min(f) AS first_seen, max(l) AS last_seen
FROM keyed GROUP BY tenant, name_key, from_addr ORDER BY tenant, name_key, addr
"""


class LocalEngine:
    """Single-machine engine (DuckDB); ``threads`` defaults to all cores."""

    name = "local"

    def __init__(self, *, threads: int | None = None, memory_limit: str | None = None) -> None:
        self.threads = threads
        self.memory_limit = memory_limit

    def build(self, log_dir: Path, window: Window) -> dict[str, pd.DataFrame]:
        read_log_info(log_dir)
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(f"SET threads = {int(self.threads or os.cpu_count() or 1)}")
            if self.memory_limit:
                con.execute("SET memory_limit = ?", [self.memory_limit])
            con.execute("SET preserve_insertion_order = false")
            con.execute("SET enable_progress_bar = false")
            con.execute("CREATE MACRO dom(a) AS lower(regexp_extract(a, '[^@]*$'))")
            params = {
                "glob": f"{(Path(log_dir) / 'messages').as_posix()}/*.parquet",
                "start": window.start,
                "as_of": window.as_of,
            }
            for stmt in _SQL.split(";\n"):
                if stmt.strip():
                    used = {k: v for k, v in params.items() if f"${k}" in stmt}
                    con.execute(stmt, used)
            con.execute(f"CREATE TEMP TABLE nodes AS {_NODES}")
            out = {
                "nodes": con.execute("SELECT * FROM nodes ORDER BY tenant, addr").df(),
                "edges": con.execute(_EDGES).df(),
                "domains": con.execute(_DOMAINS).df(),
                "domain_edges": con.execute(_DOMAIN_EDGES).df(),
                "display_names": con.execute(_DISPLAY_NAMES).df(),
            }
        finally:
            con.close()
        for name, df in out.items():
            out[name] = df[BASE_COLUMNS[name]]
        logger.info(
            "local engine: %d nodes, %d edges over %d tenants",
            len(out["nodes"]), len(out["edges"]), out["nodes"]["tenant"].nunique(),
        )
        return out
