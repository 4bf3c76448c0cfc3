"""The message log: the Parquet folder every later stage reads.

Layout of a log folder::

    DIR/log.json                  schema version, row counts, who wrote it
    DIR/messages/part-00000.parquet ...   one row per (tenant, message); MESSAGE_SCHEMA
    DIR/labels.parquet            message_id -> category, campaign_id, source (optional)
    DIR/quarantine.jsonl          one line per rejected input record, with the reason
    DIR/quarantine/               the raw bytes of each rejected record

The Arrow schema below is the contract. Writers (ingest, the synthetic generator) produce
tables with exactly this schema; :func:`read_messages` refuses a folder whose schema version
or columns differ, naming what is wrong.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from graphdet.exceptions import MessageLogError
from graphdet.schema import (
    Address,
    Attachment,
    AuthResult,
    AuthResults,
    Category,
    Direction,
    Label,
    Message,
    Url,
)

__all__ = [
    "LABEL_SCHEMA",
    "MESSAGE_SCHEMA",
    "SCHEMA_VERSION",
    "MessageLogWriter",
    "labels_to_table",
    "messages_to_table",
    "read_labels",
    "read_log_info",
    "read_messages",
    "row_to_message",
    "table_to_labels",
    "table_to_messages",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1

ADDRESS_TYPE = pa.struct([("addr", pa.string()), ("name", pa.string())])
URL_TYPE = pa.struct([("url", pa.string()), ("anchor_text", pa.string())])
ATTACHMENT_TYPE = pa.struct(
    [
        ("name", pa.string()),
        ("content_type", pa.string()),
        ("size", pa.int64()),
        ("sha256", pa.string()),
    ]
)

MESSAGE_SCHEMA = pa.schema(
    [
        pa.field("tenant", pa.string(), nullable=False),
        pa.field("message_id", pa.string(), nullable=False),
        pa.field("received_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("from_addr", pa.string(), nullable=False),
        pa.field("from_name", pa.string(), nullable=False),
        pa.field("to", pa.list_(ADDRESS_TYPE), nullable=False),
        pa.field("cc", pa.list_(ADDRESS_TYPE), nullable=False),
        pa.field("reply_to_addr", pa.string()),
        pa.field("reply_to_name", pa.string()),
        pa.field("return_path", pa.string()),
        pa.field("subject", pa.string(), nullable=False),
        pa.field("body", pa.string(), nullable=False),
        pa.field("urls", pa.list_(URL_TYPE), nullable=False),
        pa.field("attachments", pa.list_(ATTACHMENT_TYPE), nullable=False),
        pa.field("spf", pa.string(), nullable=False),
        pa.field("dkim", pa.string(), nullable=False),
        pa.field("dmarc", pa.string(), nullable=False),
        pa.field("arc", pa.string(), nullable=False),
        pa.field("in_reply_to", pa.string()),
        pa.field("references", pa.list_(pa.string()), nullable=False),
        pa.field("direction", pa.string(), nullable=False),
    ]
)

LABEL_SCHEMA = pa.schema(
    [
        pa.field("message_id", pa.string(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("campaign_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
    ]
)

_PART_ROWS = 500_000


# ---------------------------------------------------------------- Message <-> Arrow rows


def _message_row(m: Message) -> dict[str, Any]:
    return {
        "tenant": m.tenant,
        "message_id": m.message_id,
        "received_at": m.received_at,
        "from_addr": m.from_.addr,
        "from_name": m.from_.name,
        "to": [{"addr": a.addr, "name": a.name} for a in m.to],
        "cc": [{"addr": a.addr, "name": a.name} for a in m.cc],
        "reply_to_addr": m.reply_to.addr if m.reply_to else None,
        "reply_to_name": m.reply_to.name if m.reply_to else None,
        "return_path": m.return_path,
        "subject": m.subject,
        "body": m.body,
        "urls": [{"url": u.url, "anchor_text": u.anchor_text} for u in m.urls],
        "attachments": [
            {"name": a.name, "content_type": a.content_type, "size": a.size, "sha256": a.sha256}
            for a in m.attachments
        ],
        "spf": m.auth.spf.value,
        "dkim": m.auth.dkim.value,
        "dmarc": m.auth.dmarc.value,
        "arc": m.auth.arc.value,
        "in_reply_to": m.in_reply_to,
        "references": list(m.references),
        "direction": m.direction.value,
    }


def messages_to_table(messages: Iterable[Message]) -> pa.Table:
    """Convert messages to an Arrow table with :data:`MESSAGE_SCHEMA`."""
    return pa.Table.from_pylist([_message_row(m) for m in messages], schema=MESSAGE_SCHEMA)


def row_to_message(row: dict[str, Any]) -> Message:
    """Build a :class:`Message` from one row in the message-log shape (a dict)."""
    reply_addr = row.get("reply_to_addr")
    received = row["received_at"]
    if received.tzinfo is None:
        received = received.replace(tzinfo=UTC)
    return Message(
        tenant=row["tenant"],
        message_id=row["message_id"],
        received_at=received,
        from_=Address(row["from_addr"], row["from_name"] or ""),
        to=tuple(Address(a["addr"], a["name"] or "") for a in row["to"] or ()),
        cc=tuple(Address(a["addr"], a["name"] or "") for a in row["cc"] or ()),
        reply_to=Address(reply_addr, row.get("reply_to_name") or "") if reply_addr else None,
        return_path=row.get("return_path"),
        subject=row["subject"] or "",
        body=row["body"] or "",
        urls=tuple(Url(u["url"], u["anchor_text"] or "") for u in row["urls"] or ()),
        attachments=tuple(
            Attachment(a["name"], a["content_type"], int(a["size"]), a["sha256"])
            for a in row["attachments"] or ()
        ),
        auth=AuthResults(
            spf=AuthResult(row["spf"]),
            dkim=AuthResult(row["dkim"]),
            dmarc=AuthResult(row["dmarc"]),
            arc=AuthResult(row["arc"]),
        ),
        in_reply_to=row.get("in_reply_to"),
        references=tuple(row["references"] or ()),
        direction=Direction(row["direction"]),
    )


def table_to_messages(table: pa.Table) -> Iterator[Message]:
    """Yield :class:`Message` records from a table in the message-log shape."""
    for batch in table.to_batches(max_chunksize=10_000):
        for row in batch.to_pylist():
            yield row_to_message(row)


def labels_to_table(labels: Iterable[Label]) -> pa.Table:
    rows = [
        {
            "message_id": lb.message_id,
            "category": lb.category.value,
            "campaign_id": lb.campaign_id,
            "source": lb.source,
        }
        for lb in labels
    ]
    return pa.Table.from_pylist(rows, schema=LABEL_SCHEMA)


def table_to_labels(table: pa.Table) -> list[Label]:
    return [
        Label(r["message_id"], Category(r["category"]), r["campaign_id"], r["source"])
        for r in table.to_pylist()
    ]


# ------------------------------------------------------------------------------ writing


class MessageLogWriter:
    """Write a message log folder in parts; use as a context manager.

    Tables are appended with :meth:`write_table` (already in :data:`MESSAGE_SCHEMA`) or
    :meth:`write_messages`; labels with :meth:`write_labels`. ``log.json`` is written last, on
    a clean exit, so a folder without it is an unfinished log and :func:`read_messages`
    says so.
    """

    def __init__(self, path: str | Path, *, overwrite: bool = False, created_by: str = "") -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self.created_by = created_by
        self._part = 0
        self._rows = 0
        self._labels: list[pa.Table] = []
        self._extra: dict[str, Any] = {}

    def __enter__(self) -> MessageLogWriter:
        if (self.path / "log.json").exists() or (self.path / "messages").exists():
            if not self.overwrite:
                raise MessageLogError(
                    f"{self.path} already holds a message log; pass overwrite=True "
                    "(--overwrite on the command line) to replace it"
                )
            for name in ("messages", "quarantine"):
                shutil.rmtree(self.path / name, ignore_errors=True)
            for name in ("log.json", "labels.parquet", "quarantine.jsonl"):
                (self.path / name).unlink(missing_ok=True)
        (self.path / "messages").mkdir(parents=True, exist_ok=True)
        return self

    def write_table(self, table: pa.Table) -> None:
        if not table.schema.equals(MESSAGE_SCHEMA):
            raise MessageLogError(
                f"table written to {self.path} does not have the message-log schema:\n"
                f"{table.schema}"
            )
        for start in range(0, max(table.num_rows, 1), _PART_ROWS):
            chunk = table.slice(start, _PART_ROWS)
            if chunk.num_rows == 0:
                return
            pq.write_table(
                chunk,
                self.path / "messages" / f"part-{self._part:05d}.parquet",
                compression="zstd",
            )
            self._part += 1
            self._rows += chunk.num_rows

    def write_messages(self, messages: Iterable[Message]) -> None:
        self.write_table(messages_to_table(messages))

    def write_labels(self, labels: pa.Table | Iterable[Label]) -> None:
        table = labels if isinstance(labels, pa.Table) else labels_to_table(labels)
        if not table.schema.equals(LABEL_SCHEMA):
            raise MessageLogError(f"labels do not have the label schema:\n{table.schema}")
        self._labels.append(table)

    def set_info(self, **info: Any) -> None:
        """Extra JSON-serialisable facts recorded in ``log.json`` (counts, options)."""
        self._extra.update(info)

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            return
        n_labels = 0
        if self._labels:
            labels = pa.concat_tables(self._labels)
            n_labels = labels.num_rows
            pq.write_table(labels, self.path / "labels.parquet", compression="zstd")
        info = {
            "schema_version": SCHEMA_VERSION,
            "messages": self._rows,
            "parts": self._part,
            "labels": n_labels,
            "created_by": self.created_by,
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **self._extra,
        }
        (self.path / "log.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        logger.info("wrote message log %s: %d messages, %d labels", self.path, self._rows, n_labels)


# ------------------------------------------------------------------------------ reading


def read_log_info(path: str | Path) -> dict[str, Any]:
    """Return ``log.json`` of a message log folder, checking that it is one we can read."""
    path = Path(path)
    info_path = path / "log.json"
    if not info_path.exists():
        raise MessageLogError(
            f"{path} is not a finished message log (no log.json); "
            "write one with `graphdet generate` or `graphdet ingest`"
        )
    try:
        info: dict[str, Any] = json.loads(info_path.read_text())
    except json.JSONDecodeError as e:
        raise MessageLogError(f"{info_path}: not valid JSON ({e})") from e
    version = info.get("schema_version")
    if version != SCHEMA_VERSION:
        raise MessageLogError(
            f"{info_path}: schema_version {version!r}, this graphdet reads {SCHEMA_VERSION}"
        )
    return info


def read_messages(
    path: str | Path, *, columns: list[str] | None = None, filter: Any = None
) -> pa.Table:
    """Read the messages of a log folder as one Arrow table (optionally some columns/rows)."""
    path = Path(path)
    read_log_info(path)
    if not any((path / "messages").glob("*.parquet")):  # every input record was quarantined
        table = MESSAGE_SCHEMA.empty_table()
        return table.select(columns) if columns is not None else table
    dataset = ds.dataset(path / "messages", format="parquet")
    missing = [f.name for f in MESSAGE_SCHEMA if f.name not in dataset.schema.names]
    if missing:
        raise MessageLogError(f"{path}/messages: missing columns {missing}")
    return dataset.to_table(columns=columns, filter=filter)


def read_labels(path: str | Path) -> pa.Table:
    """Read the labels of a log folder (an empty table when it has none)."""
    path = Path(path)
    read_log_info(path)
    label_path = path / "labels.parquet"
    if not label_path.exists():
        return LABEL_SCHEMA.empty_table()
    return pq.read_table(label_path)
