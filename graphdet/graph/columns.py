"""Every column of every snapshot table, named and documented.

This dict is the documentation (the manifest embeds it and a test checks that the tables
carry exactly these columns), so a column cannot be added without saying what it means.
All counts are over the rebuild window ``[as_of - lookback, as_of)``. A *message-recipient*
is one (message, recipient) pair: a message to three people adds three.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["COLUMNS", "TABLES", "table_schema"]

COLUMNS: dict[str, dict[str, str]] = {
    "nodes": {
        "node": "dense id of the address within its tenant (0..n-1, in address order)",
        "addr": "normalised email address",
        "domain": "its domain",
        "is_internal": "the domain is one of the tenant's own (it sent internal or outbound mail)",
        "first_seen": "first time the address sent or received a message in the window",
        "last_seen": "last time it sent or received a message in the window",
        "msgs_sent": "messages it sent",
        "msgs_received": "messages it received (To or Cc)",
        "display_names": "distinct display names it was shown with as a sender, sorted",
        "out_degree": "distinct recipients it wrote to (self excluded)",
        "in_degree": "distinct senders that wrote to it (self excluded)",
        "out_strength": "message-recipients it sent (self excluded)",
        "in_strength": "message-recipients it received (self excluded)",
        "reciprocity": "2 * |correspondents in both directions| / (in_degree + out_degree); "
        "networkx's per-node reciprocity; 0 for an isolated node",
        "pagerank": "PageRank on the directed graph weighted by message-recipients (damping 0.85)",
        "community": "Leiden community (modularity, undirected, weighted); -1 if isolated",
        "clustering": "local clustering coefficient of the undirected simple graph (0 below degree 2)",
        "inbound_known_share": "share of the message-recipients it received whose sender had "
        "already written to it earlier in the window (1 - first contacts / received)",
    },
    "edges": {
        "src": "sender address",
        "dst": "recipient address",
        "src_node": "node id of src",
        "dst_node": "node id of dst",
        "msgs": "messages src sent to dst",
        "msgs_to": "of which dst was in To",
        "msgs_cc": "of which dst was in Cc only",
        "first_seen": "first message src -> dst",
        "last_seen": "last message src -> dst",
        "active_days": "distinct UTC days with a message src -> dst",
        "replies": "messages src -> dst that answer (In-Reply-To) a message dst sent",
        "reverse_msgs": "messages dst sent to src (0 if never)",
        "common_neighbors": "correspondents (either direction) shared by src and dst",
        "adamic_adar": "sum over shared correspondents w of 1 / ln(degree(w)), undirected",
    },
    "domains": {
        "domain": "a domain seen in the window",
        "is_internal": "one of the tenant's own domains",
        "first_seen": "first message from or to an address of the domain",
        "last_seen": "last such message",
        "addresses": "distinct addresses of the domain seen",
        "msgs_sent": "messages sent from the domain",
        "msgs_received": "message-recipients received by the domain",
    },
    "domain_edges": {
        "src_domain": "sender domain",
        "dst_domain": "recipient domain",
        "msgs": "message-recipients from src_domain to dst_domain",
        "pairs": "distinct address pairs behind them",
        "first_seen": "first such message",
        "last_seen": "last such message",
    },
    "display_names": {
        "name_key": "display name folded for matching (case-folded, spaces collapsed)",
        "name": "the most used spelling of that name",
        "addr": "an address that sent with this name",
        "msgs": "messages sent by addr with this name",
        "first_seen": "first such message",
        "last_seen": "last such message",
    },
}

TABLES = tuple(COLUMNS)


_TIME = pa.timestamp("us", tz="UTC")
_TYPES: dict[str, pa.DataType] = {
    "tenant": pa.string(), "node": pa.int64(), "addr": pa.string(), "domain": pa.string(),
    "is_internal": pa.bool_(), "first_seen": _TIME, "last_seen": _TIME, "display_names": pa.list_(pa.string()),
    "reciprocity": pa.float64(), "pagerank": pa.float64(), "clustering": pa.float64(),
    "inbound_known_share": pa.float64(), "adamic_adar": pa.float64(), "src": pa.string(), "dst": pa.string(),
    "src_domain": pa.string(), "dst_domain": pa.string(), "name_key": pa.string(), "name": pa.string(),
}


def table_schema(table: str) -> pa.Schema:
    """The Arrow schema of a snapshot table: ``tenant`` then the documented columns.

    Every column not typed otherwise is a count (int64).
    """
    names = ["tenant", *COLUMNS[table]]
    return pa.schema([pa.field(n, _TYPES.get(n, pa.int64())) for n in names])
