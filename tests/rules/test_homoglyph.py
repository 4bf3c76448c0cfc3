"""Homoglyph and punycode impersonation of display names and domains is caught."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from graphdet.rules import EMPTY_CONTEXT, StaticContext, decode_domain, extract, skeleton
from graphdet.schema import Address, Message


def _msg(name: str, addr: str, **kw: object) -> Message:
    return Message("acme", "<m@x>", datetime(2024, 1, 1, tzinfo=UTC), Address(addr, name),
                   to=(Address("alice@acme.com"),), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["Jоhn Smith", "J0hn Smith", "JOHN  SMITH", "Јohn Ѕmith", "John Smіth"])
def test_homoglyph_display_names_match_the_internal_person(name: str, acme_ctx: StaticContext) -> None:
    s = extract(_msg(name, "x@evil.example"), acme_ctx)
    assert s["display_name_internal_similarity"] == 100.0
    assert s["display_name_spoofed"] is (name != "JOHN  SMITH")


def test_close_but_not_equal_names_score_high_but_are_not_spoofs(acme_ctx: StaticContext) -> None:
    s = extract(_msg("Jon Smith", "x@evil.example"), acme_ctx)
    assert 85 <= s["display_name_internal_similarity"] < 100 and not s["display_name_spoofed"]
    assert extract(_msg("Bob Unrelated", "x@evil.example"), acme_ctx)["display_name_internal_similarity"] < 60


def test_the_internal_person_itself_is_not_an_impersonation(acme_ctx: StaticContext) -> None:
    s = extract(_msg("John Smith", "john.smith@acme.com"), acme_ctx)
    assert s["display_name_internal_similarity"] == 0.0 and not s["display_name_spoofed"]


@pytest.mark.parametrize(
    "domain, distance",
    [
        ("rnicrosoft.com", 0),  # rn -> m
        ("micros0ft.com", 0),  # 0 -> o
        ("аcme.com", 0),  # Cyrillic а: the tenant's own domain
        ("xn--cme-5cd.com", 0),  # the same in punycode
        ("xn--glbalsupplies-j7k.com", 0),  # glоbalsupplies with a Cyrillic о, punycode
        ("global-supplies.com", 1),
        ("contoso-logistic.com", 1),
        ("globalsupplies.com", 99),  # the known domain itself
        ("glbalsuppl.com", 4),  # four edits: the farthest still reported
        ("gbalsuppl.com", 99),  # five: like none of them
        ("example.org", 99),  # unrelated: far from everything
    ],
)
def test_lookalike_domains(domain: str, distance: int, acme_ctx: StaticContext) -> None:
    got = extract(_msg("Billing", f"ar@{domain}"), acme_ctx)["sender_domain_lookalike_distance"]
    assert got == distance


def test_skeleton_and_punycode_folding() -> None:
    assert skeleton("Jоhn Smith") == skeleton("J0HN  smith") == skeleton("john smith")
    assert skeleton("paypal.com") == skeleton("paypaI.com") == skeleton("pаypal.com")
    assert decode_domain("xn--cme-5cd.com") == "аcme.com"
    assert decode_domain("xn--zz-.com").endswith(".com")  # an undecodable label stays as written


def test_without_context_impersonation_signals_stay_quiet() -> None:
    s = extract(_msg("Jоhn Smith", "ar@rnicrosoft.com"))
    assert s["context_available"] is False
    assert s["display_name_internal_similarity"] == 0.0 and s["sender_domain_lookalike_distance"] == 99
    assert s["sender_domain_new"] is False and s["sender_known"] is False and s["url_domain_new"] == 0
    assert EMPTY_CONTEXT.available is False


@pytest.mark.parametrize(("position", "distance"), [(0, 0), (63, 0), (64, 99)])
def test_link_lookalikes_are_sought_among_the_first_distinct_link_domains(
    position: int, distance: int, acme_ctx: StaticContext
) -> None:
    """Each distinct link domain is compared with every reference domain, so a message with
    thousands of them is bounded: the first MAX_LINK_DOMAINS (64) distinct ones, in link order,
    repeats not counted."""
    from graphdet.rules.extractors import MAX_LINK_DOMAINS
    from graphdet.schema import Url

    assert MAX_LINK_DOMAINS == 64
    domains = [f"unrelated{i}.example" for i in range(100)]
    domains.insert(position, "rnicrosoft.com")
    links = [Url(f"http://{d}/x", "") for d in domains[:position] * 2 + domains]  # repeats first
    assert extract(_msg("Billing", "ar@example.org", urls=tuple(links)), acme_ctx)["url_lookalike_distance"] == distance
