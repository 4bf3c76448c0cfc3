"""Neutralise and inject real corpus mail into a tenant's test period.

The corpora come from other eras and other receivers, so the headers they carry give the
source (and with it the label) away: a 2002 SpamAssassin ham has fetchmail ``Received`` lines,
a 2026 honeypot phish forty ``X-MS-Exchange-*`` stamps and an ``Authentication-Results`` of the
collector's mailbox. Every injected message, attack or ham, goes through exactly the same
:func:`neutralise`:

* **kept as the sender wrote them** (content, not transport): ``From``, ``Subject``,
  ``Reply-To`` and the MIME structure headers ``MIME-Version``, ``Content-Type``,
  ``Content-Transfer-Encoding``, ``Content-Disposition``; the body is untouched.
* **rewritten**: ``To`` (tenant members, see :class:`RecipientSampler`), ``Date`` (inside the
  test window, see :class:`TimeSampler`, always written in UTC), ``Message-ID`` (an opaque id;
  id styles date a message and name its software).
* **dropped**, everything else: the trace fields ``Received`` and ``Return-Path`` (RFC 5322
  3.6.7: they describe another delivery), ``Authentication-Results``, ``Received-SPF``,
  ``ARC-*`` and ``DKIM-Signature`` (another receiver's verdicts), ``Cc``/``Bcc``/``Delivered-To``
  (the original recipients), ``In-Reply-To``/``References`` (threads that never reached the
  tenant), list headers (``List-*``, ``Precedence``), bulk-mail headers (``Feedback-ID``,
  ``List-Unsubscribe-Post``), every ``X-*`` header, ``Sender``, ``User-Agent`` and the mbox
  ``From`` line.

So every injected message has the header names ``From, To, Subject, Date, Message-ID,
MIME-Version, Content-Type, Content-Transfer-Encoding`` (defaults written where missing) plus,
where the sender set them, ``Reply-To`` and ``Content-Disposition``.

After parsing, :func:`scrub` replaces the original recipients' addresses and the corpus's
collector literals (the honeypot's ``phishing@pot``) in every text field by the new
recipient, so no feature can read them. :func:`neutral_view` finally clears the
authentication results and ``Return-Path`` of *every* message of an evaluation (the tenant's
own mail too, whose results are the mailing-list server's): those fields exist for some
sources and not others, so they would tell sources apart.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.utils import format_datetime, formataddr

import numpy as np
import pyarrow as pa

from graphdet.ingest import RecordError, parse_message
from graphdet.ingest.addresses import parse_address_list
from graphdet.schema import Address, AuthResults, Category, Label, Message, Url
from graphdet.tenants import TenantConfig

__all__ = [
    "INJECTED_ID_DOMAIN",
    "KEPT_HEADERS",
    "NEUTRAL_HEADERS",
    "InjectedBatch",
    "RecipientSampler",
    "TimeSampler",
    "header_names",
    "inject",
    "neutral_message",
    "neutral_view",
    "neutralise",
    "original_recipients",
    "scrub",
    "split_headers",
]

#: headers kept verbatim when present (lower case)
KEPT_HEADERS = ("from", "subject", "reply-to", "mime-version", "content-type", "content-transfer-encoding",
                "content-disposition")
#: the header names every injected message has, in the order written
NEUTRAL_HEADERS = ("from", "to", "subject", "date", "message-id", "mime-version", "content-type",
                   "content-transfer-encoding")
INJECTED_ID_DOMAIN = "injected.graphdet.invalid"
_DEFAULTS = {"subject": b"", "mime-version": b"1.0", "content-type": b"text/plain",
             "content-transfer-encoding": b"7bit"}
_HEADER = re.compile(rb"^([!-9;-~]+)[ \t]*:[ \t]?(.*)$", re.DOTALL)
_BLANK = re.compile(rb"\r?\n\r?\n")
_RECIPIENT_HEADERS = ("to", "cc", "bcc", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to",
                      "apparently-to", "resent-to")


def split_headers(raw: bytes) -> tuple[list[tuple[str, bytes]], bytes]:
    """(``[(lower-case name, raw value incl. folded lines)]``, body) of RFC 5322 bytes.

    A leading mbox ``From `` line is skipped. The header block ends at the first empty line,
    or at the first line that is neither a header nor a continuation (the rest is body).
    """
    if raw.startswith(b"From "):
        nl = raw.find(b"\n")
        raw = b"" if nl < 0 else raw[nl + 1 :]
    m = _BLANK.search(raw)
    head, body = (raw[: m.start()], raw[m.end() :]) if m else (raw, b"")
    headers: list[tuple[str, bytes]] = []
    lines = head.split(b"\n")
    for i, line in enumerate(lines):
        line = line.rstrip(b"\r")
        if line[:1] in (b" ", b"\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + b"\n" + line)
            continue
        hm = _HEADER.match(line)
        if hm is None:  # the body began without a blank line
            rest = b"\n".join(lines[i:])
            body = rest + (b"\n\n" + body if m else b"")
            break
        headers.append((hm.group(1).decode("ascii").lower(), hm.group(2)))
    return headers, body


def header_names(raw: bytes) -> list[str]:
    """The lower-case header names of a message, in order (repeats kept)."""
    return [name for name, _ in split_headers(raw)[0]]


def original_recipients(raw: bytes) -> list[str]:
    """Every address in the recipient and envelope headers (To, Cc, Delivered-To, ...)."""
    out: list[str] = []
    for name, value in split_headers(raw)[0]:
        if name in _RECIPIENT_HEADERS:
            text = value.decode("utf-8", "replace")
            out += [a.strip().strip("<>").lower() for _, a in parse_address_list(text) if "@" in a]
    return sorted(set(out))


def _encode_addr(a: Address) -> bytes:
    return formataddr((a.name, a.addr), charset="utf-8").encode("ascii")


def _encode_text(text: str) -> bytes:
    return text.encode("ascii") if text.isascii() else Header(text, "utf-8").encode().encode("ascii")


def neutralise(
    raw: bytes,
    *,
    to: Sequence[Address],
    date: datetime,
    message_id: str,
    sender: Address | None = None,
    subject: str | None = None,
) -> bytes:
    """The message re-addressed to ``to`` at ``date``, with only the neutral headers.

    ``sender`` and ``subject`` replace ``From`` and ``Subject`` (targeted cases built on a
    real message). Raises :class:`ValueError` for an empty ``to`` or a naive ``date``.
    """
    if not to:
        raise ValueError("neutralise: at least one recipient is needed")
    if date.tzinfo is None:
        raise ValueError(f"neutralise: date {date!r} has no time zone")
    headers, body = split_headers(raw)
    kept: dict[str, bytes] = {}
    for name, value in headers:
        if name in KEPT_HEADERS and name not in kept:  # the first of repeated headers, as parsers do
            kept[name] = value
    if sender is not None:
        kept["from"] = _encode_addr(sender)
    if subject is not None:
        kept["subject"] = _encode_text(subject)
    new = {
        "to": b", ".join(_encode_addr(a) for a in to),
        "date": format_datetime(date.astimezone(UTC)).encode("ascii"),
        "message-id": message_id.encode("ascii"),
    }
    out: list[bytes] = []
    for name in NEUTRAL_HEADERS:
        value = new.get(name, kept.get(name, _DEFAULTS.get(name, b"")))
        out.append(_canonical(name) + b": " + value)
    for name in ("reply-to", "content-disposition"):
        if name in kept:
            out.append(_canonical(name) + b": " + kept[name])
    return b"\n".join(out) + b"\n\n" + body


def _canonical(name: str) -> bytes:
    if name == "message-id":
        return b"Message-ID"
    if name == "mime-version":
        return b"MIME-Version"
    return "-".join(p.capitalize() for p in name.split("-")).encode("ascii")


def scrub(m: Message, literals: Iterable[str], replacement: str) -> Message:
    """``m`` with every literal (case-insensitive) in its text fields replaced."""
    words = sorted({w for w in literals if w}, key=len, reverse=True)
    if not words:
        return m
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)

    def sub(text: str) -> str:
        return pattern.sub(replacement, text) if text else text

    reply = m.reply_to
    if reply is not None:
        reply = Address(sub(reply.addr), sub(reply.name))
    return replace(
        m,
        from_=Address(m.from_.addr, sub(m.from_.name)),
        reply_to=reply,
        subject=sub(m.subject),
        body=sub(m.body),
        urls=tuple(Url(sub(u.url), sub(u.anchor_text)) for u in m.urls),
        attachments=tuple(replace(a, name=sub(a.name)) for a in m.attachments),
    )


def neutral_message(m: Message) -> Message:
    """``m`` without authentication results and Return-Path (see the module docstring)."""
    return replace(m, auth=AuthResults(), return_path=None)


def neutral_view(table: pa.Table) -> pa.Table:
    """A message-log table with auth results ``none`` and Return-Path null on every row."""
    n = table.num_rows
    for col in ("spf", "dkim", "dmarc", "arc"):
        i = table.schema.get_field_index(col)
        table = table.set_column(i, table.schema.field(i), pa.array(["none"] * n, pa.string()))
    i = table.schema.get_field_index("return_path")
    return table.set_column(i, table.schema.field(i), pa.nulls(n, pa.string()))


@dataclass(frozen=True)
class TimeSampler:
    """Dates inside ``[start, end)``: a real tenant message time plus up to ``jitter`` either side.

    Drawing around real times gives injected mail the tenant's daily and weekly rhythm; the
    same sampler serves every injected class. Without reference times, uniform in the window.
    """

    start: datetime
    end: datetime
    reference: tuple[datetime, ...] = ()
    jitter: timedelta = timedelta(hours=2)

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(f"TimeSampler: empty window {self.start} .. {self.end}")

    def draw(self, rng: np.random.Generator) -> datetime:
        span = (self.end - self.start).total_seconds()
        refs = [t for t in self.reference if self.start <= t < self.end]
        if refs:
            base = refs[int(rng.integers(0, len(refs)))]
            t = base + timedelta(seconds=float(rng.uniform(-1, 1)) * self.jitter.total_seconds())
            offset = (t - self.start).total_seconds()
            offset = min(max(offset, 0.0), span - 1.0)
        else:
            offset = float(rng.uniform(0, span - 1.0))
        return (self.start + timedelta(seconds=int(offset))).astimezone(UTC)


@dataclass(frozen=True)
class RecipientSampler:
    """Tenant members drawn in proportion to ``weights`` (e.g. the mail they received)."""

    members: tuple[Address, ...]
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.members or len(self.members) != len(self.weights) or sum(self.weights) <= 0:
            raise ValueError(f"RecipientSampler: {len(self.members)} members, {len(self.weights)} weights")

    def draw(self, rng: np.random.Generator) -> Address:
        p = np.asarray(self.weights, dtype=np.float64)
        return self.members[int(rng.choice(len(self.members), p=p / p.sum()))]


@dataclass
class InjectedBatch:
    """Messages injected from one source, their labels, and what could not be injected."""

    messages: list[Message] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def inject(
    items: Iterable[tuple[str, bytes]],
    *,
    source: str,
    category: Category,
    config: TenantConfig,
    times: TimeSampler,
    recipients: RecipientSampler,
    rng: np.random.Generator,
    literals: Sequence[str] = (),
) -> InjectedBatch:
    """Neutralise, re-address, parse and scrub each ``(key, raw)``; label it ``category``.

    ``key`` identifies the original (e.g. its content hash) and makes the new Message-ID.
    Messages that do not parse (or do not reach the tenant) are counted in ``skipped``.
    """
    out = InjectedBatch()
    for key, raw in items:
        to = recipients.draw(rng)
        when = times.draw(rng)
        mid = f"<{source}.{hashlib.sha256(key.encode()).hexdigest()[:20]}@{INJECTED_ID_DOMAIN}>"
        try:
            parsed = parse_message(neutralise(raw, to=[to], date=when, message_id=mid), config)
        except RecordError as e:
            out.skipped[str(e).split(":", 1)[0]] += 1
            continue
        mine = [m for m in parsed if m.tenant == config.tenant_of_domain(to.domain)]
        if not mine:
            out.skipped["does not reach the tenant"] += 1
            continue
        m = scrub(mine[0], [*literals, *original_recipients(raw)], to.addr)
        out.messages.append(neutral_message(m))
        out.labels.append(Label(m.message_id, category, "" if category is Category.SAFE else source, source))
    return out
