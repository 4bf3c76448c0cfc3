"""Render message-log rows as real RFC 5322 mail (.eml files, mbox), for ingest round trips.

Each message becomes ``multipart/mixed`` (when it has attachments) around a
``multipart/alternative`` of ``text/plain`` (exactly the ``body`` column, plus the final
newline MIME requires) and ``text/html`` (the body as paragraphs, then one
``<a href="URL">anchor</a>`` per entry of ``urls``). Attachments are base64 parts whose bytes
come from :func:`graphdet.synth.attachments.attachment_bytes`, so their sha256 equals the
table's. Headers: From, To, Cc, Reply-To, Return-Path, Subject (RFC 2047 encoded words when
not ASCII), Date and a Received line carrying ``received_at``, Message-ID, In-Reply-To,
References and ``Authentication-Results: mx.graphdet.invalid; spf=..; dkim=..; dmarc=..; arc=..``.

mbox output is *mboxrd*: a ``From <envelope sender> <asctime>`` line before each message and
``>`` prepended to body lines matching ``^>*From ``.

Python per message (the stdlib email package): meant for subsets, not for millions.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import logging
import re
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from graphdet.synth.attachments import attachment_bytes

__all__ = ["attachment_bytes", "render_message", "write_eml_dir", "write_mbox"]

logger = logging.getLogger(__name__)

_POLICY = policy.default.clone(linesep="\n", max_line_length=78)
_FROM_LINE = re.compile(rb"^(>*From )", re.MULTILINE)
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _addr(addr: str, name: str | None) -> Address:
    return Address(display_name=name or "", addr_spec=addr)


def _html(body: str, urls: list[dict[str, str]]) -> str:
    paras = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>\n" for p in body.split("\n\n"))
    links = "".join(
        f'<p><a href="{html.escape(u["url"], quote=True)}">{html.escape(u["anchor_text"] or u["url"])}</a></p>\n'
        for u in urls
    )
    return f"<html><body>\n{paras}{links}</body></html>\n"


def _received(row: dict[str, Any]) -> datetime:
    t: datetime = row["received_at"]
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def render_message(row: dict[str, Any]) -> EmailMessage:
    """One message-log row (a dict, as from ``Table.to_pylist``) as an :class:`EmailMessage`."""
    msg = EmailMessage(policy=_POLICY)
    when = format_datetime(_received(row).astimezone(UTC))
    from_domain = row["from_addr"].rsplit("@", 1)[-1]
    msg["Return-Path"] = f"<{row['return_path'] or row['from_addr']}>"
    msg["Received"] = f"from mail.{from_domain} by mx.graphdet.invalid; {when}"
    msg["Authentication-Results"] = (
        f"mx.graphdet.invalid; spf={row['spf']}; dkim={row['dkim']}; dmarc={row['dmarc']}; arc={row['arc']}"
    )
    msg["From"] = _addr(row["from_addr"], row["from_name"])
    if row["to"]:
        msg["To"] = [_addr(a["addr"], a["name"]) for a in row["to"]]
    if row["cc"]:
        msg["Cc"] = [_addr(a["addr"], a["name"]) for a in row["cc"]]
    if row.get("reply_to_addr"):
        msg["Reply-To"] = _addr(row["reply_to_addr"], row.get("reply_to_name"))
    msg["Subject"] = row["subject"]
    msg["Date"] = when
    msg["Message-ID"] = row["message_id"]
    if row.get("in_reply_to"):
        msg["In-Reply-To"] = row["in_reply_to"]
    if row["references"]:
        msg["References"] = " ".join(row["references"])
    msg.set_content(row["body"])
    msg.add_alternative(_html(row["body"], row["urls"] or []), subtype="html")
    for a in row["attachments"] or []:
        data = attachment_bytes(a["name"], int(a["size"]))
        maintype, _, subtype = a["content_type"].partition("/")
        msg.add_attachment(
            data, maintype=maintype, subtype=subtype or "octet-stream", filename=a["name"], cte="base64"
        )
    tag = hashlib.sha256(row["message_id"].encode()).hexdigest()[:20]
    for i, part in enumerate(p for p in msg.walk() if p.is_multipart()):
        part.set_boundary(f"=_graphdet_{tag}_{i}")  # deterministic bytes for the same row
    return msg


def _rows(table: pa.Table, limit: int | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = table.slice(0, limit if limit is not None else table.num_rows).to_pylist()
    return rows


def write_eml_dir(table: pa.Table, directory: str | Path, *, limit: int | None = None) -> list[Path]:
    """Write the first ``limit`` rows (all by default) as ``DIR/000000.eml`` ...; returns the paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, row in enumerate(_rows(table, limit)):
        p = out / f"{i:06d}.eml"
        p.write_bytes(render_message(row).as_bytes(policy=_POLICY))
        paths.append(p)
    logger.info("wrote %d .eml files to %s", len(paths), out)
    return paths


def _asctime(t: datetime) -> str:
    t = t.astimezone(UTC)
    return f"{_DAYS[t.weekday()]} {_MONTHS[t.month - 1]} {t.day:2d} {t:%H:%M:%S} {t.year}"


def write_mbox(table: pa.Table, path: str | Path, *, limit: int | None = None) -> int:
    """Write the first ``limit`` rows (all by default) to an mboxrd file; returns the count.

    A path ending in ``.gz`` is gzip-compressed (with a fixed mtime, so output is repeatable).
    """
    n = 0
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = path.open("wb")
    f: Any = gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) if path.suffix == ".gz" else raw
    with raw, f:
        for row in _rows(table, limit):
            data = render_message(row).as_bytes(policy=_POLICY)
            sender = row["return_path"] or row["from_addr"]
            f.write(f"From {sender} {_asctime(_received(row))}\n".encode())
            f.write(_FROM_LINE.sub(rb">\1", data))
            if not data.endswith(b"\n"):
                f.write(b"\n")
            f.write(b"\n")
            n += 1
    logger.info("wrote %d messages to mbox %s", n, path)
    return n
