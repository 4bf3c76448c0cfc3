"""Hostile mail found by fuzzing decide_raw: parsed or refused with a reason, never an
exception the caller did not ask for, and never a quadratic blow-up (asserted on the work's
shape, not on time: the bounded URL length, the linear HTML scan)."""

from __future__ import annotations

import pytest

from graphdet.ingest import parse_message
from graphdet.ingest.html import MAX_UNCLOSED_TAGS, MAX_URL, find_bare_urls, html_to_text
from graphdet.schema import Url
from graphdet.tenants import TenantConfig

HEAD = (b"From: Bob <bob@example.org>\nTo: alice@acme.com\nMessage-ID: <h@example.org>\n"
        b"Date: Fri, 01 Mar 2024 10:00:00 +0000\n")


@pytest.mark.parametrize("header", [
    b"Subject: =?undefined?q?hello?=\n",  # UnicodeError from the codec lookup
    b"Subject: =?punycode?q?h=FFllo?=\n",  # UnicodeDecodeError despite errors="replace"
    b"Content-Type: text/plain; charset=idna\n",  # "Unsupported error handling replace"
    b"Content-Type: text/plain; charset=utf-8\x00\n",  # ValueError: embedded null character
])
def test_a_charset_no_codec_can_use_falls_back(header: bytes, acme_config: TenantConfig) -> None:
    (m,) = parse_message(HEAD + header + b"\nhello there\n", acme_config)
    assert m.body == "hello there" and m.recipients[0].addr == "alice@acme.com"


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("From", "(" * 500 + ")" * 500 + " d@example.org", "d@example.org"),  # nested comments
    ("To", "alice@acme.com, " + "a:" * 1000, "alice@acme.com"),  # a run of group colons
])
def test_address_headers_too_deep_for_the_stdlib_give_their_addresses(
    name: str, value: str, expected: str, acme_config: TenantConfig
) -> None:
    lines = [line for line in HEAD.decode().splitlines() if not line.startswith(name + ":")]
    raw = ("\n".join([f"{name}: {value}", *lines]) + "\n\nhi\n").encode()
    (m,) = parse_message(raw, acme_config)
    found = m.from_.addr if name == "From" else [r.addr for r in m.recipients]
    assert expected == found or expected in found


def test_bare_urls_are_bounded_in_length_and_keep_the_ones_inside_others() -> None:
    urls = find_bare_urls("www." * 20_000)
    assert len(urls) == 19_998  # one a start, as before: each cut at MAX_URL (less a trailing ".")
    assert MAX_URL - 1 <= max(len(u.url) for u in urls) <= MAX_URL
    nested = find_bare_urls("see http://a.example/r?to=www.evil.example/login now")
    assert [u.url for u in nested] == ["http://a.example/r?to=www.evil.example/login", "www.evil.example/login"]


def test_html_nested_past_the_limit_is_scanned_linearly_with_its_text_and_links() -> None:
    deep = "<div>" * (MAX_UNCLOSED_TAGS + 1) + 'Pay <a class=x href="http://evil.example/&amp;p">now</a> &amp; go'
    assert html_to_text(deep) == ("Pay now & go", [Url("http://evil.example/&p", "")])
    shallow = "<div>" * 50 + 'Pay <a class=x href="http://evil.example/&amp;p">now</a> &amp; go'
    assert html_to_text(shallow) == ("Pay now & go", [Url("http://evil.example/&p", "now")])  # the parser
