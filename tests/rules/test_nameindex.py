"""The character-count filter of display-name search never drops a name that reaches the
cutoff, and the display-name match through it is the match of scoring every name."""

from __future__ import annotations

import bisect

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz import fuzz

from graphdet.rules import extractors
from graphdet.rules.nameindex import NameIndex

# names from a small alphabet (many near and equal scores, ties included), with the classes
# the filter counts apart: digits, other ASCII, non-ASCII, a lone surrogate; letters repeated
# past the four levels the bits keep
_CHARS = st.sampled_from([*"aaaaabcde  .1-ñжé", "\ud800"])
_NAME = st.text(_CHARS, min_size=4, max_size=14)


@settings(max_examples=300, deadline=None)
@given(names=st.lists(_NAME, min_size=1, max_size=60), key=_NAME,
       cutoff=st.one_of(st.sampled_from([0.0, 50.0, 70.0, 85.0, 100.0]), st.floats(0, 100)), exact=st.booleans())
def test_candidates_hold_every_name_that_reaches_the_cutoff(names: list[str], key: str, cutoff: float,
                                                            exact: bool) -> None:
    if exact:  # a cutoff equal to a name's own score, to the last bit: the name must stay
        cutoff = fuzz.ratio(key, names[0])
    found = NameIndex(names).candidates(key, cutoff).tolist()
    assert found == sorted(set(found))
    reaching = [i for i, n in enumerate(names) if fuzz.ratio(key, n) >= cutoff]
    assert set(reaching) <= set(found)


def test_a_name_scoring_exactly_the_cutoff_is_kept() -> None:
    # 200 * 4 shared / 11 characters = 72.7272...: the threshold ceil(72.72... * 11 / 200) must
    # not round up to 5 shared characters
    cutoff = fuzz.ratio("aaaabb", "aaaac")
    assert cutoff == 800 / 11 and NameIndex(["aaaac"]).candidates("aaaabb", cutoff).tolist() == [0]


def test_candidates_drop_names_that_share_too_few_characters() -> None:
    names = ["john smith", "jon smith", "mary jones", "xyz qwv", "smith john", "jjjjjjjjjj"]
    found = NameIndex(names).candidates("john smith", 70.0).tolist()
    assert found == [0, 1, 4]  # the anagram passes the count filter (rapidfuzz then scores it 50)
    assert fuzz.ratio("john smith", "smith john") < 70
    # a key holding more than four of one letter: the rest of its count stands in for the name's
    # (S is counted as 4 + 4 for "aaaaxyzw", though it shares only four a's)
    many = NameIndex(["aaaaaaaa", "aaaaxyzw", "cccccccc"]).candidates("aaaaaaaa", 70.0).tolist()
    assert many == [0, 1] and fuzz.ratio("aaaaaaaa", "aaaaxyzw") == 50


def _table(names: list[str]) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    # each name used by one address; a few by the sender itself (then it is skipped)
    return tuple(names), tuple((f"u{i % 7}@acme.com",) for i in range(len(names)))


@settings(max_examples=300, deadline=None)
@given(names=st.lists(_NAME, min_size=1, max_size=80), display=_NAME, sender=st.integers(0, 8))
def test_display_name_match_through_the_index_equals_scoring_every_name(names: list[str], display: str,
                                                                        sender: int) -> None:
    table = _table(names)
    addr = f"u{sender}@acme.com"
    indexed = extractors._match_name(display, addr, table, NameIndex(names))
    assert indexed == extractors._match_name(display, addr, table)


def test_a_large_table_answers_the_same_through_its_index() -> None:
    rng = np.random.default_rng(3)
    first = ["anna", "john", "maria", "peter", "li", "olga", "omar", "james", "wei", "sara"]
    last = ["smith", "jones", "garcia", "kowalski", "chen", "haddad", "muller", "okafor"]
    names = sorted({f"{rng.choice(first)} {chr(97 + int(rng.integers(26)))}. {rng.choice(last)}"
                    for _ in range(1500)})
    assert len(names) >= extractors.INDEXED_NAMES
    table, index = _table(names), NameIndex(names)
    matched = 0
    for display in ["Anna K. Smith", "J0hn Q. Jones", "Maria Garcia", "Someone Else", "wei chen", "Olga X Haddad"]:
        got = extractors._match_name(display, "u1@acme.com", table, index)
        assert got == extractors._match_name(display, "u1@acme.com", table), display
        matched += got[0] >= extractors.MIN_SIMILARITY
    assert matched >= 4
    # most of the table is never scored
    assert len(index.candidates("anna k. smith", extractors.MIN_SIMILARITY)) < len(names) // 4


@given(names=st.lists(_NAME, max_size=30, unique=True), new=st.lists(_NAME, max_size=6, unique=True))
def test_an_index_patched_with_new_names_equals_one_built_afresh(names: list[str], new: list[str]) -> None:
    """Names merged into a sorted table at their places: the patched index is the index of the
    merged table, bit for bit, and finds what it finds."""
    table = sorted(names)
    added = sorted(set(new) - set(table))
    at = [bisect.bisect_left(table, name) for name in added]
    patched = NameIndex(table).inserted(at, added)
    merged = sorted([*table, *added])
    expected = NameIndex(merged)
    assert [patched.lengths.tolist(), patched.low.tolist(), patched.high.tolist()] == \
        [expected.lengths.tolist(), expected.low.tolist(), expected.high.tolist()]
    for key in added[:2]:
        assert patched.candidates(key, 70.0).tolist() == expected.candidates(key, 70.0).tolist()
