"""Tabular inputs (JSONL, CSV, Parquet) in the message-log shape, both ways.

A table row uses the column names of :data:`graphdet.messagelog.MESSAGE_SCHEMA`.
Required: ``message_id``, ``received_at`` (ISO 8601; naive means UTC) and ``from_addr``.
Everything else is optional. ``tenant`` and ``direction``, when absent, are derived from the
tenant config exactly as for raw mail. In CSV the list columns (``to``, ``cc``, ``urls``,
``attachments``, ``references``) hold JSON; ``to``/``cc`` may also be a plain address list
(``"Jane <jane@x.com>, bob@y.com"``). An optional ``category`` column (with ``campaign_id``
and ``label_source``) becomes a label.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from graphdet.ingest.addresses import getaddresses
from graphdet.ingest.rfc822 import RecordError, decode_words
from graphdet.messagelog import MESSAGE_SCHEMA, row_to_message
from graphdet.schema import AuthResult, Category, Direction, Label, Message, normalize_addr
from graphdet.tenants import TenantConfig

__all__ = ["row_to_messages", "write_table_file"]

_LIST_COLUMNS = ("to", "cc", "urls", "attachments", "references")


def _time(value: Any, column: str) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, str) and value.strip():
        try:
            t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise RecordError(f"{column} {value!r} is not an ISO 8601 time") from None
        return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    raise RecordError(f"{column} is missing or not a time: {value!r}")


def _addr_list(value: Any, column: str) -> list[dict[str, str]]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as e:
                raise RecordError(f"{column}: invalid JSON list ({e})") from None
        else:
            return [
                {"addr": normalize_addr(a), "name": decode_words(n)}
                for n, a in getaddresses([text])
                if "@" in a
            ]
    if not isinstance(value, list):
        raise RecordError(f"{column}: expected a list of addresses, got {type(value).__name__}")
    out = []
    for item in value:
        if isinstance(item, str):
            item = {"addr": item, "name": ""}
        if not isinstance(item, dict) or not isinstance(item.get("addr"), str):
            raise RecordError(f"{column}: each address needs an 'addr' string, got {item!r}")
        out.append({"addr": normalize_addr(item["addr"]), "name": str(item.get("name") or "")})
    return out


def _json_list(value: Any, column: str) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise RecordError(f"{column}: invalid JSON list ({e})") from None
    if not isinstance(value, list):
        raise RecordError(f"{column}: expected a list, got {type(value).__name__}")
    return value


def _str(row: dict[str, Any], column: str) -> str:
    v = row.get(column)
    return "" if v is None else str(v)


def row_to_messages(row: dict[str, Any], config: TenantConfig) -> tuple[list[Message], Label | None]:
    """Validate one table row and build its message(s) and optional label.

    Raises :class:`RecordError` naming the column at fault.
    """
    message_id = _str(row, "message_id").strip()
    if not message_id:
        raise RecordError("message_id is missing or empty")
    from_addr = normalize_addr(_str(row, "from_addr"))
    if "@" not in from_addr:
        raise RecordError(f"from_addr {row.get('from_addr')!r} is not an address")
    to = _addr_list(row.get("to"), "to")
    cc = _addr_list(row.get("cc"), "cc")
    urls = _json_list(row.get("urls"), "urls")
    attachments = _json_list(row.get("attachments"), "attachments")
    refs = _json_list(row.get("references"), "references")
    try:
        urls = [{"url": str(u["url"]), "anchor_text": str(u.get("anchor_text") or "")} for u in urls]
        attachments = [
            {
                "name": str(a["name"]),
                "content_type": str(a.get("content_type") or "application/octet-stream"),
                "size": int(a.get("size") or 0),
                "sha256": str(a.get("sha256") or ""),
            }
            for a in attachments
        ]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise RecordError(f"urls/attachments: malformed entry ({type(e).__name__}: {e})") from None
    auth = {}
    for method in ("spf", "dkim", "dmarc", "arc"):
        value = _str(row, method)
        if value and AuthResult.parse(value) is AuthResult.NONE and value.lower() != "none":
            raise RecordError(f"{method} {value!r} is not an authentication result")
        auth[method] = AuthResult.parse(value).value

    base = {
        "message_id": message_id,
        "received_at": _time(row.get("received_at"), "received_at"),
        "from_addr": from_addr,
        "from_name": _str(row, "from_name"),
        "to": to,
        "cc": cc,
        "reply_to_addr": normalize_addr(_str(row, "reply_to_addr")) or None,
        "reply_to_name": _str(row, "reply_to_name") or None,
        "return_path": normalize_addr(_str(row, "return_path")) or None,
        "subject": _str(row, "subject"),
        "body": _str(row, "body"),
        "urls": urls,
        "attachments": attachments,
        "in_reply_to": _str(row, "in_reply_to") or None,
        "references": [str(r) for r in refs],
        **auth,
    }
    tenant = _str(row, "tenant")
    direction = _str(row, "direction")
    if direction:
        try:
            Direction(direction)
        except ValueError:
            raise RecordError(
                f"direction {direction!r} is not one of {[d.value for d in Direction]}"
            ) from None
    if tenant:
        routes = [(tenant, Direction(direction) if direction else _direction_for(tenant, base, config))]
    else:
        routes = config.route(from_addr.rpartition("@")[2], [a["addr"].rpartition("@")[2] for a in to + cc])
        if not routes:
            raise RecordError(f"no configured tenant owns the sender {from_addr!r} or any recipient")
    messages = [row_to_message({**base, "tenant": t, "direction": d.value}) for t, d in routes]

    label = None
    category = _str(row, "category")
    if category:
        try:
            cat = Category(category)
        except ValueError:
            raise RecordError(f"category {category!r} is not one of {[c.value for c in Category]}") from None
        label = Label(message_id, cat, _str(row, "campaign_id"), _str(row, "label_source"))
    return messages, label


def _direction_for(tenant: str, base: dict[str, Any], config: TenantConfig) -> Direction:
    for t, d in config.route(
        base["from_addr"].rpartition("@")[2], [a["addr"].rpartition("@")[2] for a in base["to"] + base["cc"]]
    ):
        if t == tenant:
            return d
    return Direction.UNKNOWN


def write_table_file(table: pa.Table, path: str | Path) -> None:
    """Export a message-log table as JSONL, CSV or Parquet (chosen by the file extension).

    What this writes, ``graphdet ingest`` reads back to identical messages.
    """
    path = Path(path)
    if not table.schema.equals(MESSAGE_SCHEMA):
        table = table.cast(MESSAGE_SCHEMA)
    name = path.name.lower()
    if name.endswith(".parquet"):
        pq.write_table(table, path)
    elif name.endswith((".jsonl", ".ndjson")):
        with path.open("w", encoding="utf-8") as f:
            for row in table.to_pylist():
                row["received_at"] = row["received_at"].isoformat()
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif name.endswith(".csv"):
        rows = table.to_pylist()
        for row in rows:
            row["received_at"] = row["received_at"].isoformat()
            for col in _LIST_COLUMNS:
                row[col] = json.dumps(row[col], ensure_ascii=False)
        flat = pa.Table.from_pylist(rows)
        pacsv.write_csv(flat, path)
    else:
        raise ValueError(f"{path}: use a .parquet, .jsonl or .csv extension")
