"""Bounded memos of results computed from a tenant's tables, exact while a table is unchanged.

Real mail repeats senders, display names and link domains, so the costly context signals
(display-name similarity, look-alike distance) mostly ask again what they asked before.
:class:`TableMemo` keeps those answers per *owner* (a tenant context) together with the
table they were computed from (the context's name table, its look-alike skeletons). The
owner's answers are dropped as soon as it hands over another table object, so the memo
is exact whenever a changed table is a new object; a table that only ever grows in place
(a live context's look-alike references) is handled by the caller, which remembers how much
of it each answer covers (see :func:`graphdet.rules.extractors.lookalike_distance`).

The memo holds the table itself, never the context: a table cannot be freed (and its id
reused by a different table) while an answer computed from it is kept, and an old
context is not kept alive by its answers. Both dimensions are bounded: at most
``max_owners`` owners (the oldest goes first) with at most ``max_entries`` answers each
(cleared when full).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["TableMemo"]

_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


class TableMemo(Generic[_K, _V]):
    """Answers per owner, each set valid for one table object (see the module docstring)."""

    __slots__ = ("_lock", "_max_entries", "_max_owners", "_owners")

    def __init__(self, *, max_owners: int, max_entries: int) -> None:
        self._max_owners = max_owners
        self._max_entries = max_entries
        self._owners: dict[Hashable, tuple[object, dict[_K, _V]]] = {}
        # the memos are module-wide: engines, and an engine's reload thread preparing a new
        # snapshot, ask at once (a single dict operation is atomic; evicting the oldest is not,
        # so adding an owner or a table takes the lock)
        self._lock = threading.Lock()

    def answers(self, owner: Hashable, table: object) -> dict[_K, _V]:
        """The answers ``owner`` computed from ``table``: the same dict while ``owner`` asks
        with the very same table object, an empty one once it asks with another."""
        kept = self._owners.get(owner)
        if kept is not None and kept[0] is table:  # the common case, one atomic read: no lock
            answers = kept[1]
            if len(answers) >= self._max_entries:
                answers.clear()
            return answers
        with self._lock:
            kept = self._owners.get(owner)
            if kept is not None and kept[0] is table:  # another thread just added it
                return kept[1]
            if kept is None and len(self._owners) >= self._max_owners:
                self._owners.pop(next(iter(self._owners)), None)  # the oldest owner
            answers = {}
            self._owners[owner] = (table, answers)
            return answers

    def clear(self) -> None:
        """Forget every answer."""
        with self._lock:
            self._owners.clear()

    def __len__(self) -> int:
        """Answers kept, all owners together."""
        with self._lock:
            return sum(len(a) for _, a in self._owners.values())
