"""Summaries of a message log, computed with DuckDB straight over its Parquet files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from graphdet.messagelog import read_log_info

__all__ = ["summarize_log"]


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def summarize_log(path: str | Path) -> dict[str, Any]:
    """Per-tenant counts, time range, direction split and label mix of a message log.

    Returns ``{"info": log.json, "tenants": [...], "labels": [...]}``; ``labels`` is empty
    when the log has no label table.
    """
    path = Path(path)
    info = read_log_info(path)
    con = duckdb.connect()
    msgs = f"read_parquet('{(path / 'messages').as_posix()}/*.parquet')"
    tenants = _rows(
        con,
        f"""
        SELECT tenant,
               count(*) AS messages,
               min(received_at) AS first,
               max(received_at) AS last,
               count(DISTINCT from_addr) AS senders,
               count(*) FILTER (direction = 'inbound') AS inbound,
               count(*) FILTER (direction = 'internal') AS internal,
               count(*) FILTER (direction = 'outbound') AS outbound,
               count(*) FILTER (direction = 'unknown') AS unknown,
               count(*) FILTER (in_reply_to IS NOT NULL) AS replies,
               count(*) FILTER (len(attachments) > 0) AS with_attachments
        FROM {msgs} GROUP BY tenant ORDER BY tenant
        """,
    )
    labels: list[dict[str, Any]] = []
    if (path / "labels.parquet").exists():
        labels = _rows(
            con,
            f"""
            SELECT m.tenant, l.category, count(*) AS messages,
                   count(DISTINCT nullif(l.campaign_id, '')) AS campaigns
            FROM {msgs} m JOIN read_parquet('{(path / 'labels.parquet').as_posix()}') l
              USING (message_id)
            GROUP BY ALL ORDER BY m.tenant, messages DESC
            """,
        )
    return {"info": info, "tenants": tenants, "labels": labels}
