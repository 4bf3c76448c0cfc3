"""RFC 5322 bytes -> :class:`~graphdet.schema.Message` records, on the fast path.

The stdlib parser with ``policy.default`` costs ~15x more than with ``compat32`` on real mail,
so we parse with ``compat32`` and decode only what we need ourselves: encoded words
(RFC 2047), 8-bit header bytes (UTF-8, else Windows-1252), unknown charsets (fall back
instead of failing), RFC 2231 file names.

A record that cannot become a message raises :class:`RecordError` with the reason; the
ingest pipeline quarantines it. Nothing else should escape :func:`parse_message`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import quopri
import re
from datetime import UTC, datetime
from email.header import decode_header
from email.message import Message as EmailMessage
from email.parser import BytesParser
from email.policy import compat32
from email.utils import parsedate_to_datetime

from graphdet.exceptions import GraphdetError
from graphdet.ingest.addresses import parse_address_list
from graphdet.ingest.html import find_bare_urls, html_to_text
from graphdet.schema import (
    Address,
    Attachment,
    AuthResult,
    AuthResults,
    Message,
    Url,
    normalize_addr,
)
from graphdet.tenants import TenantConfig

__all__ = ["RecordError", "parse_message"]

_PARSER = BytesParser(policy=compat32)
_MSGID = re.compile(r"<([^<>\s]+)>")
_AUTH = re.compile(r"\b(spf|dkim|dmarc|arc)\s*=\s*([a-zA-Z]+)", re.IGNORECASE)
_WS = re.compile(r"\s+")
_HEADER_LINE = re.compile(rb"([!-9;-~]+)[ \t]*:")
_CHARSET = re.compile(r'charset\s*=\s*"?([^";\s]+)', re.IGNORECASE)
_MIN_YEAR, _MAX_YEAR = 1990, 2100


class RecordError(GraphdetError):
    """One input record cannot be turned into a message; the text is the reason."""


# ------------------------------------------------------------------------ header decoding


def _bytes_to_str(data: bytes, charset: str | None = None) -> str:
    """Decode with the declared charset; unknown or wrong charsets fall back, never fail."""
    if charset:
        try:
            return data.decode(charset, errors="replace")
        except (LookupError, UnicodeError, ValueError):  # unknown name, a codec that refuses
            pass  # "replace" (idna, punycode, undefined) or a name with a NUL in it
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _unsurrogate(value: str) -> str:
    """compat32 keeps 8-bit header bytes as surrogates; turn them back into text."""
    if value.isascii():
        return value
    try:
        return _bytes_to_str(value.encode("ascii", "surrogateescape"))
    except UnicodeEncodeError:
        return value  # already real text (a str header built by hand)


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words in a header value and unfold it."""
    value = _unsurrogate(value)
    if "=?" not in value:
        if "\n" in value or "\t" in value or "  " in value:
            return _WS.sub(" ", value).strip()
        return value.strip()
    try:
        parts = decode_header(value)
    except Exception:  # a malformed encoded word: keep the text as written  # noqa: BLE001
        return _WS.sub(" ", value).strip()
    out = []
    for chunk, charset in parts:
        out.append(_bytes_to_str(chunk, charset) if isinstance(chunk, bytes) else chunk)
    return _WS.sub(" ", "".join(out)).strip()


def _split(raw: bytes) -> tuple[dict[str, list[str]], bytes]:
    """Headers (name -> raw values, in order) and the body bytes, without the email package.

    Like compat32: header lines are ``name: value`` with folded continuation lines; the
    header block ends at the first empty line or the first line that is neither. A leading
    mbox ``From `` line is skipped. Values keep 8-bit bytes as surrogates.
    """
    headers: dict[str, list[str]] = {}
    pos = 0
    n = len(raw)
    if raw.startswith(b"From "):
        nl = raw.find(b"\n")
        pos = n if nl < 0 else nl + 1
    name: str | None = None
    value: list[bytes] = []
    while pos < n:
        nl = raw.find(b"\n", pos)
        end = n if nl < 0 else nl + 1
        line = raw[pos:end]
        stripped = line.rstrip(b"\r\n")
        if not stripped:  # the blank line ending the headers
            pos = end
            break
        if line[:1] in (b" ", b"\t") and name is not None:
            value.append(stripped)
        else:
            m = _HEADER_LINE.match(stripped)
            if m is None:
                break  # body starts without a blank line (broken, but seen in the wild)
            if name is not None:
                headers.setdefault(name, []).append(
                    b"\n".join(value).decode("ascii", "surrogateescape")
                )
            name = m.group(1).decode("ascii").lower()
            value = [stripped[m.end() :].lstrip()]
        pos = end
    if name is not None:
        headers.setdefault(name, []).append(b"\n".join(value).decode("ascii", "surrogateescape"))
    return headers, raw[pos:]


def _single_part_text(h: dict[str, list[str]], body: bytes) -> tuple[str, str] | None:
    """(content type, text) of a single-part text message, decoded without the parser.

    None when the message is multipart, an attachment or not text: the full parser
    handles those.
    """
    ctype_value = _unsurrogate(h["content-type"][0]) if h.get("content-type") else "text/plain"
    ctype = ctype_value.split(";", 1)[0].strip().lower() or "text/plain"
    if ctype not in ("text/plain", "text/html"):
        return None
    if any("attachment" in v.lower() for v in h.get("content-disposition", [])):
        return None
    cte = h["content-transfer-encoding"][0].strip().lower() if h.get("content-transfer-encoding") else ""
    if cte == "base64":
        try:
            body = base64.b64decode(body)
        except (binascii.Error, ValueError):
            return None  # let the parser apply its own leniency
    elif cte == "quoted-printable":
        body = quopri.decodestring(body)
    charset = _CHARSET.search(ctype_value)
    return ctype, _bytes_to_str(body, charset.group(1) if charset else None)


def _addresses(values: list[str]) -> list[Address]:
    out = []
    for name, addr in (pair for v in values for pair in parse_address_list(_unsurrogate(v))):
        addr = normalize_addr(addr)
        if "@" in addr:
            out.append(Address(addr, decode_words(name).strip("\"' ")))
    return out


def _time(value: str) -> datetime | None:
    try:
        t = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if t is None or not (_MIN_YEAR <= t.year <= _MAX_YEAR):
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _received_time(h: dict[str, list[str]], fallback: datetime | None) -> datetime | None:
    """Topmost Received timestamp (our MTA's), else Date, else the caller's fallback."""
    for value in h.get("received", [])[:1]:
        semi = value.rfind(";")
        if semi >= 0 and (t := _time(value[semi + 1 :])) is not None:
            return t
    for value in h.get("date", [])[:1]:
        if (t := _time(value)) is not None:
            return t
    # an mbox From line may carry a placeholder date (lore's "Thu Jan  1 00:00:00 1970")
    if fallback is not None and _MIN_YEAR <= fallback.year <= _MAX_YEAR:
        return fallback
    return None


def _auth(h: dict[str, list[str]]) -> AuthResults:
    """Results from the topmost Authentication-Results header (the receiving MTA's)."""
    found: dict[str, AuthResult] = {}
    for value in h.get("authentication-results", [])[:1]:
        for method, result in _AUTH.findall(value):
            method = method.lower()
            r = AuthResult.parse(result)
            # several DKIM signatures: one that passes is a pass
            if method not in found or (r is AuthResult.PASS and method == "dkim"):
                found[method] = r
    if "spf" not in found:
        for value in h.get("received-spf", [])[:1]:
            word = value.strip().split(None, 1)
            if word:
                found["spf"] = AuthResult.parse(word[0])
    return AuthResults(**found)


# --------------------------------------------------------------------------- body walking


def _part_text(part: EmailMessage) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return _bytes_to_str(payload, part.get_content_charset())


def _walk(
    part: EmailMessage, plain: list[str], html: list[str], attachments: list[Attachment]
) -> None:
    ctype = part.get_content_type()
    if part.is_multipart() and ctype != "message/rfc822":
        for sub in part.get_payload() or []:
            if isinstance(sub, EmailMessage):
                _walk(sub, plain, html, attachments)
        return
    filename = part.get_filename()
    disposition = str(part.get("Content-Disposition", "")).lower()
    if filename or disposition.startswith("attachment") or ctype == "message/rfc822":
        if ctype == "message/rfc822":
            inner = part.get_payload()
            first = inner[0] if isinstance(inner, list) and inner else None
            data = first.as_bytes() if isinstance(first, EmailMessage) else b""
        else:
            raw = part.get_payload(decode=True)
            data = raw if isinstance(raw, bytes) else b""
        name = decode_words(str(filename)) if filename else ("forwarded.eml" if ctype == "message/rfc822" else "")
        attachments.append(Attachment(name, ctype, len(data), hashlib.sha256(data).hexdigest()))
    elif ctype == "text/plain":
        plain.append(_part_text(part))
    elif ctype == "text/html":
        html.append(_part_text(part))


def _dedupe(urls: list[Url]) -> tuple[Url, ...]:
    seen: set[Url] = set()
    out = []
    for u in urls:
        if u not in seen:
            seen.add(u)
            out.append(u)
    return tuple(out)


# ------------------------------------------------------------------------------- parsing


def parse_message(
    raw: bytes, config: TenantConfig, *, fallback_time: datetime | None = None
) -> list[Message]:
    """Parse one RFC 5322 message into one :class:`Message` per tenant it belongs to.

    ``fallback_time`` (e.g. from an mbox ``From`` line) is used only when neither the
    topmost Received header nor Date gives a valid time. Raises :class:`RecordError`
    naming the reason when the bytes cannot become a message.
    """
    if not raw.strip():
        raise RecordError("empty record")
    h, body_bytes = _split(raw)
    if not h:
        raise RecordError("no headers (not an RFC 5322 message)")

    sender_chain = (
        _addresses(h.get("from", []))
        or _addresses(h.get("sender", []))
        or _addresses(h.get("return-path", []))
    )
    if not sender_chain:
        raise RecordError("no sender address (From, Sender and Return-Path all missing or empty)")
    sender = sender_chain[0]

    received_at = _received_time(h, fallback_time)
    if received_at is None:
        raise RecordError("no valid timestamp (Received, Date and mbox From line all missing or invalid)")

    to = _addresses(h.get("to", []))
    cc = _addresses(h.get("cc", []))
    reply = _addresses(h.get("reply-to", []))
    return_path = None
    if rp := h.get("return-path"):
        return_path = normalize_addr(_unsurrogate(rp[0])) or None

    mid_values = h.get("message-id", [])
    # 8-bit bytes in an id are surrogates until decoded (Arrow cannot write them)
    mid_match = _MSGID.search(_unsurrogate(mid_values[0])) if mid_values else None
    if mid_match:
        message_id = f"<{mid_match.group(1)}>"
    else:  # deterministic id from content, so re-ingesting gives the same id
        message_id = f"<sha256-{hashlib.sha256(raw).hexdigest()[:32]}@graphdet.invalid>"

    irt_values = h.get("in-reply-to", [])
    irt_match = _MSGID.search(_unsurrogate(irt_values[0])) if irt_values else None
    references = tuple(f"<{r}>" for v in h.get("references", []) for r in _MSGID.findall(_unsurrogate(v)))

    plain: list[str] = []
    html: list[str] = []
    attachments: list[Attachment] = []
    single = _single_part_text(h, body_bytes)
    if single is not None:  # the fast path: most mail is one text part
        (plain if single[0] == "text/plain" else html).append(single[1])
    else:
        try:
            _walk(_PARSER.parsebytes(raw), plain, html, attachments)
        except Exception as e:  # broken MIME deep inside a part
            raise RecordError(f"broken MIME structure: {type(e).__name__}: {e}") from e

    urls: list[Url] = []
    html_text = ""
    for doc in html:
        text, links = html_to_text(doc)
        html_text = html_text or text
        urls.extend(links)
    body = "\n\n".join(p.replace("\r\n", "\n").strip() for p in plain if p.strip()) or html_text
    if plain:
        urls.extend(find_bare_urls(body))

    routed = config.route(sender.domain, [a.domain for a in to + cc])
    if not routed and config.configured:
        envelope = _addresses(h.get("delivered-to", []) + h.get("x-original-to", []))
        routed = config.route(sender.domain, [a.domain for a in envelope])
    if not routed:
        raise RecordError(
            f"no configured tenant owns the sender {sender.addr!r} or any recipient"
        )

    subject = decode_words(h["subject"][0]) if h.get("subject") else ""
    return [
        Message(
            tenant=tenant,
            message_id=message_id,
            received_at=received_at,
            from_=sender,
            to=tuple(to),
            cc=tuple(cc),
            reply_to=reply[0] if reply else None,
            return_path=return_path,
            subject=subject,
            body=body,
            urls=_dedupe(urls),
            attachments=tuple(attachments),
            auth=_auth(h),
            in_reply_to=f"<{irt_match.group(1)}>" if irt_match else None,
            references=references,
            direction=direction,
        )
        for tenant, direction in routed
    ]
