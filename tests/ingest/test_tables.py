"""Tables: write_table_file -> ingest gives back identical messages; bad rows name the column."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from graphdet.ingest import ingest, parse_message, write_table_file
from graphdet.messagelog import messages_to_table, read_labels, read_messages, table_to_messages
from graphdet.schema import (
    Address,
    Attachment,
    AuthResult,
    AuthResults,
    Direction,
    Message,
    Url,
)
from graphdet.tenants import TenantConfig

GOLDEN = ["multipart_alternative.eml", "attachments.eml", "html_only_links.eml", "encoded_latin1.eml"]


def _generated() -> list[Message]:
    t0 = datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC)
    return [
        Message(
            tenant="globex",
            message_id="<gen-1@globex.io>",
            received_at=t0,
            from_=Address("zoë@globex.io", "Zoë «Ops» 山田"),
            to=(Address("a@acme.com", 'Quote " and, comma'), Address("b@acme.com", "")),
            cc=(Address("c@globex.io", "Çelik"),),
            reply_to=None,
            return_path=None,
            subject='Ünïcödé ✓ — "quoted", commas, and\ttabs',
            body='line one\nline two, with "quotes"\n\n— signature 😀',
            urls=(Url("https://例え.jp/パス?q=1", "クリック"), Url("http://x.io/a,b", "")),
            attachments=(Attachment("файл.pdf", "application/pdf", 0, ""),),
            auth=AuthResults(spf=AuthResult.SOFTFAIL, dkim=AuthResult.TEMPERROR, arc=AuthResult.PERMERROR),
            in_reply_to=None,
            references=(),
            direction=Direction.OUTBOUND,
        ),
        Message(
            tenant="acme",
            message_id="<gen-2@acme.com>",
            received_at=t0 + timedelta(days=300),
            from_=Address("x@acme.com"),
            reply_to=Address("evil@xn--acm-bla.com", ""),
            return_path="bounce@acme.com",
            subject="",
            body="",
            in_reply_to="<gen-1@globex.io>",
            references=("<a@b>", "<gen-1@globex.io>"),
            direction=Direction.INTERNAL,
        ),
    ]


@pytest.fixture(scope="module")
def messages(files_dir: Path, acme_config: TenantConfig) -> list[Message]:
    parsed = [
        m for name in GOLDEN for m in parse_message((files_dir / "ingest" / name).read_bytes(), acme_config)
    ]
    return parsed + _generated()


@pytest.mark.parametrize("ext", ["jsonl", "csv", "parquet"])
def test_table_round_trip(
    tmp_path: Path, messages: list[Message], acme_config: TenantConfig, ext: str
) -> None:
    path = tmp_path / f"messages.{ext}"
    write_table_file(messages_to_table(messages), path)
    # a different config must not re-route rows that carry tenant and direction
    stats = ingest([path], tmp_path / "out", TenantConfig())
    assert (stats.records_in, stats.parsed, stats.quarantined, stats.rows_written) == (6, 6, 0, 6)
    assert list(table_to_messages(read_messages(tmp_path / "out"))) == messages
    assert read_labels(tmp_path / "out").num_rows == 0


def test_unknown_extension_is_refused(tmp_path: Path, messages: list[Message]) -> None:
    with pytest.raises(ValueError, match=r"use a \.parquet, \.jsonl or \.csv extension"):
        write_table_file(messages_to_table(messages), tmp_path / "m.txt")


GOOD = {
    "message_id": "<row@x.org>",
    "received_at": "2024-05-01T10:00:00Z",
    "from_addr": "Sender@X.org",
    "to": "Bob <bob@acme.com>, carol@globex.io",
}


def _row(**changes: object) -> dict[str, object]:
    row = {**GOOD, **changes}
    return {k: v for k, v in row.items() if v is not None}


def test_row_without_tenant_is_routed_by_config(tmp_path: Path, acme_config: TenantConfig) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(_row(category="bec", campaign_id="c7", label_source="analyst")) + "\n")
    stats = ingest([path], tmp_path / "out", acme_config)
    assert (stats.parsed, stats.rows_written) == (1, 2)
    got = sorted(table_to_messages(read_messages(tmp_path / "out")), key=lambda m: m.tenant)
    assert [(m.tenant, m.direction) for m in got] == [
        ("acme", Direction.INBOUND),
        ("globex", Direction.INBOUND),
    ]
    assert got[0].from_ == Address("sender@x.org", "")
    assert got[0].to == (Address("bob@acme.com", "Bob"), Address("carol@globex.io", ""))
    assert got[0].received_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert read_labels(tmp_path / "out").to_pylist() == [
        {"message_id": "<row@x.org>", "category": "bec", "campaign_id": "c7", "source": "analyst"}
    ]


BAD_ROWS = [
    (_row(message_id=""), "message_id is missing or empty"),
    (_row(message_id=None), "message_id is missing or empty"),
    (_row(received_at="yesterday"), "received_at 'yesterday' is not an ISO 8601 time"),
    (_row(received_at=None), "received_at is missing or not a time: None"),
    (_row(from_addr="nobody"), "from_addr 'nobody' is not an address"),
    (_row(tenant="acme", direction="sideways"), "direction 'sideways' is not one of "),
    (_row(category="phish"), "category 'phish' is not one of "),
    (_row(spf="maybe"), "spf 'maybe' is not an authentication result"),
    (_row(to=42), "to: expected a list of addresses, got int"),
    (_row(urls=[{"anchor_text": "no url"}]), "urls/attachments: malformed entry (KeyError"),
    (_row(from_addr="a@elsewhere.org", to="b@nowhere.net"), "no configured tenant owns the sender"),
]


def test_bad_jsonl_rows_are_quarantined_with_the_column(tmp_path: Path, acme_config: TenantConfig) -> None:
    path = tmp_path / "rows.jsonl"
    lines = [json.dumps(row) for row, _ in BAD_ROWS] + ["{not json", "[1, 2]", "", json.dumps(GOOD)]
    path.write_text("\n".join(lines) + "\n")
    stats = ingest([path], tmp_path / "out", acme_config)
    n_bad = len(BAD_ROWS) + 2
    assert (stats.records_in, stats.parsed, stats.quarantined) == (n_bad + 1, 1, n_bad)
    entries = [json.loads(x) for x in (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()]
    assert len(entries) == n_bad
    for entry, (_, reason) in zip(entries, BAD_ROWS, strict=False):
        assert entry["reason"].startswith(reason), (entry["reason"], reason)
    assert entries[-2]["reason"].startswith("invalid JSON: ")
    assert entries[-2]["source"] == f"{path}:line {len(BAD_ROWS) + 1}"
    assert entries[-1]["reason"] == "a JSON line must be an object"
    assert (tmp_path / "out" / entries[-1]["raw_file"]).read_bytes() == b"[1, 2]\n"
    # every quarantined row keeps its raw content
    for entry, (row, _) in zip(entries, BAD_ROWS, strict=False):
        assert json.loads((tmp_path / "out" / entry["raw_file"]).read_bytes()) == row
    got = list(table_to_messages(read_messages(tmp_path / "out")))
    assert sorted((m.message_id, m.tenant) for m in got) == [
        ("<row@x.org>", "acme"),
        ("<row@x.org>", "globex"),
    ]


def test_bad_csv_rows(tmp_path: Path, acme_config: TenantConfig) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(
        "message_id,received_at,from_addr,to,direction,tenant\n"
        "<a@x.org>,2024-05-01T10:00:00,a@x.org,bob@acme.com,,\n"
        "<b@x.org>,31/12/2024,a@x.org,bob@acme.com,,\n"
        "<c@x.org>,2024-05-01T10:00:00,a@x.org,bob@acme.com,upward,acme\n"
        ",2024-05-01T10:00:00,a@x.org,bob@acme.com,,\n"
        "<d@x.org>,2024-05-01T10:00:00,a@x.org,bob@acme.com,,,extra\n"
    )
    stats = ingest([path], tmp_path / "out", acme_config)
    assert (stats.records_in, stats.parsed, stats.quarantined) == (5, 1, 4)
    entries = [json.loads(x) for x in (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()]
    assert [(e["source"].rsplit(":", 1)[1], e["reason"].split(" ", 1)[0]) for e in entries] == [
        ("line 3", "received_at"),
        ("line 4", "direction"),
        ("line 5", "message_id"),
        ("line 6", "more"),
    ]
    (m,) = table_to_messages(read_messages(tmp_path / "out"))
    assert (m.message_id, m.tenant, m.direction) == ("<a@x.org>", "acme", Direction.INBOUND)
    assert m.received_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)  # naive means UTC


def test_unreadable_parquet_is_an_input_error_not_a_crash(tmp_path: Path, acme_config: TenantConfig) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    stats = ingest([path], tmp_path / "out", acme_config)
    assert (stats.records_in, stats.parsed, stats.quarantined) == (1, 0, 1)
    assert dict(stats.reasons) == {"unreadable input": 1}
