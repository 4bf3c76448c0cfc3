"""Build message logs for graph tests, and recount the base tables in pure Python.

A message is a tuple ``(tenant, sender, [to], [cc], time, message_id, in_reply_to,
direction)`` with an optional ninth element, the sender's display name. ``time`` is an aware
datetime or an ISO string; ``direction`` a :class:`Direction` or its value.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from graphdet.messagelog import MessageLogWriter
from graphdet.schema import Address, Direction, Message

Msg = tuple[Any, ...]


def _time(t: datetime | str) -> datetime:
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def to_message(m: Msg) -> Message:
    tenant, sender, to, cc, t, mid, irt, direction, *rest = m
    return Message(
        tenant=tenant,
        message_id=mid,
        received_at=_time(t),
        from_=Address(sender, rest[0] if rest else ""),
        to=tuple(Address(a) for a in to),
        cc=tuple(Address(a) for a in cc),
        in_reply_to=irt,
        direction=Direction(direction),
    )


def write_log(
    path: Path, msgs: Sequence[Msg], *, parts: int = 1, shuffle: int | None = None
) -> Path:
    """Write ``msgs`` as a message log at ``path`` in ``parts`` Parquet files, optionally in a
    shuffled order (``shuffle`` is the seed)."""
    messages = [to_message(m) for m in msgs]
    if shuffle is not None:
        random.Random(shuffle).shuffle(messages)
    size = max(1, -(-len(messages) // parts))
    with MessageLogWriter(path, overwrite=True, created_by="tests/graph") as w:
        for start in range(0, len(messages), size):
            w.write_messages(messages[start : start + size])
    return path


def dom(addr: str) -> str:
    return addr.rsplit("@", 1)[-1].lower()


def name_key(name: str) -> str:
    return " ".join(name.split()).lower()


def recount(msgs: Sequence[Msg], as_of: datetime, lookback_days: int) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The base tables ``{tenant: {table: rows}}`` recounted from the message list, rows in
    the snapshot's order, with the columns of ``BASE_COLUMNS`` (tenant left out)."""
    start = as_of - timedelta(days=lookback_days)
    ms = [to_message(m) for m in msgs]
    parent = {(m.tenant, m.message_id): m.from_.addr for m in ms if m.received_at < as_of}
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for tenant in sorted({m.tenant for m in ms}):
        window = [m for m in ms if m.tenant == tenant and start <= m.received_at < as_of]
        if not window:
            continue
        internal = {dom(m.from_.addr) for m in window if m.direction in (Direction.INTERNAL, Direction.OUTBOUND)}
        edges: dict[tuple[str, str], dict[str, Any]] = {}
        sent: dict[str, list[datetime]] = defaultdict(list)
        recv: dict[str, list[datetime]] = defaultdict(list)
        names: dict[str, set[str]] = defaultdict(set)
        dn: dict[tuple[str, str], list[Message]] = defaultdict(list)
        for m in window:
            s, t = m.from_.addr, m.received_at
            sent[s].append(t)
            if m.from_.name:
                names[s].add(m.from_.name)
            if m.from_.name.strip():
                dn[(name_key(m.from_.name), s)].append(m)
            to = {a.addr for a in m.to}
            cc = {a.addr for a in m.cc} - to
            for d, is_to in [*((d, True) for d in to), *((d, False) for d in cc)]:
                recv[d].append(t)
                e = edges.setdefault((s, d), {"msgs": 0, "msgs_to": 0, "msgs_cc": 0, "times": [], "replies": 0})
                e["msgs"] += 1
                e["msgs_to" if is_to else "msgs_cc"] += 1
                e["times"].append(t)
                e["replies"] += int(m.in_reply_to is not None and parent.get((tenant, m.in_reply_to)) == d)
        addrs = sorted(set(sent) | set(recv))
        node_id = {a: i for i, a in enumerate(addrs)}
        nodes = []
        for a in addrs:
            times = sent[a] + recv[a]
            nodes.append({
                "node": node_id[a], "addr": a, "domain": dom(a), "is_internal": dom(a) in internal,
                "first_seen": min(times), "last_seen": max(times), "msgs_sent": len(sent[a]),
                "msgs_received": len(recv[a]), "display_names": sorted(names[a]),
            })
        edge_rows = []
        for (s, d), e in sorted(edges.items()):
            edge_rows.append({
                "src": s, "dst": d, "src_node": node_id[s], "dst_node": node_id[d],
                "msgs": e["msgs"], "msgs_to": e["msgs_to"], "msgs_cc": e["msgs_cc"],
                "first_seen": min(e["times"]), "last_seen": max(e["times"]),
                "active_days": len({t.date() for t in e["times"]}), "replies": e["replies"],
                "reverse_msgs": edges[(d, s)]["msgs"] if (d, s) in edges else 0,
            })
        domains = []
        for d in sorted({n["domain"] for n in nodes}):
            ns = [n for n in nodes if n["domain"] == d]
            domains.append({
                "domain": d, "is_internal": d in internal,
                "first_seen": min(n["first_seen"] for n in ns), "last_seen": max(n["last_seen"] for n in ns),
                "addresses": len(ns), "msgs_sent": sum(n["msgs_sent"] for n in ns),
                "msgs_received": sum(n["msgs_received"] for n in ns),
            })
        dedges: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for e in edge_rows:
            dedges[(dom(e["src"]), dom(e["dst"]))].append(e)
        domain_edges = [
            {"src_domain": sd, "dst_domain": dd, "msgs": sum(e["msgs"] for e in es), "pairs": len(es),
             "first_seen": min(e["first_seen"] for e in es), "last_seen": max(e["last_seen"] for e in es)}
            for (sd, dd), es in sorted(dedges.items())
        ]
        display = []
        for (key, a), group in sorted(dn.items()):
            counts = Counter(m.from_.name for m in group)
            top = max(counts.values())
            display.append({
                "name_key": key, "name": min(n for n, c in counts.items() if c == top), "addr": a,
                "msgs": len(group), "first_seen": min(m.received_at for m in group),
                "last_seen": max(m.received_at for m in group),
            })
        out[tenant] = {"nodes": nodes, "edges": edge_rows, "domains": domains,
                       "domain_edges": domain_edges, "display_names": display}
    return out
