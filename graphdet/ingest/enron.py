"""The Enron communication graph (igraphdata ``enron``, as CSV) as ordinary ingest records.

The folder holds ``people.csv`` (node, email_local, name, title) and ``edges.csv.gz`` (time,
sender, recipient, recipient_type, topic): one row per (message, recipient), with many exact
repeats. A message is the group of rows sharing (time, sender, topic); its recipients are
de-duplicated, ``to`` stays To and ``cc``/``bcc`` become Cc (the source lists every Cc again
as Bcc). There are no subjects or bodies.

Edges dated before 1998 (174 rows carry a bogus 1979-12-31 date) cannot be placed in time:
their messages become records with an error, so ingest quarantines them with the reason
instead of dropping them.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graphdet.exceptions import IngestError
from graphdet.ingest.sources import RawRecord

__all__ = ["EXECUTIVE_TITLES", "is_enron_folder", "iter_enron_records", "read_people"]

_FIRST_VALID_YEAR = 1998
EXECUTIVE_TITLES = ("CEO", "President", "Vice President", "Managing Director", "COO", "CFO")


def is_enron_folder(path: Path) -> bool:
    return (path / "people.csv").is_file() and (
        (path / "edges.csv.gz").is_file() or (path / "edges.csv").is_file()
    )


def read_people(path: Path) -> dict[str, dict[str, str]]:
    """node id -> {addr, name, title} from ``people.csv``."""
    try:
        with (path / "people.csv").open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise IngestError(f"{path / 'people.csv'}: cannot read ({e})") from e
    people = {}
    for n, r in enumerate(rows, start=2):
        if not r.get("node") or "@" not in (r.get("email_local") or ""):
            raise IngestError(f"{path / 'people.csv'}:{n}: need a node id and an address, got {r}")
        title = (r.get("title") or "").strip()
        people[r["node"]] = {
            "addr": r["email_local"].strip().lower(),
            "name": (r.get("name") or "").strip(),
            "title": "" if title == "NA" else title,
        }
    return people


def iter_enron_records(path: Path) -> Iterator[RawRecord]:
    """One record per message, in file order of first appearance."""
    people = read_people(path)
    edges = path / "edges.csv.gz" if (path / "edges.csv.gz").is_file() else path / "edges.csv"
    opener: Any = gzip.open if edges.suffix == ".gz" else open
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    with opener(edges, "rt", encoding="utf-8", newline="") as f:
        for line, r in enumerate(csv.DictReader(f), start=2):
            key = (r["time"], r["sender"], r["topic"])
            g = groups.setdefault(key, {"to": [], "cc": [], "line": line, "bad": []})
            rcpt = people.get(r["recipient"])
            if rcpt is None or r["sender"] not in people:
                g["bad"].append(f"line {line}: unknown node {r['recipient'] if rcpt is None else r['sender']}")
                continue
            kind = "to" if r["recipient_type"] == "to" else "cc"
            entry = {"addr": rcpt["addr"], "name": rcpt["name"]}
            if entry not in g["to"] and entry not in g[kind]:
                g[kind].append(entry)
    for (time, sender, topic), g in groups.items():
        source = f"{edges}:line {g['line']}"
        try:
            t = datetime.fromisoformat(time).replace(tzinfo=UTC)
        except ValueError:
            yield RawRecord(source, error=f"invalid time {time!r}", row={"time": time, "sender": sender})
            continue
        if g["bad"]:
            yield RawRecord(source, error="; ".join(g["bad"][:3]), row={"time": time, "sender": sender})
            continue
        if t.year < _FIRST_VALID_YEAR:
            yield RawRecord(
                source,
                error=f"bogus date (before {_FIRST_VALID_YEAR}, when the corpus starts): {time}",
                row={"time": time, "sender": sender, "topic": topic},
            )
            continue
        s = people[sender]
        yield RawRecord(
            source,
            row={
                "message_id": f"<enron-{t:%Y%m%d%H%M%S}-{sender}-{topic}@enron.invalid>",
                "received_at": t,
                "from_addr": s["addr"],
                "from_name": s["name"],
                "to": g["to"],
                "cc": [c for c in g["cc"] if c not in g["to"]],
                "subject": "",
                "body": "",
            },
        )
