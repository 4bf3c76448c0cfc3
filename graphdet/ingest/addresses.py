"""Fast address-list parsing for From/To/Cc headers.

``email.utils.getaddresses`` walks a header character by character in Python (~2 us per
character); mailing-list mail carries Cc lists of dozens of addresses, which made it the
single largest ingest cost. Here a header is cut into tokens by one regular expression
(quoted strings, angle addresses, plain runs, commas) and each comma-separated
group becomes one mailbox. Anything the tokens cannot explain (groups, route addresses,
comments, escapes) falls back to the stdlib parser, so results match it (a test checks this
against the stdlib on real and generated headers).
"""

from __future__ import annotations

import re
from email.utils import getaddresses as _stdlib_getaddresses

__all__ = ["parse_address_list"]

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|<[^<>]*>|[^,"<>]+|,')
# what separates addresses, for headers the stdlib parser cannot take (it recurses per nested
# comment or group: a 1 KB header of 500 "(" exhausts the stack); split, not searched: a search
# for "x@y" backtracks from every position of a long run without "@"
_SEPARATORS = re.compile(r"[\s<>()\[\],;:\"]+")
_HARD = re.compile(r"[:;()\\]|<[^>]*<")


def getaddresses(values: list[str]) -> list[tuple[str, str]]:
    """The stdlib's ``getaddresses``; a header too deeply nested for it gives its bare addresses."""
    try:
        return _stdlib_getaddresses(values)
    except RecursionError:
        return [("", a) for v in values for a in _SEPARATORS.split(v)
                if a.count("@") == 1 and not a.startswith("@") and not a.endswith("@")]


def _unquote(s: str) -> str:
    return s[1:-1].replace('\\"', '"').replace("\\\\", "\\")


def parse_address_list(value: str) -> list[tuple[str, str]]:
    """``[(display name, address), ...]`` as ``getaddresses([value])`` would return them."""
    if _HARD.search(value) or value.count('"') % 2:
        return getaddresses([value])
    out: list[tuple[str, str]] = []
    name_parts: list[str] = []
    angle: str | None = None
    bare: list[str] = []
    pos = 0

    def flush() -> None:
        nonlocal angle
        if angle is not None:
            out.append((" ".join(p for p in name_parts if p), angle.strip()))
        else:
            addr = "".join(bare).strip()
            if addr:
                if " " in addr:  # "jane doe@x" is not an address getaddresses accepts as-is
                    out.extend(getaddresses([addr]))
                else:
                    out.append(("", addr))
        name_parts.clear()
        bare.clear()
        angle = None

    for m in _TOKEN.finditer(value):
        if m.start() != pos and value[pos : m.start()].strip():
            return getaddresses([value])  # something the tokens did not cover
        pos = m.end()
        tok = m.group(0)
        if tok == ",":
            flush()
        elif tok[0] == '"':
            name_parts.append(_unquote(tok))
        elif tok[0] == "<":
            if angle is not None:
                return getaddresses([value])
            angle = tok[1:-1]
            name_parts.extend(" ".join(b.split()) for b in bare)
            bare.clear()
        elif angle is None:
            bare.append(tok)
        elif tok.strip():
            return getaddresses([value])  # text after <addr>
    if value[pos:].strip():
        return getaddresses([value])
    flush()
    return out
