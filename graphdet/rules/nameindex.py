"""Which names of a large table can reach a similarity cutoff: a character-count filter.

Display-name impersonation compares a sender's folded name with every internal name by
rapidfuzz's ``fuzz.ratio``. That costs ~50 ns a name, ~1 ms for the ~20,000 names of a big
tenant, and it is paid by every sender seen for the first time. Most names cannot reach the
cutoff, and a count of their characters shows it:

``fuzz.ratio(a, b) = 100 * (1 - indel(a, b) / (|a| + |b|))``, and the insertions and deletions
that turn ``a`` into ``b`` include at least ``|count_a(c) - count_b(c)|`` of each character
``c``. So with ``S = sum over c of min(count_a(c), count_b(c))``,
``ratio(a, b) <= 200 * S / (|a| + |b|)``. Characters are counted in classes (each lower-case
letter, space, digits, other ASCII, anything else): a class holds at least the common count of
its members, so ``S`` by class is never below the true one and the bound stays a bound. The
counts are kept as bits ("at least j of class c", j = 1..4) and ``S`` is a population count.

:class:`NameIndex` keeps the class counts of a table's names; :meth:`NameIndex.candidates`
returns, in table order, every name whose bound reaches the cutoff. Scoring only those with
rapidfuzz gives exactly the answer of scoring all of them (a test compares the two).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["NameIndex"]

_CLASSES = 30  # a-z, space, digit, other ASCII, non-ASCII
_CLASS_OF = np.full(129, 28, dtype=np.intp)  # code point (128: anything past ASCII) -> class
_CLASS_OF[ord("a") : ord("z") + 1] = np.arange(26)
_CLASS_OF[ord(" ")] = 26
_CLASS_OF[ord("0") : ord("9") + 1] = 27
_CLASS_OF[128] = 29
_MAX_NEED = 2**15 - 1  # int16 thresholds: a longer key or name is clamped (keeps more names), never wrapped
_NEEDS_KEPT = 16  # thresholds kept per index, one per key length (~2 bytes a name each)
_LEVELS = 4  # "at least j of class c" is kept as a bit for j = 1..4: two 64-bit words a name


def _classes(text: str) -> np.ndarray:
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    classes: np.ndarray = _CLASS_OF[np.minimum(codes, 128)]
    return classes


def _bit(j: int, c: int) -> tuple[int, int]:
    """Where "at least ``j`` characters of class ``c``" is kept: (word, bit). Levels 1-2 are in
    the first word, 3-4 in the second."""
    return (j - 1) // 2, ((j - 1) % 2) * _CLASSES + c


def _words(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class counts (classes x names) as the two bit words of each name (see :func:`_bit`)."""
    words = [np.zeros(counts.shape[1], dtype=np.uint64) for _ in range(2)]
    for j in range(1, _LEVELS + 1):
        for c in range(_CLASSES):
            word, bit = _bit(j, c)
            words[word] |= (counts[c] >= j).astype(np.uint64) << np.uint64(bit)
    return words[0], words[1]


class NameIndex:
    """Character-class counts of ``names``, as bits (see the module docstring)."""

    __slots__ = ("_needs", "high", "lengths", "low")

    def __init__(self, names: Sequence[str]) -> None:
        n = len(names)
        self.lengths = np.fromiter(map(len, names), dtype=np.int64, count=n)
        owner = np.repeat(np.arange(n, dtype=np.int64), self.lengths)
        classes = _classes("".join(names)).astype(np.int64)
        counts = np.bincount(classes * n + owner, minlength=_CLASSES * n).reshape(_CLASSES, n)
        self.low, self.high = _words(counts)
        self._needs: dict[tuple[float, int], np.ndarray] = {}

    def inserted(self, at: Sequence[int], names: Sequence[str]) -> NameIndex:
        """This index with ``names[k]`` placed before position ``at[k]`` of its table (positions
        in the table as it is, ascending, as :func:`numpy.insert` takes them): a new index, with
        the bits of the new names only."""
        new = NameIndex(names)
        index = NameIndex.__new__(NameIndex)
        index.lengths = np.insert(self.lengths, at, new.lengths)
        index.low = np.insert(self.low, at, new.low)
        index.high = np.insert(self.high, at, new.high)
        index._needs = {}  # (per name length: the old ones no longer line up)
        return index

    def candidates(self, key: str, cutoff: float) -> np.ndarray:
        """Indexes (ascending) of the names whose ``fuzz.ratio`` with ``key`` may be ``>= cutoff``."""
        query = [0, 0]  # the key's two bit words
        beyond = 0
        for c, k in enumerate(np.bincount(_classes(key), minlength=_CLASSES).tolist()):
            for j in range(1, min(k, _LEVELS) + 1):
                word, bit = _bit(j, c)
                query[word] |= 1 << bit
            # past 4 of a class the key's own count stands in for the name's (S only grows)
            beyond += max(k - _LEVELS, 0)
        if beyond >= _MAX_NEED:  # a surplus past every (clamped) threshold: nothing is filtered
            return np.arange(len(self.lengths))
        low, high = query
        shared = np.bitwise_count(self.low & np.uint64(low))
        if high:
            shared += np.bitwise_count(self.high & np.uint64(high))  # at most 120: uint8 holds it
        need = self._need(cutoff, len(key))
        keep = shared >= (need - beyond if beyond else need)
        found: np.ndarray = np.flatnonzero(keep)
        return found

    def _need(self, cutoff: float, key_length: int) -> np.ndarray:
        """Per name, the fewest shared characters that let ``200 S / (|key| + |name|)`` reach
        ``cutoff``: ``ceil(cutoff (|key| + |name|) / 200)``, less a hair of slack so that
        rounding can only keep more names (remembered per cutoff and key length, 16 at most)."""
        need = self._needs.get((cutoff, key_length))
        if need is None:
            if len(self._needs) >= _NEEDS_KEPT:
                self._needs.clear()
            need = np.minimum(np.ceil(cutoff * (key_length + self.lengths) / 200.0 - 1e-6), _MAX_NEED).astype(np.int16)
            self._needs[(cutoff, key_length)] = need
        return need
