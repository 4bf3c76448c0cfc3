"""Golden .eml files: every field graphdet reads, asserted exactly.

Each file under tests/files/ingest/ is parsed with the ``acme_config`` tenant config
(acme.com, acme-corp.com -> acme; globex.io -> globex).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from graphdet.ingest import RecordError, parse_message
from graphdet.messagelog import messages_to_table
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

P, F, N = AuthResult.PASS, AuthResult.FAIL, AuthResult.NONE
INBOUND = Direction.INBOUND


def _parse_one(files_dir: Path, name: str, config: TenantConfig) -> Message:
    messages = parse_message((files_dir / "ingest" / name).read_bytes(), config)
    assert len(messages) == 1
    return messages[0]


EXPECTED: dict[str, Message] = {
    # CRLF line endings, multipart/alternative, QP bodies, 2047 Q name + B subject, Reply-To,
    # threading headers, two A-R headers (only the topmost counts), two DKIM results.
    "multipart_alternative.eml": Message(
        tenant="acme",
        message_id="<20240312081458.GA4711@mail.northwind-traders.com>",
        received_at=datetime(2024, 3, 12, 8, 15, 42, tzinfo=UTC),  # topmost Received, +0100
        from_=Address("juergen.mueller@northwind-traders.com", "Jürgen Müller"),
        to=(Address("jane.doe@acme.com", "Jane Doe"), Address("bob.smith@acme.com", "Smith, Bob")),
        cc=(Address("accounts@acme.com", ""),),
        reply_to=Address("j.mueller.finance@gmail.com", "Juergen Mueller"),
        return_path="bounce+7f3a@mail.northwind-traders.com",
        subject="Re: Zuständigkeit für die Rechnung – März",
        body=(
            "Hallo Jane,\n\nbitte die neue Bankverbindung für die März-Rechnung verwenden:\n"
            "https://portal.northwind-traders.com/invoices/2024-03?ref=ab12.\n\nViele Grüße\nJürgen"
        ),
        urls=(
            Url("https://portal.northwind-traders.com/invoices/2024-03?ref=ab12", "März-Rechnung"),
            Url("https://portal.northwind-traders.com/invoices/2024-03?ref=ab12", ""),
        ),
        auth=AuthResults(spf=P, dkim=P, dmarc=P, arc=N),
        in_reply_to="<CAF=abc123@mail.acme.com>",
        references=("<first.0001@northwind-traders.com>", "<CAF=abc123@mail.acme.com>"),
        direction=INBOUND,
    ),
    # HTML only: anchor text differs from href; mailto: and #fragment links are not URLs;
    # script/head text is not body text.
    "html_only_links.eml": Message(
        tenant="acme",
        message_id="<d7c1e2f0-6a4b-4c1d-9a77-0b3e5f1c2a90@secure-docu-sign.net>",
        received_at=datetime(2024, 11, 4, 22, 2, 3, tzinfo=UTC),
        from_=Address("dse@secure-docu-sign.net", "DocuSign via Acme"),
        to=(Address("cfo@acme.com", ""),),
        subject="Please review and sign: Q4 Wire Authorization",
        body=(
            "Hello,\nA document has been sent to you for signature.\nREVIEW DOCUMENT\n"
            "Or visit https://www.docusign.com/sign .\nContact support | Top\n"
            "Do not share this email.\nDocuSign Inc."
        ),
        urls=(
            Url("https://docusign-review.secure-docu-sign.net/login?id=77A1", "REVIEW DOCUMENT"),
            Url("http://203.0.113.9/sign", "https://www.docusign.com/sign"),
        ),
        auth=AuthResults(spf=AuthResult.SOFTFAIL, dkim=N, dmarc=F, arc=F),
        direction=INBOUND,
    ),
    # attachments: RFC 2231 file name, .docm, double extension on an inline part.
    "attachments.eml": Message(
        tenant="acme",
        message_id="<rechnung-2024-05.8812@lieferant-gmbh.de>",
        received_at=datetime(2024, 5, 15, 6, 30, tzinfo=UTC),
        from_=Address("buchhaltung@lieferant-gmbh.de", "Buchhaltung"),
        to=(Address("ap@acme.com", ""),),
        subject="Rechnungen Mai",
        body="Anbei die Rechnungen und das Formular.",
        attachments=(
            Attachment(
                "Rechnung März 2024.pdf",
                "application/pdf",
                90,
                "7d4aa27f151c27aaf7aec01bc5235476f934d1480625f93a7a3663dd6e25ac7b",
            ),
            Attachment(
                "Bestellformular.docm",
                "application/vnd.ms-word.document.macroenabled.12",
                65,
                "8e4808ca242afcc89dc4ed7a1298f1e9bafc5cb37848cbf8258e85d41f3f7f51",
            ),
            Attachment(
                "invoice.pdf.exe",
                "application/octet-stream",
                57,
                "dcce8e4ff7d81ad09b4c0b6770194ed59f7a1f5f6af3d72d19a1f186acc460b1",
            ),
        ),
        auth=AuthResults(spf=P, dkim=P, dmarc=P, arc=N),
        direction=INBOUND,
    ),
    # no closing boundary, undecodable base64: both parts still found; the attachment's bytes
    # are the payload as written (the stdlib's leniency), hashed.
    "broken_mime.eml": Message(
        tenant="acme",
        message_id="<broken.1@acme-hr-portal.com>",
        received_at=datetime(2024, 2, 2, 3, 4, 5, tzinfo=UTC),
        from_=Address("payroll@acme-hr-portal.com", "Payroll Update"),
        to=(Address("staff@acme.com", ""),),
        subject="Updated payroll schedule",
        body="Open the attached schedule before Friday: http://acme-hr-portal.com/payroll",
        urls=(Url("http://acme-hr-portal.com/payroll", ""),),
        attachments=(
            Attachment(
                "schedule.pdf",
                "application/pdf",
                25,
                hashlib.sha256(b"JVBERi0xLjQK!!!not*base64").hexdigest(),
            ),
        ),
        direction=INBOUND,
    ),
    # iso-8859-1 encoded words (Q and B, two adjacent words joined) + windows-1252 8-bit body
    "encoded_latin1.eml": Message(
        tenant="acme",
        message_id="<latin1.42@foo-bar.fr>",
        received_at=datetime(2024, 1, 11, 12, 0, tzinfo=UTC),
        from_=Address("francois@foo-bar.fr", "François Lévesque"),
        to=(Address("marie@acme.com", "Marie Curée"),),
        subject="Réunion à 13h demain",
        body="Bonjour Marie,\n\nLa réunion coûte 50 € – à bientôt.",
        direction=INBOUND,
    ),
    # raw 8-bit header bytes (cp1252 name, UTF-8 subject) and charset="x-unknown" (UTF-8 body)
    "eightbit_headers.eml": Message(
        tenant="acme",
        message_id="<eightbit.7@example-shop.cn>",
        received_at=datetime(2024, 7, 6, 1, 2, 3, tzinfo=UTC),
        from_=Address("sales@example-shop.cn", "Grüße Team"),
        to=(Address("buyer@acme.com", ""),),
        subject="Grüße aus München",
        body="Preis: 10 € pro Stück",
        direction=INBOUND,
    ),
    # no From: the sender comes from Sender; Return-Path is still recorded
    "sender_only.eml": Message(
        tenant="acme",
        message_id="<digest-14@lists.example.org>",
        received_at=datetime(2024, 4, 1, 10, 0, tzinfo=UTC),
        from_=Address("bot@lists.example.org", "Newsletter Bot"),
        to=(Address("news@acme.com", ""),),
        return_path="bounces@lists.example.org",
        subject="Weekly digest",
        body="Nothing new this week.",
        direction=INBOUND,
    ),
    # From without an address and no Sender: the sender is the Return-Path (normalised)
    "return_path_only.eml": Message(
        tenant="acme",
        message_id="<rp-only@bulk.example.net>",
        received_at=datetime(2024, 4, 2, 10, 0, tzinfo=UTC),
        from_=Address("bounce-8812@bulk.example.net", ""),
        to=(Address("news@acme.com", ""),),
        return_path="bounce-8812@bulk.example.net",
        subject="(no subject)",
        body="hi",
        direction=INBOUND,
    ),
    # no Date: the topmost Received time (-0700) is used, not the second Received
    "no_date.eml": Message(
        tenant="acme",
        message_id="<no-date-1@partner.io>",
        received_at=datetime(2024, 7, 1, 6, 59, 59, tzinfo=UTC),
        from_=Address("ops@partner.io", ""),
        to=(Address("ops@acme.com", ""),),
        subject="maintenance window",
        body="Maintenance tonight.",
        direction=INBOUND,
    ),
    # no Message-ID: a synthetic id from the content; acme -> acme is internal
    "no_message_id.eml": Message(
        tenant="acme",
        message_id="<sha256-7a429cacfb4e1843db528004403d2bf9@graphdet.invalid>",
        received_at=datetime(2024, 12, 20, 15, 0, tzinfo=UTC),
        from_=Address("ceo@acme.com", "CEO"),
        to=(Address("assistant@acme.com", ""),),
        subject="Quick favour",
        body="Are you at your desk? I need you to buy 5 gift cards for a client, keep it quiet.",
        direction=Direction.INTERNAL,
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_message_fields(files_dir: Path, acme_config: TenantConfig, name: str) -> None:
    got = _parse_one(files_dir, name, acme_config)
    want = EXPECTED[name]
    for field in Message.__slots__:  # field by field, so a failure names the field
        assert getattr(got, field) == getattr(want, field), field
    assert got == want


def test_golden_files_are_all_covered(files_dir: Path) -> None:
    names = {p.name for p in (files_dir / "ingest").glob("*.eml")}
    assert names == set(EXPECTED) | {"no_sender.eml"}


def test_crlf_file_really_uses_crlf(files_dir: Path) -> None:
    raw = (files_dir / "ingest" / "multipart_alternative.eml").read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n") > 40


def test_crlf_and_lf_parse_to_the_same_message(files_dir: Path, acme_config: TenantConfig) -> None:
    raw = (files_dir / "ingest" / "multipart_alternative.eml").read_bytes()
    lf = parse_message(raw.replace(b"\r\n", b"\n"), acme_config)
    assert lf == parse_message(raw, acme_config)


def test_no_usable_sender_is_a_record_error(files_dir: Path, acme_config: TenantConfig) -> None:
    raw = (files_dir / "ingest" / "no_sender.eml").read_bytes()
    with pytest.raises(RecordError, match=r"^no sender address \(From, Sender and Return-Path"):
        parse_message(raw, acme_config)


def test_synthetic_message_id_is_the_content_hash(files_dir: Path, acme_config: TenantConfig) -> None:
    raw = (files_dir / "ingest" / "no_message_id.eml").read_bytes()
    digest = hashlib.sha256(raw).hexdigest()[:32]
    assert parse_message(raw, acme_config)[0].message_id == f"<sha256-{digest}@graphdet.invalid>"
    assert parse_message(raw, TenantConfig())[0].message_id == f"<sha256-{digest}@graphdet.invalid>"
    other = parse_message(raw + b"P.S. thanks\n", acme_config)[0].message_id
    assert other != f"<sha256-{digest}@graphdet.invalid>"


def test_without_tenant_config_everything_is_default_unknown(files_dir: Path) -> None:
    m = _parse_one(files_dir, "multipart_alternative.eml", TenantConfig())
    assert (m.tenant, m.direction) == ("default", Direction.UNKNOWN)


# ----------------------------------------------------------------- time and auth fallbacks

_BASE = b"From: a@x.org\nTo: b@acme.com\nMessage-ID: <t@x.org>\n"


def test_date_is_used_when_received_has_no_time(acme_config: TenantConfig) -> None:
    raw = _BASE + b"Received: from x by y with SMTP id 1\nDate: Fri, 1 Mar 2024 10:00:00 -0500\n\nhi\n"
    assert parse_message(raw, acme_config)[0].received_at == datetime(2024, 3, 1, 15, 0, tzinfo=UTC)


def test_fallback_time_only_when_headers_give_none(acme_config: TenantConfig) -> None:
    fallback = datetime(2023, 6, 1, 12, 0, tzinfo=UTC)
    raw = _BASE + b"Date: not a date\n\nhi\n"
    assert parse_message(raw, acme_config, fallback_time=fallback)[0].received_at == fallback
    with pytest.raises(RecordError, match=r"^no valid timestamp"):
        parse_message(raw, acme_config)


def test_out_of_range_years_are_not_times(acme_config: TenantConfig) -> None:
    raw = _BASE + b"Date: Thu, 01 Jan 1970 00:00:00 +0000\n\nhi\n"
    with pytest.raises(RecordError, match=r"^no valid timestamp"):
        parse_message(raw, acme_config)
    # lore's placeholder mbox From line date is not a time either
    with pytest.raises(RecordError, match=r"^no valid timestamp"):
        parse_message(raw, acme_config, fallback_time=datetime(1970, 1, 1, tzinfo=UTC))


def test_received_spf_is_used_without_an_spf_result(acme_config: TenantConfig) -> None:
    raw = (
        _BASE
        + b"Date: Fri, 1 Mar 2024 10:00:00 +0000\n"
        + b"Authentication-Results: mx; dkim=hardfail header.d=x.org; dmarc=bestguesspass\n"
        + b"Received-SPF: Softfail (mx: domain of x.org does not designate 192.0.2.1)\n\nhi\n"
    )
    auth = parse_message(raw, acme_config)[0].auth
    assert auth == AuthResults(spf=AuthResult.SOFTFAIL, dkim=F, dmarc=N, arc=N)


def test_first_dkim_result_stands_unless_a_later_one_passes(acme_config: TenantConfig) -> None:
    raw = (
        _BASE
        + b"Date: Fri, 1 Mar 2024 10:00:00 +0000\n"
        + b"Authentication-Results: mx; dkim=neutral; dkim=fail; spf=pass; arc=pass\n\nhi\n"
    )
    assert parse_message(raw, acme_config)[0].auth == AuthResults(
        spf=P, dkim=AuthResult.NEUTRAL, dmarc=N, arc=P
    )


def test_eight_bit_bytes_in_ids_are_decoded(acme_config: TenantConfig) -> None:
    raw = (
        b"From: a@x.org\nTo: b@acme.com\nDate: Fri, 1 Mar 2024 10:00:00 +0000\n"
        b"Message-ID: <\xe4bc@x.org>\nIn-Reply-To: <r\xc3\xa9@x.org>\n"
        b"References: <q@x.org>\n <r\xc3\xa9@x.org>\n\nhi\n"
    )
    (m,) = parse_message(raw, acme_config)
    assert (m.message_id, m.in_reply_to, m.references) == (
        "<äbc@x.org>",  # not UTF-8: Windows-1252
        "<ré@x.org>",
        ("<q@x.org>", "<ré@x.org>"),
    )
    assert messages_to_table([m]).column("message_id").to_pylist() == ["<äbc@x.org>"]
