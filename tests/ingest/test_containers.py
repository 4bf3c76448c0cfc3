"""Container splitting (mbox, gzip, maildir), broken containers, duplicates, tenant routing."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from graphdet.exceptions import IngestError
from graphdet.ingest import detect_format, ingest, iter_records, list_inputs
from graphdet.messagelog import read_messages, table_to_messages
from graphdet.schema import Direction, Message
from graphdet.tenants import TenantConfig


def _mail(n: int, *, sender: str = "alice@partner.io", to: str = "bob@acme.com", body: str = "") -> bytes:
    return (
        f"From: Alice <{sender}>\nTo: {to}\nSubject: message {n}\n"
        f"Date: Mon, 0{1 + n % 9} Apr 2024 10:00:00 +0000\nMessage-ID: <m{n}@partner.io>\n\n"
        f"{body or f'body of message {n}'}\n"
    ).encode()


MBOX = (
    b"From alice@partner.io Mon Apr  1 10:00:00 2024\n"
    + _mail(0, body="first line\n>From the archive: escaped\n>>From twice escaped\n")
    + b"\n"
    + b"From alice@partner.io Tue Apr  2 10:00:00 2024\n"
    + _mail(
        1,
        body=(
            "See the patch below.\n\n"
            "From a security perspective this is fine.\n\n"
            "From 3f1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a Mon Sep 17 00:00:00 2001\n"
            "From: Dev <dev@partner.io>\nSubject: [PATCH] fix it\n\n---\n"
        ),
    )
    + b"\n"
    + b"From MAILER-DAEMON Wed Apr  3 10:00:00 2024\n"
    # no Date header: the From line's time is the fallback
    + b"From: carol@partner.io\nTo: bob@acme.com\nMessage-ID: <m2@partner.io>\nSubject: no date\n\nx\n"
)


def _messages(out: Path) -> list[Message]:
    return sorted(table_to_messages(read_messages(out)), key=lambda m: (m.message_id, m.tenant))


def _quarantine(out: Path) -> list[dict[str, object]]:
    path = out / "quarantine.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_mbox_splits_on_dated_from_lines_only(tmp_path: Path) -> None:
    path = tmp_path / "box.mbox"
    path.write_bytes(MBOX)
    records = list(iter_records(path, "mbox"))
    assert [r.source for r in records] == [f"{path}:0", f"{path}:1", f"{path}:2"]
    assert b"\nFrom the archive: escaped\n>From twice escaped\n" in (records[0].raw or b"")
    assert b"\nFrom a security perspective this is fine.\n" in (records[1].raw or b"")
    assert b"\nFrom 3f1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a Mon Sep 17" in (records[1].raw or b"")
    assert [r.fallback_time for r in records] == [datetime(2024, 4, d, 10, 0, tzinfo=UTC) for d in (1, 2, 3)]


def test_mbox_ingest_bodies_and_fallback_time(tmp_path: Path, acme_config: TenantConfig) -> None:
    (tmp_path / "box.mbox").write_bytes(MBOX)
    stats = ingest([tmp_path / "box.mbox"], tmp_path / "out", acme_config)
    assert (stats.records_in, stats.parsed, stats.quarantined) == (3, 3, 0)
    msgs = _messages(tmp_path / "out")
    assert [m.message_id for m in msgs] == ["<m0@partner.io>", "<m1@partner.io>", "<m2@partner.io>"]
    assert msgs[0].body == "first line\nFrom the archive: escaped\n>From twice escaped"
    assert msgs[1].subject == "message 1"
    assert msgs[1].body.endswith("Subject: [PATCH] fix it\n\n---")
    assert msgs[2].received_at == datetime(2024, 4, 3, 10, 0, tzinfo=UTC)
    assert {m.direction for m in msgs} == {Direction.INBOUND}


def test_gzip_mbox_equals_plain_mbox(tmp_path: Path, acme_config: TenantConfig) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "box.mbox").write_bytes(MBOX)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "box.mbox.gz").write_bytes(gzip.compress(MBOX))
    assert detect_format(tmp_path / "b" / "box.mbox.gz") == "mbox"
    ingest([tmp_path / "a"], tmp_path / "out_a", acme_config)
    stats = ingest([tmp_path / "b"], tmp_path / "out_b", acme_config)
    assert stats.parsed == 3
    assert _messages(tmp_path / "out_a") == _messages(tmp_path / "out_b")


def test_format_detected_by_content_without_extension(tmp_path: Path) -> None:
    (tmp_path / "archive").write_bytes(MBOX)
    (tmp_path / "rows").write_bytes(b'{"message_id": "x"}\n')
    (tmp_path / "mail").write_bytes(_mail(5))
    assert [detect_format(tmp_path / n) for n in ("archive", "rows", "mail")] == ["mbox", "jsonl", "eml"]


def test_maildir_reads_cur_and_new_and_skips_tmp(tmp_path: Path, acme_config: TenantConfig) -> None:
    md = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    (md / "cur" / "1712000000.M1P1.host:2,S").write_bytes(_mail(1))
    (md / "new" / "1712000001.M2P1.host").write_bytes(_mail(2))
    (md / "tmp" / "1712000002.M3P1.host").write_bytes(_mail(3))  # being delivered: not read
    (md / "new" / ".hidden").write_bytes(_mail(4))
    assert [p.parent.name for p, _ in list_inputs([md])] == ["cur", "new"]
    stats = ingest([md], tmp_path / "out", acme_config)
    assert (stats.records_in, stats.parsed) == (2, 2)
    assert [m.message_id for m in _messages(tmp_path / "out")] == ["<m1@partner.io>", "<m2@partner.io>"]


def _noise(seed: int, lines: int = 300) -> str:
    h = hashlib.sha256(str(seed).encode()).hexdigest()
    out = []
    for _ in range(lines):
        h = hashlib.sha256(h.encode()).hexdigest()
        out.append(h)
    return "\n".join(out)


def test_truncated_gzip_mbox_is_counted_and_quarantined(tmp_path: Path, acme_config: TenantConfig) -> None:
    # bodies that do not compress away, so the cut falls inside the fourth message
    mbox = b"".join(
        f"From alice@partner.io Mon Apr  1 10:00:0{i} 2024\n".encode() + _mail(i, body=_noise(i)) + b"\n"
        for i in range(6)
    )
    data = gzip.compress(mbox)
    (tmp_path / "cut.mbox.gz").write_bytes(data[: len(data) * 7 // 12])
    stats = ingest([tmp_path / "cut.mbox.gz"], tmp_path / "out", acme_config)
    assert stats.records_in == stats.parsed + stats.quarantined
    assert stats.quarantined == 1
    # the messages complete before the cut are kept, in order; the cut one is quarantined raw
    assert stats.parsed == 3
    assert [m.message_id for m in _messages(tmp_path / "out")] == [f"<m{i}@partner.io>" for i in range(3)]
    assert dict(stats.reasons) == {"unreadable input": 1}
    (entry,) = _quarantine(tmp_path / "out")
    assert entry["source"] == f"{tmp_path / 'cut.mbox.gz'}:3"
    assert str(entry["reason"]).startswith("unreadable input: ")
    raw = (tmp_path / "out" / entry["raw_file"]).read_bytes()
    assert raw.startswith(_mail(3)[:40])


def test_truncated_gzip_eml_is_quarantined(tmp_path: Path, acme_config: TenantConfig) -> None:
    data = gzip.compress(_mail(1, body="y" * 5000))
    (tmp_path / "a.eml.gz").write_bytes(data[: len(data) // 2])
    (tmp_path / "b.eml").write_bytes(_mail(2))
    stats = ingest([tmp_path], tmp_path / "out", acme_config)
    assert (stats.records_in, stats.parsed, stats.quarantined) == (2, 1, 1)
    (entry,) = _quarantine(tmp_path / "out")
    assert entry["source"] == str(tmp_path / "a.eml.gz")
    assert str(entry["reason"]).startswith("cannot read file: ")


def test_duplicate_message_ids_are_quarantined(tmp_path: Path, acme_config: TenantConfig) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "1.eml").write_bytes(_mail(1))
    (tmp_path / "in" / "2.eml").write_bytes(_mail(1, body="a resend"))
    (tmp_path / "in" / "3.eml").write_bytes(_mail(3))
    stats = ingest([tmp_path / "in"], tmp_path / "out", acme_config)
    assert (stats.records_in, stats.parsed, stats.quarantined) == (3, 2, 1)
    assert dict(stats.reasons) == {"duplicate message id": 1}
    (entry,) = _quarantine(tmp_path / "out")
    assert entry == {
        "n": 0,
        "source": str(tmp_path / "in" / "2.eml"),
        "reason": f"duplicate message id: <m1@partner.io> (first seen in {tmp_path / 'in' / '1.eml'})",
        "raw_file": "quarantine/00000000.raw",
    }
    assert (tmp_path / "out" / "quarantine" / "00000000.raw").read_bytes() == _mail(1, body="a resend")
    assert [m.body for m in _messages(tmp_path / "out")] == ["body of message 1", "body of message 3"]


def test_missing_input_and_empty_folder(tmp_path: Path, acme_config: TenantConfig) -> None:
    with pytest.raises(IngestError, match="does-not-exist does not exist"):
        ingest([tmp_path / "does-not-exist"], tmp_path / "out", acme_config)
    (tmp_path / "empty").mkdir()
    with pytest.raises(IngestError, match="no input files under"):
        ingest([tmp_path / "empty"], tmp_path / "out", acme_config)


# ----------------------------------------------------------------------- tenant routing

ROUTES = [
    # (from, to, expected [(tenant, direction)])
    ("x@partner.io", "bob@acme.com", [("acme", Direction.INBOUND)]),
    ("x@mail.acme.com", "bob@acme-corp.com", [("acme", Direction.INTERNAL)]),
    ("x@acme.com", "y@partner.io, bob@acme.com", [("acme", Direction.OUTBOUND)]),
    ("x@acme.com", "y@globex.io", [("acme", Direction.OUTBOUND), ("globex", Direction.INBOUND)]),
    ("x@partner.io", "a@acme.com, g@globex.io", [("acme", Direction.INBOUND), ("globex", Direction.INBOUND)]),
]


@pytest.mark.parametrize(("sender", "to", "routes"), ROUTES)
def test_tenant_routing(
    tmp_path: Path, acme_config: TenantConfig, sender: str, to: str, routes: list[tuple[str, Direction]]
) -> None:
    (tmp_path / "m.eml").write_bytes(_mail(7, sender=sender, to=to))
    stats = ingest([tmp_path / "m.eml"], tmp_path / "out", acme_config)
    assert (stats.parsed, stats.rows_written) == (1, len(routes))
    got = [(m.tenant, m.direction) for m in _messages(tmp_path / "out")]
    assert sorted(got) == sorted(routes)
    assert dict(stats.by_tenant) == {t: 1 for t, _ in routes}


def test_unknown_domains_are_quarantined_with_a_config(tmp_path: Path, acme_config: TenantConfig) -> None:
    (tmp_path / "m.eml").write_bytes(_mail(8, sender="x@partner.io", to="y@elsewhere.org"))
    stats = ingest([tmp_path / "m.eml"], tmp_path / "out", acme_config)
    assert (stats.parsed, stats.quarantined) == (0, 1)
    (entry,) = _quarantine(tmp_path / "out")
    assert entry["reason"] == "no configured tenant owns the sender 'x@partner.io' or any recipient"
    # without a config the same message goes to the default tenant
    stats = ingest([tmp_path / "m.eml"], tmp_path / "out2", TenantConfig())
    assert (stats.parsed, dict(stats.by_tenant)) == (1, {"default": 1})


def test_envelope_recipient_routes_bcc_mail(tmp_path: Path, acme_config: TenantConfig) -> None:
    raw = _mail(9, to="undisclosed-recipients:;").replace(b"From:", b"Delivered-To: ceo@acme.com\nFrom:", 1)
    (tmp_path / "m.eml").write_bytes(raw)
    ingest([tmp_path / "m.eml"], tmp_path / "out", acme_config)
    (m,) = _messages(tmp_path / "out")
    assert (m.tenant, m.direction, m.to) == ("acme", Direction.INBOUND, ())


def test_overwrite_is_required_for_an_existing_log(tmp_path: Path, acme_config: TenantConfig) -> None:
    from graphdet.exceptions import MessageLogError

    (tmp_path / "m.eml").write_bytes(_mail(1))
    ingest([tmp_path / "m.eml"], tmp_path / "out", acme_config)
    with pytest.raises(MessageLogError, match="already holds a message log"):
        ingest([tmp_path / "m.eml"], tmp_path / "out", acme_config)
    stats = ingest([tmp_path / "m.eml"], tmp_path / "out", acme_config, overwrite=True)
    assert stats.parsed == 1
    assert len(_messages(tmp_path / "out")) == 1


def test_all_quarantined_still_gives_a_readable_empty_log(
    tmp_path: Path, files_dir: Path, acme_config: TenantConfig
) -> None:
    stats = ingest([files_dir / "ingest" / "no_sender.eml"], tmp_path / "out", acme_config)
    assert (stats.records_in, stats.parsed, stats.quarantined) == (1, 0, 1)
    table = read_messages(tmp_path / "out")
    assert table.num_rows == 0
    (entry,) = _quarantine(tmp_path / "out")
    assert entry["reason"] == "no sender address (From, Sender and Return-Path all missing or empty)"
    raw = (files_dir / "ingest" / "no_sender.eml").read_bytes()
    assert (tmp_path / "out" / str(entry["raw_file"])).read_bytes() == raw
