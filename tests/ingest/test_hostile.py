"""Hostile mail found by fuzzing decide_raw: parsed or refused with a reason, never an
exception the caller did not ask for, and never a quadratic blow-up (asserted on the work's
shape, not on time: the bounded URL length, the linear HTML scan)."""

from __future__ import annotations

import pytest

from graphdet.ingest import parse_message
from graphdet.ingest.html import MAX_BARE_URLS, MAX_UNCLOSED_TAGS, MAX_URL, find_bare_urls, html_to_text
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
    assert len(urls) == MAX_BARE_URLS  # the first ones: each cut at MAX_URL (less a trailing ".")
    assert MAX_URL - 1 <= max(len(u.url) for u in urls) <= MAX_URL
    nested = find_bare_urls("see http://a.example/r?to=www.evil.example/login now")
    assert [u.url for u in nested] == ["http://a.example/r?to=www.evil.example/login", "www.evil.example/login"]


def test_html_nested_past_the_limit_is_scanned_linearly_with_its_text_and_links() -> None:
    deep = "<div>" * (MAX_UNCLOSED_TAGS + 1) + 'Pay <a class=x href="http://evil.example/&amp;p">now</a> &amp; go'
    assert html_to_text(deep) == ("Pay now & go", [Url("http://evil.example/&p", "now")])  # the scan
    shallow = "<div>" * 50 + 'Pay <a class=x href="http://evil.example/&amp;p">now</a> &amp; go'
    assert html_to_text(shallow) == ("Pay now & go", [Url("http://evil.example/&p", "now")])  # the parser


def test_tags_without_their_closing_bracket_are_text_in_one_pass() -> None:
    """An ``<a`` or ``<b`` never closed by ``>`` used to be matched from each ``<`` to the end of
    the document (20,000 of them: 2.6 s); a tag holds no ``<``, so each match stops at the next."""
    doc = "<a x" * 6_000 + 'ok <a href="http://evil.example/p">here</a>' + "<b" * 6_000
    text, links = html_to_text(doc)
    assert links == [Url("http://evil.example/p", "here")]
    assert "ok" in text and "here" in text and text.count("<a x") == 6_000


def test_closing_tags_hidden_in_a_comment_do_not_send_deep_nesting_to_the_parser() -> None:
    from graphdet.ingest.html import MAX_TAGS

    fake = "<div>" * (MAX_TAGS + 1) + "x<!--" + "</i" * (MAX_TAGS + 1) + "-->"
    text, _ = html_to_text(fake)  # the scan: past MAX_TAGS tags whatever the closing count says
    assert text.startswith("x")


def test_an_address_header_without_any_address_falls_back_to_nothing_not_a_search() -> None:
    from graphdet.ingest.addresses import getaddresses

    assert getaddresses(["(" * 600 + "a" * 30_000]) == []
    assert getaddresses(["(" * 600 + " bob@example.org, @x, y@, (c) <d@e.example>"]) == [
        ("", "bob@example.org"), ("", "d@e.example")]
