"""The faster forms of text folding, signal helpers, context lookups and rule evaluation give
exactly what the plain forms they replaced give (the plain forms are kept here as oracles)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphdet.rules import StaticContext, extract, load_rules
from graphdet.rules import ruleset as ruleset_module
from graphdet.rules.context import parent_domains
from graphdet.rules.signals import Signals, default_lexicon
from graphdet.rules.text import _confusable_table, fold_unicode, is_mixed_script
from graphdet.rules.view import _SPACED, MessageView
from graphdet.schema import Address, Message

# text with what mail holds: ASCII, line breaks, accents and combining marks, confusables,
# zero-width and no-break characters, other scripts
_CHARS = st.one_of(
    st.sampled_from(list("aeio AEIO019|$@.-\n\t  ")),
    st.sampled_from(list("\xa0\u00ad\u200b\u200d\ufeff\u0301\u0308\u0344éÉüßﬁ①Ⅸ")),
    st.sampled_from(list("аеорсхАВЕЅіјԁɡΑΒΕοѕ")),  # Cyrillic / Greek / Latin look-alikes
    st.characters(codec="utf-8"),
)
_TEXT = st.text(_CHARS, max_size=60)


def _fold_reference(text: str) -> str:
    """fold_unicode as it was: every line NFKD-normalised, combining marks dropped, translated."""
    if text.isascii():
        return text
    if "\xa0" in text:
        text = text.replace("\xa0", " ")
        if text.isascii():
            return text

    def fold_line(line: str) -> str:
        if line.isascii():
            return line
        decomposed = unicodedata.normalize("NFKD", line)
        if not decomposed.isascii():
            decomposed = "".join(c for c in decomposed if not unicodedata.combining(c))
        return decomposed.translate(_confusable_table())

    return "\n".join(map(fold_line, text.split("\n")))


@settings(max_examples=2000, deadline=None)
@given(text=_TEXT)
def test_fold_unicode_equals_the_line_by_line_fold(text: str) -> None:
    assert fold_unicode(text) == _fold_reference(text)


def test_fold_unicode_examples() -> None:
    assert fold_unicode("Le 15/11 à 22:26,\nDécouvrez\nascii") == "Le 15/11 a 22:26,\nDecouvrez\nascii"
    assert fold_unicode("Pаy\u200bment ﬁle") == "Payment file"


_OLD_SPACED = re.compile(r"(?:^| )[^\W\d_] [^\W\d_] [^\W\d_](?: |$)")


@settings(max_examples=1000, deadline=None)
@given(subject=st.text(st.sampled_from(list("ab x1_ é")), max_size=14))
def test_spaced_letters_search_equals_the_anchored_pattern(subject: str) -> None:
    assert (_SPACED.search(" " + subject) is not None) == (_OLD_SPACED.search(subject) is not None)


def _msg(subject: str = "", body: str = "", addr: str = "a@b.example") -> Message:
    return Message("acme", "<m@x>", datetime(2024, 1, 1, tzinfo=UTC), Address(addr, "A"), subject=subject, body=body)


@settings(max_examples=500, deadline=None)
@given(subject=_TEXT, body=st.text(_CHARS, max_size=300))
def test_text_signals_equal_their_plain_forms(subject: str, body: str) -> None:
    s = extract(_msg(subject, body))
    mixed = (not (subject.isascii() and body.isascii())) and any(
        is_mixed_script(w) for w in (subject + " " + body[:2000]).split() if not w.isascii())
    assert s["text_mixed_script"] is mixed
    letters = sum(map(str.isalpha, subject))
    capitals = sum(map(str.isupper, subject))
    assert s["subject_caps_ratio"] == (capitals / letters if letters >= 8 else 0.0)


def test_mixed_script_in_a_later_body_line_is_found() -> None:
    body = "ascii line\n" * 20 + "Plеase pay"  # Cyrillic е
    assert extract(_msg("hello", body))["text_mixed_script"] is True
    assert extract(_msg("hello", "x" * 2000 + "\nPlеase"))["text_mixed_script"] is False  # beyond 2,000 characters


_LABELS = st.sampled_from(["acme", "com", "mail", "b", "co", "uk", "Acme", "", "x-y"])
_DOMAINS = st.lists(_LABELS, min_size=0, max_size=4).map(".".join) | st.sampled_from(["acme.com.", ".", "ACME.COM"])


def _any_parent(domain: str, domains: Iterable[str]) -> bool:
    return any(d in domains for d in parent_domains(domain))


@settings(max_examples=500, deadline=None)
@given(domain=_DOMAINS, internal=st.frozensets(_DOMAINS, max_size=3), known=st.frozensets(_DOMAINS, max_size=3),
       links=st.frozensets(_DOMAINS, max_size=3))
def test_static_context_lookups_equal_the_parent_domain_walk(
    domain: str, internal: frozenset[str], known: frozenset[str], links: frozenset[str]
) -> None:
    ctx = StaticContext(internal_domains=internal, known_domains=known, known_link_domains=links)
    assert ctx.is_internal_domain(domain) == (domain in internal or _any_parent(domain, internal))
    assert ctx.knows_domain(domain) == (domain in known or _any_parent(domain, known))
    knows = domain in known or _any_parent(domain, known)
    assert ctx.knows_link_domain(domain) == (_any_parent(domain, links) or knows)


def test_regex_parts_are_tested_after_the_cheap_ones(
    rules_copy: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A regex written first in an ``all`` is not scanned when a signal part already fails;
    the outcome is the written order's (the closures keep it)."""
    folder = rules_copy({"zz.yaml": """
rules:
  - id: ZZ_REGEX_FIRST
    description: regex first, then a signal that is usually false
    category: spam
    severity: low
    condition: {all: [{regex: 'invoice', field: subject}, {signal: is_reply}]}
  - id: ZZ_REGEX_IN_ANY
    description: regex first in an any
    category: spam
    severity: low
    condition: {any: [{regex: 'invoice', field: body}, {signal: is_reply}]}
"""}, keep_rules=False)
    ruleset = load_rules(folder)
    scans: list[str] = []
    field_text = ruleset_module._field_text

    def spy(message: Message, where: str) -> str:
        scans.append(where)
        return field_text(message, where)

    monkeypatch.setattr(ruleset_module, "_field_text", spy)
    lexicon = default_lexicon()
    reply = extract(_msg("Re: invoice", "invoice attached"), lexicon=lexicon)
    plain = extract(_msg("invoice", "invoice attached"), lexicon=lexicon)
    for signals in (reply, plain):
        hits = ruleset.evaluate(signals)
        assert hits == ruleset.evaluate_closures(signals)
    assert {"ZZ_REGEX_FIRST", "ZZ_REGEX_IN_ANY"} <= set(ruleset.evaluate(reply))
    assert "ZZ_REGEX_IN_ANY" in ruleset.evaluate(plain) and "ZZ_REGEX_FIRST" not in ruleset.evaluate(plain)
    scans.clear()
    ruleset.evaluate(Signals(plain.values, plain.message))
    assert "subject" not in scans  # is_reply is false: the subject regex of ZZ_REGEX_FIRST is never needed


def test_view_spaced_subject_example() -> None:
    view = MessageView(_msg("G i f t  c a r d s"), StaticContext(), default_lexicon())
    assert view.spaced and view.subject_despaced == "gift cards"
