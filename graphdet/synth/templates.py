"""Vectorised text templates: paraphrase by slots, rendered with Arrow compute.

A template is a string with ``{name}`` holes. A name is either a *slot* (a tuple of
alternative phrasings, one drawn per message; alternatives may hold holes themselves) or a
*field* (a per-message value such as the recipient's first name, supplied lazily by
:class:`Fields`). Rendering ``n`` messages costs one ``pc.take`` per hole and one
``binary_join_element_wise`` per template, never a Python loop per message, and the number
of distinct texts is the product of the slot sizes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Fields", "format_amount", "render", "take_str"]

_HOLE = re.compile(r"\{(\w+)\}")

FieldFn = Callable[[np.ndarray], pa.Array]


def take_str(values: pa.Array, idx: np.ndarray) -> pa.Array:
    """``values[idx]`` as a plain (unchunked) array."""
    out = pc.take(values, pa.array(idx, pa.int64()))
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


class Fields:
    """Per-message values for template holes, computed only when a template uses them."""

    def __init__(self, fns: Mapping[str, FieldFn]) -> None:
        self.fns = dict(fns)

    def __contains__(self, name: str) -> bool:
        return name in self.fns

    def get(self, name: str, rows: np.ndarray) -> pa.Array:
        return self.fns[name](rows)


@lru_cache(maxsize=4096)
def _parse(template: str) -> tuple[tuple[bool, str], ...]:
    """Split into (is_hole, text) parts."""
    parts: list[tuple[bool, str]] = []
    pos = 0
    for m in _HOLE.finditer(template):
        if m.start() > pos:
            parts.append((False, template[pos : m.start()]))
        parts.append((True, m.group(1)))
        pos = m.end()
    if pos < len(template):
        parts.append((False, template[pos:]))
    return tuple(parts)


@lru_cache(maxsize=4096)
def _alts_array(alts: tuple[str, ...]) -> pa.Array:
    return pa.array(alts, pa.string())


def _render_one(
    template: str,
    rows: np.ndarray,
    slots: Mapping[str, tuple[str, ...]],
    fields: Fields,
    rng: np.random.Generator,
) -> pa.Array:
    pieces: list[pa.Array | str] = []
    for is_hole, text in _parse(template):
        if not is_hole:
            pieces.append(text)
        elif text in slots:
            alts = slots[text]
            if any("{" in a for a in alts):
                pieces.append(render(alts, rows, slots, fields, rng))
            else:
                pieces.append(take_str(_alts_array(alts), rng.integers(0, len(alts), len(rows))))
        elif text in fields:
            pieces.append(fields.get(text, rows))
        else:
            raise KeyError(f"template hole {{{text}}} is neither a slot nor a field: {template!r}")
    arrays = [p for p in pieces if not isinstance(p, str)]
    if not arrays:
        return take_str(
            pa.array(["".join(p for p in pieces if isinstance(p, str))]), np.zeros(len(rows), dtype=np.int64)
        )
    if len(pieces) == 1:
        return arrays[0]
    return pc.binary_join_element_wise(*pieces, "")


def render(
    templates: Sequence[str],
    rows: np.ndarray,
    slots: Mapping[str, tuple[str, ...]],
    fields: Fields,
    rng: np.random.Generator,
) -> pa.Array:
    """Render one of ``templates`` (drawn uniformly) for each of ``rows``.

    ``rows`` are the message positions passed to the field functions; the result is aligned
    with ``rows``.
    """
    n = len(rows)
    if n == 0:
        return pa.array([], pa.string())
    if len(templates) == 1:
        return _render_one(templates[0], rows, slots, fields, rng)
    choice = rng.integers(0, len(templates), n)
    order = np.argsort(choice, kind="stable")
    counts = np.bincount(choice, minlength=len(templates))
    chunks: list[pa.Array] = []
    start = 0
    for j, c in enumerate(counts.tolist()):
        if c:
            sel = order[start : start + c]
            chunks.append(_render_one(templates[j], rows[sel], slots, fields, rng))
            start += c
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return pc.take(pa.concat_arrays(chunks), pa.array(inverse))


def format_amount(cents: np.ndarray, currency: str) -> pa.Array:
    """Money as text with thousands separators, e.g. ``$12,480.50`` (vectorised)."""
    cents = np.asarray(cents, dtype=np.int64)
    units = cents // 100
    frac = pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), 2, "0")
    thousands = units // 1000
    rest = pc.utf8_lpad(pc.cast(pa.array(units % 1000), pa.string()), 3, "0")
    big = pc.binary_join_element_wise(pc.cast(pa.array(thousands), pa.string()), ",", rest, "")
    small = pc.cast(pa.array(units), pa.string())
    whole = pc.if_else(pa.array(thousands > 0), big, small)
    return pc.binary_join_element_wise(currency, whole, ".", frac, "")
