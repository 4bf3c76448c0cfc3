"""parse_address_list is a fast getaddresses: the stdlib is the oracle."""

from __future__ import annotations

from collections.abc import Callable
from email.utils import getaddresses
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from graphdet.ingest.addresses import parse_address_list


def _collapse(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(" ".join(name.split()), addr) for name, addr in pairs]


def _oracle(value: str) -> list[tuple[str, str]]:
    return _collapse(getaddresses([value]))


_ATOM = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ0123456789", min_size=1, max_size=8)
_local = st.builds(
    lambda parts, sep: sep.join(parts),
    st.lists(_ATOM, min_size=1, max_size=3),
    st.sampled_from([".", "_", "+", "-"]),
)
_domain = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(_ATOM, min_size=1, max_size=3),
    st.sampled_from(["com", "org", "io", "de", "xn--p1ai"]),
)
_addr = st.builds(lambda lp, d: f"{lp}@{d}", _local, _domain)
_plain_name = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzÄÖÜäöüéßJKLM'-", min_size=1, max_size=8),
    min_size=1,
    max_size=3,
).map(" ".join)
_quoted_name = st.text(
    alphabet=st.characters(blacklist_characters='"\\\r\n', blacklist_categories=("Cs", "Cc")), max_size=20
).map(lambda s: f'"{s}"')
_ws = st.sampled_from([" ", "  ", "\n ", "\n\t", "\t", ""])

_mailbox = st.one_of(
    _addr,
    st.builds(lambda a: f"<{a}>", _addr),
    st.builds(lambda n, w, a: f"{n}{w or ' '}<{a}>", _plain_name, _ws, _addr),
    st.builds(lambda n, w, a: f"{n}{w}<{a}>", _quoted_name, _ws, _addr),
)
_address_list = st.builds(
    lambda boxes, seps: "".join(
        b + (seps[i % len(seps)] if i < len(boxes) - 1 else "") for i, b in enumerate(boxes)
    ),
    st.lists(_mailbox, min_size=1, max_size=6),
    st.lists(st.sampled_from([", ", ",", ",\n ", ",\n\t", " , "]), min_size=1, max_size=3),
)


@settings(max_examples=settings.default.max_examples * 5)
@given(_address_list)
@example('"Smith, Bob" <bob.smith@acme.com>, Jane Doe <jane@acme.com>')
@example('"" <empty@x.org>,bare@x.org')
@example("Jürgen Müller\n\t<j@x.de>")
def test_matches_getaddresses_on_well_formed_lists(value: str) -> None:
    assert _collapse(parse_address_list(value)) == _oracle(value)


@pytest.mark.parametrize(
    "value",
    [
        "undisclosed-recipients:;",  # group syntax: the stdlib path
        "Team: a@x.org, b@x.org;",
        "a@x.org (Alice), b@x.org",  # comments
        '"unterminated <a@x.org>',
        "<a@x.org> trailing text",
        "Jane Doe jane@x.org",  # no brackets, spaces
        "<<a@x.org>>",
        "",
    ],
)
def test_hard_cases_match_getaddresses(value: str) -> None:
    assert _collapse(parse_address_list(value)) == _oracle(value)


@pytest.mark.parametrize(
    ("value", "want"), [(",,,", []), ("a@x.org,, ,b@x.org", [("", "a@x.org"), ("", "b@x.org")])]
)
def test_empty_list_elements_are_dropped(value: str, want: list[tuple[str, str]]) -> None:
    # the one known difference: getaddresses reports each empty element as ('', '');
    # ingest drops address-less entries anyway
    assert parse_address_list(value) == want
    assert [p for p in _oracle(value) if p != ("", "")] == want


def test_exact_values() -> None:
    assert parse_address_list('"Smith, Bob" <Bob@Acme.com>, Jane  Doe <jane@acme.com>, c@d.io') == [
        ("Smith, Bob", "Bob@Acme.com"),
        ("Jane Doe", "jane@acme.com"),
        ("", "c@d.io"),
    ]


@pytest.mark.realdata
def test_matches_getaddresses_on_every_header_of_linux_s390(real_file: Callable[[str], Path]) -> None:
    from email.parser import BytesHeaderParser
    from email.policy import compat32

    from graphdet.ingest import iter_records

    path = real_file("linux-s390/2024.mbox.gz")
    parser = BytesHeaderParser(policy=compat32)
    n_headers = n_addresses = 0
    mismatches = []
    for record in iter_records(path, "mbox"):
        msg = parser.parsebytes(record.raw or b"")
        for name in ("from", "to", "cc"):
            for value in msg.get_all(name, []):
                value = str(value)
                got = _collapse(parse_address_list(value))
                n_headers += 1
                n_addresses += len(got)
                if got != _oracle(value):
                    mismatches.append(value)
    assert mismatches == []
    assert n_headers > 7146 * 2  # every message has From and To (most have Cc)
    assert n_addresses > 30_000
