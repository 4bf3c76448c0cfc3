"""Property tests: no input bytes crash the parser, and ingest accounts for every record."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from graphdet.ingest import RawRecord, RecordError, ingest, parse_message, parse_record
from graphdet.messagelog import messages_to_table, read_messages
from graphdet.schema import Message
from graphdet.tenants import TenantConfig, TenantSpec

# scaled from the active profile (tests/conftest.py): 60 by default, more with "thorough"
_BASE = settings.default.max_examples
FILES = Path(__file__).resolve().parents[1] / "files" / "ingest"
GOLDEN = sorted(p.read_bytes() for p in FILES.glob("*.eml"))
CONFIGS = [TenantConfig(), TenantConfig((TenantSpec("acme", ("acme.com",)),))]

_HEADER_NAMES = [
    "From",
    "To",
    "Cc",
    "Sender",
    "Reply-To",
    "Return-Path",
    "Subject",
    "Date",
    "Received",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "Authentication-Results",
    "Received-SPF",
    "MIME-Version",
    "X-Junk",
]
_PIECES = [
    "a@acme.com",
    "<b@x.org>",
    '"Smith, Bob"',
    "=?utf-8?B?w7w=?=",
    "=?x-bad?Q?=FF?=",
    "=?utf-8?q?broken",
    "multipart/mixed; boundary=B",
    'multipart/alternative; boundary="B"',
    "text/html; charset=x-unknown",
    "text/plain; charset=utf-16",
    "base64",
    "quoted-printable",
    "attachment; filename*=utf-8''%FF%C3",
    "Tue, 12 Mar 2024 09:15:42 +0100",
    "Mon, 31 Feb 99999 25:61:00 +9999",
    ";",
    ":",
    ",",
    "(",
    ")",
    "spf=pass",
    "dkim=fail",
    "dmarc=",
    "\xfc\xdf",
    "\x00",
    "\n ",
    "\n\t",
    "--B",
    "<",
    ">",
    " ",
]
_text = st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=12)), max_size=6).map("".join)
_header = st.builds(lambda n, v: f"{n}: {v}", st.sampled_from(_HEADER_NAMES), _text)
_body = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "--B",
                "--B--",
                "Content-Type: text/html",
                "",
                "<a href='http://x'>y</a>",
                "JVBERi0x!!",
                "=C3=",
                "From x Mon Apr  1 10:00:00 2024",
            ]
        ),
        st.text(max_size=20),
    ),
    max_size=10,
).map("\n".join)


@st.composite
def header_ish(draw: st.DrawFn) -> bytes:
    headers = draw(st.lists(_header, max_size=12))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(headers) + newline + newline + draw(_body)
    return text.encode(draw(st.sampled_from(["utf-8", "latin-1"])), errors="replace")


@st.composite
def mutated_golden(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(GOLDEN)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["delete", "insert", "flip", "truncate", "duplicate"]))
        i = draw(st.integers(0, len(data)))
        j = min(len(data), i + draw(st.integers(0, 64)))
        if op == "delete":
            del data[i:j]
        elif op == "insert":
            data[i:i] = draw(
                st.one_of(st.binary(max_size=16), st.sampled_from([b"\n\n", b"=?", b"--", b"\r"]))
            )
        elif op == "flip" and i < len(data):
            data[i] ^= draw(st.integers(1, 255))
        elif op == "truncate":
            del data[i:]
        else:
            data[i:i] = data[i:j]
    return bytes(data)


any_mail = st.one_of(st.binary(max_size=300), header_ish(), mutated_golden())


def _check(messages: list[Message], raw: bytes) -> None:
    assert messages
    assert len({m.message_id for m in messages}) == 1
    assert len({m.tenant for m in messages}) == len(messages)
    for m in messages:
        assert m.received_at.tzinfo is UTC
        assert m.message_id.startswith("<") and m.message_id.endswith(">")
        assert "@" in m.from_.addr
        assert all("@" in a.addr for a in m.recipients)
    # every string must be writable to the message log (no surrogates from 8-bit bytes)
    messages_to_table(messages)


@settings(max_examples=_BASE * 5 // 2)
@given(raw=any_mail, config=st.sampled_from(CONFIGS))
def test_parse_message_only_raises_record_error(raw: bytes, config: TenantConfig) -> None:
    try:
        messages = parse_message(raw, config)
    except RecordError as e:
        assert str(e)  # a reason is always given
        return
    _check(messages, raw)


@settings(max_examples=_BASE * 4 // 3)
@given(raw=any_mail, config=st.sampled_from(CONFIGS))
def test_parse_record_gives_messages_or_record_error(raw: bytes, config: TenantConfig) -> None:
    try:
        messages, label = parse_record(RawRecord("hypothesis", raw=raw), config)
    except RecordError as e:
        assert not str(e).startswith("internal parser error"), str(e)
        return
    assert label is None
    _check(messages, raw)
    assert parse_record(RawRecord("again", raw=raw), config)[0] == messages  # deterministic


@settings(max_examples=_BASE // 4)
@given(files=st.lists(any_mail, min_size=1, max_size=8), as_mbox=st.booleans())
def test_ingest_accounts_for_every_record(files: list[bytes], as_mbox: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        if as_mbox:
            (src / "all.mbox").write_bytes(
                b"".join(b"From x@y Mon Apr  1 10:00:00 2024\n" + raw + b"\n\n" for raw in files)
            )
        else:
            for i, raw in enumerate(files):
                (src / f"{i:03d}.eml").write_bytes(raw)
        stats = ingest([src], Path(tmp) / "out", CONFIGS[1])
        assert stats.records_in == stats.parsed + stats.quarantined
        if not as_mbox:
            assert stats.records_in == len(files)
        assert sum(stats.reasons.values()) == stats.quarantined
        assert not any(r.startswith("internal parser error") for r in stats.reasons)
        index = Path(tmp) / "out" / "quarantine.jsonl"
        entries = [json.loads(x) for x in index.read_text().splitlines()] if index.exists() else []
        assert [e["n"] for e in entries] == list(range(stats.quarantined))
        for e in entries:
            assert (Path(tmp) / "out" / e["raw_file"]).is_file()
        assert (
            sorted(p.name for p in (Path(tmp) / "out" / "quarantine").glob("*"))
            == sorted(Path(e["raw_file"]).name for e in entries)
            or not entries
        )
        table = read_messages(Path(tmp) / "out")
        assert table.num_rows == stats.rows_written
        assert (
            len(
                set(
                    zip(
                        table.column("tenant").to_pylist(),
                        table.column("message_id").to_pylist(),
                        strict=True,
                    )
                )
            )
            == table.num_rows
        )
