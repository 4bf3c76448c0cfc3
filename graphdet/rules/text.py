"""Text folding for matching: phrase text, display-name and domain skeletons, punycode.

* :func:`normalize_text` prepares subject and body for phrase matching: case-folded,
  diacritics dropped, Unicode confusables folded to ASCII, zero-width characters removed,
  every run of whitespace made one space. ASCII text (most mail) takes a fast path.
* :func:`skeleton` is the comparison key for names and domains (in the spirit of UTS #39):
  confusables folded, case folded, and the classic ASCII look-alikes merged
  (``rn`` -> ``m``, ``vv`` -> ``w``, ``0`` -> ``o``, ``1``/``i``/``|`` -> ``l``, ``5`` -> ``s``).
  Two strings with the same skeleton look the same to a reader.
* :func:`decode_domain` turns ``xn--`` labels into Unicode, so that a punycode domain is
  compared by what the reader sees.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from confusable_homoglyphs import confusables

__all__ = ["decode_domain", "fold_unicode", "is_mixed_script", "normalize_text", "skeleton"]

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"), None)
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_ASCII_LOOKALIKE = str.maketrans({"0": "o", "1": "l", "i": "l", "|": "l", "5": "s", "$": "s", "@": "a"})


@functools.cache
def _confusable_table() -> dict[int, str]:
    """Non-ASCII character -> the ASCII letter or digit it is confusable with (lower case)."""
    table: dict[int, str] = {}
    for char, entries in confusables.confusables_data.items():
        if len(char) != 1 or char.isascii():
            continue
        targets = [e["c"] for e in entries if len(e["c"]) == 1 and e["c"].isascii() and e["c"].isalnum()]
        if targets:
            lower = [t for t in targets if t.islower()]
            table[ord(char)] = (lower or targets)[0].lower()
    table.update(_ZERO_WIDTH)  # type: ignore[arg-type]
    return table


@functools.lru_cache(maxsize=4096)
def _fold_run(run: str) -> str:
    """A run of decomposed non-ASCII characters, combining marks dropped, confusables folded."""
    return "".join(c for c in run if not unicodedata.combining(c)).translate(_confusable_table())


def _fold_match(match: re.Match[str]) -> str:
    return _fold_run(match.group())


def _fold_line(line: str) -> str:
    """NFKD, then combining marks dropped and confusables folded. Both only touch non-ASCII
    characters, so they run on the non-ASCII runs alone (translating a whole line costs a
    dictionary lookup per character, ASCII ones included)."""
    if line.isascii():
        return line
    decomposed = unicodedata.normalize("NFKD", line)
    if decomposed.isascii():
        return decomposed
    return _NON_ASCII.sub(_fold_match, decomposed)


def fold_unicode(text: str) -> str:
    """Drop diacritics and zero-width characters, fold confusables to ASCII.

    Only lines holding non-ASCII characters are touched, so a long message with one
    accented name costs about as little as a pure ASCII one.
    """
    if text.isascii():
        return text
    if "\xa0" in text:  # no-break spaces are the commonest non-ASCII in mail bodies
        text = text.replace("\xa0", " ")
        if text.isascii():
            return text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if not line.isascii():
            lines[i] = _fold_line(line)
    return "\n".join(lines)


def normalize_text(text: str) -> str:
    """Case-folded, confusable-folded text with single spaces, for phrase matching."""
    if not text.isascii():
        text = fold_unicode(text)
    return " ".join(text.lower().split())


@functools.lru_cache(maxsize=65536)
def skeleton(text: str) -> str:
    """The visual comparison key of a name or domain (see the module docstring).

    >>> skeleton("Jоhn  Smith") == skeleton("J0hn smith") == skeleton("john smith")
    True
    >>> skeleton("rnicrosoft.com") == skeleton("microsoft.com")
    True
    """
    folded = " ".join(fold_unicode(text).lower().split())
    folded = folded.replace("rn", "m").replace("vv", "w")
    return folded.translate(_ASCII_LOOKALIKE)


@functools.lru_cache(maxsize=65536)
def decode_domain(domain: str) -> str:
    """A domain with its ``xn--`` labels decoded to Unicode (labels that fail stay as written)."""
    domain = domain.lower().rstrip(".")
    if "xn--" not in domain:
        return domain
    labels = []
    for label in domain.split("."):
        if label.startswith("xn--"):
            try:
                label = label[4:].encode("ascii").decode("punycode")
            except (UnicodeError, ValueError):
                pass
        labels.append(label)
    return ".".join(labels)


@functools.lru_cache(maxsize=65536)
def is_mixed_script(text: str) -> bool:
    """True when ``text`` mixes scripts (e.g. Latin with Cyrillic), common characters aside."""
    if text.isascii():
        return False
    return bool(confusables.is_mixed_script(text))
