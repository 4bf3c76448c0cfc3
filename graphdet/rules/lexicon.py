"""Data the signals read: phrase families (one multi-pattern automaton) and named lists.

Both live in the rules folder as YAML, never in code:

* ``phrases.yaml``: ``families: {NAME: {description: ..., phrases: [...]}}``. Phrases are
  matched case-insensitively on :func:`~graphdet.rules.text.normalize_text` output, whole
  words only; a phrase ending in ``*`` is a prefix (``invoic*`` matches ``invoiced``).
* ``lists.yaml``: ``freemail_domains``, ``url_shorteners``, ``executable_extensions``,
  ``macro_extensions``, ``archive_extensions``, ``html_extensions``, ``document_extensions``,
  ``credential_url_words``.

All phrases of all families go into ONE Hyperscan database (block mode, caseless, start of
match reported): matching costs one pass over the message bytes whatever the number of
phrases, and needs no lower-casing or whitespace rewriting first: the words of a phrase are
joined by ``\\s{1,4}``, so a phrase split by a line break or a few spaces still matches
(an unbounded ``\\s+`` would double the scan time).
Hyperscan replaced an Aho-Corasick DFA (``ahocorasick_rs``) that needed the text lower-cased
and re-encoded first: on 10 KB of mail the scan alone is ~2x faster and the whole phrase step
~3x (see BENCHMARKS.md).

Hits are then filtered in Python (there are few): a hit must start and end on word
boundaries (ASCII letters, digits and every non-ASCII byte are word bytes; a prefix phrase
need not end on one), and overlapping hits resolve leftmost-longest, so ``gift card``
counts once and not also as ``card``.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hyperscan

from graphdet.rules.errors import RuleError
from graphdet.rules.text import fold_unicode, normalize_text
from graphdet.rules.yamlio import LineDict, line_of, read_yaml

__all__ = ["LIST_NAMES", "Lexicon", "load_lexicon", "scan_bytes"]

logger = logging.getLogger(__name__)

LIST_NAMES = (
    "freemail_domains",
    "url_shorteners",
    "executable_extensions",
    "macro_extensions",
    "archive_extensions",
    "html_extensions",
    "document_extensions",
    "credential_url_words",
)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# bytes that belong to a word: ASCII letters and digits, and every non-ASCII byte (UTF-8)
_WORD = bytes(1 if (chr(b).isalnum() and b < 128) or b >= 128 else 0 for b in range(256))


@dataclass(frozen=True)
class Lexicon:
    """Compiled phrase families and lists. Build it with :func:`load_lexicon`.

    Thread-safe: each thread scans with its own Hyperscan scratch space.
    """

    families: tuple[str, ...]
    descriptions: dict[str, str]
    lists: dict[str, frozenset[str]]
    credential_url: re.Pattern[str]  # any of lists.yaml credential_url_words, in a lower-cased URL
    _database: Any
    _pattern_family: tuple[tuple[int, ...], ...]  # pattern index -> family indexes
    _pattern_prefix: tuple[bool, ...]
    _local: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    def count(self, data: bytes) -> list[int]:
        """Whole-word phrase hits per family (family order) in ``data``, as made by :func:`scan_bytes`."""
        return self.scan(data)[0]

    def scan(self, data: bytes) -> tuple[list[int], int]:
        """Phrase hits per family, and the number of ``!`` in ``data`` (counted in the same pass)."""
        counts = [0] * len(self.families)
        if not data:
            return counts, 0
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self._database)
        hits: list[tuple[int, int, int]] = []
        self._database.scan(data, match_event_handler=_collect, context=hits, scratch=scratch)
        if not hits:
            return counts, 0
        bang = len(self._pattern_prefix)  # the id of the extra "!" expression
        bangs = 0
        word = _WORD
        end_of_text = len(data)
        prefix = self._pattern_prefix
        valid = []
        for idx, start, end in hits:
            if idx == bang:
                bangs += 1
            elif (start == 0 or not word[data[start - 1]]) and (
                prefix[idx] or end >= end_of_text or not word[data[end]]
            ):
                valid.append((start, -end, idx))
        valid.sort()
        taken_to = -1
        for start, neg_end, idx in valid:  # leftmost-longest, no overlaps
            if start < taken_to:
                continue
            taken_to = -neg_end
            for fam in self._pattern_family[idx]:
                counts[fam] += 1
        return counts, bangs

    def count_text(self, text: str) -> dict[str, int]:
        """Convenience: ``{family: hits}`` in ``text``."""
        return dict(zip(self.families, self.count(scan_bytes(text)), strict=True))


def _collect(idx: int, start: int, end: int, _flags: int, hits: list[tuple[int, int, int]]) -> None:
    hits.append((idx, start, end))


def scan_bytes(text: str) -> bytes:
    """``text`` as the bytes phrases are matched on: confusables and diacritics folded to
    ASCII (only lines that hold non-ASCII characters are touched), then UTF-8. Case and
    whitespace stay as written: the database is caseless and joins words with ``\\s{1,4}``."""
    if text.isascii():
        return text.encode("ascii")
    return fold_unicode(text).encode("utf-8", "replace")  # a lone surrogate (no text) matches as "?"


def _pattern(phrase: str) -> bytes:
    """A normalised phrase as a Hyperscan expression: escaped words joined by ``\\s{1,4}``."""
    return r"\s{1,4}".join(re.escape(w) for w in phrase.split(" ")).encode("utf-8")


def _err(path: Path, value: object, message: str, default: int | None = None) -> RuleError:
    return RuleError(message, file=str(path), line=line_of(value, default))


def _read_phrases(path: Path) -> tuple[list[str], dict[str, str], dict[str, list[str]]]:
    data = read_yaml(path)
    if not isinstance(data, LineDict) or set(data) != {"families"} or not isinstance(data["families"], LineDict):
        raise _err(path, data, "expected exactly one top-level key 'families' holding a mapping", 1)
    names: list[str] = []
    descriptions: dict[str, str] = {}
    phrases: dict[str, list[str]] = {}
    for name, body in data["families"].items():
        line = data["families"].key_lines[name]
        if not isinstance(name, str) or not _NAME.match(name):
            raise RuleError(f"phrase family name {name!r} must be lower_snake_case", file=str(path), line=line)
        if not isinstance(body, LineDict) or set(body) - {"description", "phrases"} or "phrases" not in body:
            raise RuleError(f"family {name!r} needs 'phrases' (and optionally 'description') only",
                            file=str(path), line=line)
        items = body["phrases"]
        if not isinstance(items, list) or not items or not all(isinstance(p, str) and p.strip() for p in items):
            raise RuleError(f"family {name!r}: 'phrases' must be a non-empty list of strings", file=str(path),
                            line=line_of(items, line))
        names.append(name)
        descriptions[name] = str(body.get("description", ""))
        phrases[name] = items
    return names, descriptions, phrases


def _read_lists(path: Path) -> dict[str, frozenset[str]]:
    data = read_yaml(path)
    if not isinstance(data, LineDict):
        raise _err(path, data, "expected a mapping of list name -> list of strings", 1)
    unknown = set(data) - set(LIST_NAMES)
    missing = set(LIST_NAMES) - set(data)
    if unknown:
        key = sorted(unknown, key=str)[0]
        raise RuleError(f"unknown list {key!r}; valid lists: {', '.join(LIST_NAMES)}", file=str(path),
                        line=data.key_lines[key])
    if missing:
        raise _err(path, data, f"missing lists: {', '.join(sorted(missing))}", 1)
    out: dict[str, frozenset[str]] = {}
    for name in LIST_NAMES:
        items = data[name]
        if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
            raise RuleError(f"list {name!r} must be a list of non-empty strings", file=str(path),
                            line=data.key_lines[name])
        out[name] = frozenset(i.strip().lower().lstrip(".") for i in items)
    return out


def load_lexicon(folder: str | Path) -> Lexicon:
    """Read ``phrases.yaml`` and ``lists.yaml`` of a rules folder and compile the automaton."""
    folder = Path(folder)
    names, descriptions, phrases = _read_phrases(folder / "phrases.yaml")
    lists = _read_lists(folder / "lists.yaml")
    pattern_index: dict[str, int] = {}
    pattern_family: list[list[int]] = []
    prefix: list[bool] = []
    for fam, name in enumerate(names):
        for raw in phrases[name]:
            is_prefix = raw.endswith("*")
            norm = normalize_text(raw.rstrip("*"))
            if not norm:
                raise RuleError(f"family {name!r}: phrase {raw!r} is empty once normalised",
                                file=str(folder / "phrases.yaml"))
            key = norm + ("*" if is_prefix else "")
            if key not in pattern_index:
                pattern_index[key] = len(pattern_family)
                pattern_family.append([])
                prefix.append(is_prefix)
            if fam not in pattern_family[pattern_index[key]]:
                pattern_family[pattern_index[key]].append(fam)
    patterns = [_pattern(k.rstrip("*")) for k in pattern_index] + [b"!"]  # "!" last: exclamation marks
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    flags = hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SOM_LEFTMOST
    try:
        database.compile(expressions=patterns, ids=list(range(len(patterns))), elements=len(patterns),
                         flags=[flags] * len(patterns))
    except hyperscan.error as e:  # e.g. a phrase too long for start-of-match tracking
        raise RuleError(f"phrases could not be compiled: {e}", file=str(folder / "phrases.yaml")) from None
    logger.debug("compiled %d phrases in %d families", len(patterns), len(names))
    return Lexicon(
        families=tuple(names),
        descriptions=descriptions,
        lists=lists,
        credential_url=re.compile("|".join(map(re.escape, sorted(lists["credential_url_words"], key=len, reverse=True)))
                                  or "(?!)"),
        _database=database,
        _pattern_family=tuple(tuple(f) for f in pattern_family),
        _pattern_prefix=tuple(prefix),
    )
