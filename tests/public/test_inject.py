"""Neutralisation: after injection nothing in the headers or dates tells attacks from ham."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import numpy as np
import pytest

from graphdet.ingest import iter_spamassassin
from graphdet.messagelog import messages_to_table
from graphdet.public.inject import (
    NEUTRAL_HEADERS,
    RecipientSampler,
    TimeSampler,
    header_names,
    inject,
    neutral_view,
    neutralise,
    original_recipients,
    split_headers,
)
from graphdet.schema import Address, AuthResults, Category, Direction
from graphdet.tenants import TenantConfig, TenantSpec

# A modern honeypot phish in the phishing_pot corpus's style (hand-written): Exchange stamps,
# the collector's Authentication-Results, the honeypot address in To and in the body and link.
PHISH = b"""Received: from SN7PR18MB5314.namprd18.prod.outlook.com (2603:10b6:806:2e5::9)
 by LV3PR18MB5732.namprd18.prod.outlook.com with HTTPS; Tue, 3 Feb 2026 09:14:12 +0000
Authentication-Results: spf=fail (sender IP is 192.0.2.44) smtp.mailfrom=secure-bank.example;
 dkim=none (message not signed) header.d=none;dmarc=fail action=none header.from=bank.example;
Received-SPF: Fail (protection.outlook.com: domain of secure-bank.example does not designate 192.0.2.44)
X-MS-Exchange-Organization-SCL: 5
X-MS-Exchange-CrossTenant-OriginalArrivalTime: 03 Feb 2026 09:14:10.1234 (UTC)
X-Microsoft-Antispam: BCL:0;
Feedback-ID: 1234:campaign
List-Unsubscribe-Post: List-Unsubscribe=One-Click
Return-Path: bounce@secure-bank.example
From: "Bank Security" <alerts@secure-bank.example>
To: phishing@pot
Subject: Your account will be suspended
Date: Tue, 03 Feb 2026 09:14:02 +0000
Message-ID: <CAM8x7Y=abc@mail.secure-bank.example>
Reply-To: verify@secure-bank.example
MIME-Version: 1.0
Content-Type: text/html; charset="utf-8"

<html><body><p>Dear phishing@pot, verify your account within 24 hours:</p>
<a href="http://secure-bank.example/login?u=phishing@pot">Verify now</a></body></html>
"""
PHISH_NAZARIO = b"""From nobody Sat Jan 15 10:00:00 2005
Received: from mail.example.biz by mx.monkey.example; Sat, 15 Jan 2005 09:59:58 -0500
Delivered-To: username@domain.com
X-Original-To: username@domain.com
X-UID: 77
Status: RO
From: PayPal <service@paypa1.example>
To: username@domain.com
Subject: Update your PayPal account
Date: Sat, 15 Jan 2005 15:59:40 +0100
Message-ID: <E1CpQ4x-0002Ab-00@mail.example.biz>
Content-Type: text/plain

Dear username@domain.com, please confirm your details at http://198.51.100.3/paypal/
"""

TENANT = TenantConfig((TenantSpec("acme", ("acme.com",)),))
START, END = datetime(2024, 10, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)
MEMBERS = RecipientSampler((Address("jane.doe@acme.com", "Jane Doe"), Address("bob@acme.com", "Bob Smith")),
                           (3.0, 1.0))
TIMES = TimeSampler(START, END, (datetime(2024, 11, 5, 9, 30, tzinfo=UTC), datetime(2024, 12, 2, 14, tzinfo=UTC)))
OPTIONAL = {"reply-to", "content-disposition"}


@pytest.fixture(scope="module")
def corpora(sa_npm: Path) -> dict[str, list[tuple[str, bytes]]]:
    """attack and ham messages: the phishing fixtures and the SpamAssassin fixture."""
    ham, spam = [], []
    for part, rec in iter_spamassassin(sa_npm):
        assert rec.raw is not None
        (spam if part.kind == "spam" else ham).append((rec.source, rec.raw))
    return {"attack": [("pot", PHISH), ("nazario", PHISH_NAZARIO), *spam], "ham": ham}


def _neutral(raw: bytes, i: int) -> bytes:
    return neutralise(raw, to=[Address("jane.doe@acme.com", "Jane Doe")], date=datetime(2024, 11, 5, 9, i, tzinfo=UTC),
                      message_id=f"<m{i}@injected.graphdet.invalid>")


def test_both_classes_keep_exactly_the_same_header_names(corpora: dict[str, list[tuple[str, bytes]]]) -> None:
    per_class = {}
    for cls, items in corpora.items():
        names = [header_names(_neutral(raw, i)) for i, (_, raw) in enumerate(items)]
        for n in names:
            assert len(n) == len(set(n)), n  # no header twice
            assert set(n) - OPTIONAL == set(NEUTRAL_HEADERS), n
            assert not any(h.startswith(("x-", "received", "arc-", "list-", "authentication", "dkim")) for h in n)
            assert not {"return-path", "delivered-to", "cc", "in-reply-to", "references", "feedback-id"} & set(n)
        per_class[cls] = {tuple(h for h in n if h not in OPTIONAL) for n in names}
    # the mandatory headers come in one order for every message of both classes
    assert per_class["attack"] == per_class["ham"] == {NEUTRAL_HEADERS}


def test_no_original_date_or_era_survives(corpora: dict[str, list[tuple[str, bytes]]]) -> None:
    for items in corpora.values():
        for i, (_, raw) in enumerate(items):
            new = _neutral(raw, i)
            head = new.split(b"\n\n", 1)[0]
            for year in (b"2002", b"2005", b"2026"):
                assert year not in head, (year, head)
            (date,) = [v for k, v in split_headers(new)[0] if k == "date"]
            assert date.endswith(b"+0000")
            assert parsedate_to_datetime(date.decode()) == datetime(2024, 11, 5, 9, i, tzinfo=UTC)


def test_injection_gives_both_classes_the_same_shape(corpora: dict[str, list[tuple[str, bytes]]]) -> None:
    rng = np.random.default_rng(0)
    batches = {cls: inject(items, source=cls, category=Category.SPAM if cls == "attack" else Category.SAFE,
                           config=TENANT, times=TIMES, recipients=MEMBERS, rng=rng, literals=("phishing@pot",))
               for cls, items in corpora.items()}
    assert len(batches["attack"].messages) == 4  # the fixture without any sender is skipped, and says why
    no_sender = "no sender address (From, Sender and Return-Path all missing or empty)"
    assert dict(batches["attack"].skipped) == {no_sender: 1}
    assert len(batches["ham"].messages) == 3
    for cls, batch in batches.items():
        assert [lb.source for lb in batch.labels] == [cls] * len(batch.messages)
        for m in batch.messages:
            assert START <= m.received_at < END  # dates inside the test window, for both classes
            assert m.tenant == "acme" and m.direction is Direction.INBOUND
            assert len(m.to) == 1 and m.to[0].addr in {"jane.doe@acme.com", "bob@acme.com"} and m.cc == ()
            assert m.auth == AuthResults() and m.return_path is None  # another receiver's verdicts: gone
            assert m.in_reply_to is None and m.references == ()
            assert m.message_id.endswith("@injected.graphdet.invalid>")
            text = " ".join([m.subject, m.body, *(u.url for u in m.urls), *(u.anchor_text for u in m.urls)])
            for leak in ("phishing@pot", "username@domain.com", "zzzz@example.org", "dcek1a1@example.com"):
                assert leak not in text.lower(), (leak, text)
    pot = next(m for m in batches["attack"].messages if m.subject == "Your account will be suspended")
    assert pot.to[0].addr in pot.body and pot.urls[0].url.endswith("u=" + pot.to[0].addr)
    assert pot.reply_to == Address("verify@secure-bank.example", "")  # what the sender wrote stays


def test_original_recipients_cover_envelope_headers() -> None:
    assert original_recipients(PHISH_NAZARIO) == ["username@domain.com"]
    assert original_recipients(PHISH) == ["phishing@pot"]


def test_neutral_view_clears_auth_and_return_path(corpora: dict[str, list[tuple[str, bytes]]]) -> None:
    from graphdet.ingest import parse_message

    m = parse_message(PHISH, TenantConfig())[0]
    assert m.auth != AuthResults() and m.return_path
    table = neutral_view(messages_to_table([m]))
    row = table.to_pylist()[0]
    assert (row["spf"], row["dkim"], row["dmarc"], row["arc"], row["return_path"]) == ("none",) * 4 + (None,)
    assert table.schema == messages_to_table([m]).schema


def test_time_sampler_stays_in_the_window() -> None:
    rng = np.random.default_rng(1)
    edge = TimeSampler(START, END, (START, END.replace(year=2024, month=12, day=31, hour=23)))
    times = [edge.draw(rng) for _ in range(500)]
    assert all(START <= t < END for t in times)
    uniform = TimeSampler(START, END)
    assert all(START <= uniform.draw(rng) < END for _ in range(100))
    with pytest.raises(ValueError, match="empty window"):
        TimeSampler(END, START)


def test_neutralise_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="recipient"):
        neutralise(PHISH, to=[], date=START, message_id="<a@b>")
    with pytest.raises(ValueError, match="time zone"):
        neutralise(PHISH, to=[Address("a@acme.com")], date=datetime(2024, 1, 1), message_id="<a@b>")
