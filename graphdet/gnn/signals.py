"""GNN signals from precomputed arrays: NumPy only, no torch in the serving hot path.

For every node row (addresses in ``nodes`` order, then domains in ``domains`` order, then the
*unknown* row) a snapshot holds:

- ``src`` / ``dst``: the decoder's projections, so plausibility(u -> v) = sigmoid(src[u] . dst[v] + b)
- ``emb``: the L2-normalised embedding
- ``corr``: the L2-normalised mean embedding of each address's correspondents (either direction)

A sender that is not a node of the tenant falls back to its domain's row when the domain is
known, else to the unknown row, and the signal says it is a fallback.
"""

from __future__ import annotations

import io
import math
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["ARRAY_NAMES", "GNNIndex", "GNNSignal", "load_arrays", "save_array"]

ARRAY_NAMES = ("src", "dst", "emb", "corr")

PAIR_CACHE_SIZE = 100_000
"""(plausibility, similarity) pairs a :class:`GNNIndex` keeps (~17 MB when full): mail repeats
sender -> recipient pairs, and a pair's numbers never change for one snapshot's arrays."""

_EDGE_CHUNK = 65_536  # snapshot edges whose values are computed per vectorised step (bounds the temporaries)


def save_array(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


def load_arrays(folder: Path) -> dict[str, np.ndarray]:
    return {name: np.load(folder / f"gnn_{name}.npy", allow_pickle=False) for name in ARRAY_NAMES}


@dataclass(frozen=True, slots=True)
class GNNSignal:
    plausibility: float  # probability that the sender -> recipient edge is a normal one
    similarity: float  # cosine of the sender to the recipient's usual correspondents
    fallback: bool  # the sender had no node of its own (domain or unknown row used)


def _summary(pairs: list[tuple[float, float]], k: int) -> tuple[float, float, float]:
    """(lowest plausibility, mean plausibility, mean similarity): plain left-to-right sums."""
    plausibility = [v[0] for v in pairs]
    return min(plausibility), sum(plausibility) / k, sum([v[1] for v in pairs]) / k


class GNNIndex:
    """One tenant's GNN arrays with the row lookups serving needs."""

    def __init__(self, arrays: dict[str, np.ndarray], bias: float, n_addr: int, domains: list[str]) -> None:
        # C order, always: a lone pair is computed from row slices and a batch from gathered
        # (C-ordered) rows, which give the same bits only when the slices are C-contiguous too
        self.src = np.ascontiguousarray(arrays["src"])
        self.dst = np.ascontiguousarray(arrays["dst"])
        self.emb = np.ascontiguousarray(arrays["emb"])
        self.corr = np.ascontiguousarray(arrays["corr"])
        self.bias = float(bias)
        self.n_addr = n_addr
        self.domain_row = {d: n_addr + i for i, d in enumerate(domains)}
        self.unknown_row = n_addr + len(domains)
        self._pairs: dict[int, tuple[float, float]] = {}  # sender row << 32 | recipient node
        # the snapshot's own edges, computed once (attach_edges): CSR rows by sender node
        self._edge_ptr: memoryview | None = None
        self._edge_dst = memoryview(b"")
        self._edge_plaus = memoryview(b"")
        self._edge_sim = memoryview(b"")
        self._edge_arrays: tuple[np.ndarray, ...] = ()
        if not len(self.src) == len(self.dst) == len(self.emb) == self.unknown_row + 1:
            raise ValueError(
                f"GNN arrays have {len(self.src)} rows, expected {self.unknown_row + 1} "
                f"({n_addr} addresses + {len(domains)} domains + 1 unknown)"
            )

    def attach_edges(self, ptr: np.ndarray, dst: np.ndarray) -> None:
        """Compute the numbers of every snapshot edge (``ptr``/``dst``: CSR rows of recipient
        nodes by sender node, sorted within a row) once, when the snapshot is loaded: most mail
        follows known edges, so a decision then looks its pairs up instead of computing them,
        from the first message after a load or a hot swap on. The same numbers as computing a
        pair alone (each pair's dot product is its own), ~16 bytes an edge."""
        n = len(ptr) - 1
        if n > self.n_addr:
            raise ValueError(f"edge rows for {n} senders, but the GNN arrays have {self.n_addr} addresses")
        rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(ptr))
        plaus = np.empty(len(dst))
        sim = np.empty(len(dst))
        for start in range(0, len(dst), _EDGE_CHUNK):
            part = slice(start, start + _EDGE_CHUNK)
            plaus[part], sim[part] = self._values(rows[part], np.asarray(dst[part], dtype=np.int64))
        self._edge_arrays = (ptr, dst, plaus, sim)  # the memoryviews below read these
        self._edge_ptr, self._edge_dst = ptr.data, dst.data
        self._edge_plaus, self._edge_sim = plaus.data, sim.data

    def _edge(self, row: int, node: int) -> tuple[float, float] | None:
        """The precomputed numbers of snapshot edge ``row -> node`` (None: not an edge)."""
        ptr = self._edge_ptr
        if ptr is None or row >= len(ptr) - 1:
            return None
        end = ptr[row + 1]
        j = bisect_left(self._edge_dst, node, ptr[row], end)
        if j < end and self._edge_dst[j] == node:
            return self._edge_plaus[j], self._edge_sim[j]
        return None

    def sender_row(self, node: int | None, domain: str) -> tuple[int, bool]:
        """The row representing a sender, and whether it is a fallback row."""
        if node is not None and 0 <= node < self.n_addr:
            return node, False
        return self.domain_row.get(domain, self.unknown_row), True

    def signal(self, sender_node: int | None, sender_domain: str, recipient_node: int) -> GNNSignal:
        row, fallback = self.sender_row(sender_node, sender_domain)
        logit = float(self.src[row] @ self.dst[recipient_node]) + self.bias
        similarity = float(self.emb[row] @ self.corr[recipient_node]) if recipient_node < self.n_addr else 0.0
        return GNNSignal(1.0 / (1.0 + math.exp(-logit)), similarity, fallback)

    def message_features(self, requests: list[tuple[int, list[int]]]) -> list[tuple[float, float, float]]:
        """(lowest plausibility, mean plausibility, mean similarity) of each message's
        ``(sender row, recipient nodes)`` pairs, all messages in one vectorised pass.

        One message or a batch of them give the same numbers to the bit (each pair's dot
        product is computed alone, and the per-message sums are plain left-to-right sums), so
        ``decide`` and ``decide_batch`` and training replay agree. Pairs seen before come from
        a bounded cache (the same numbers: a pair's do not depend on the batch it was
        computed in). A message without recipient nodes gets NaNs.
        """
        cache = self._pairs
        got: dict[int, tuple[float, float] | None] = {}
        for row, targets in requests:
            for t in targets:
                key = row << 32 | t
                got[key] = cache.get(key)
        missing = [key for key, v in got.items() if v is None]
        if missing:
            got.update(self._compute(missing))
        out: list[tuple[float, float, float]] = []
        for row, targets in requests:
            k = len(targets)
            if not k:
                out.append((math.nan, math.nan, math.nan))
                continue
            pairs = [got[row << 32 | t] or (math.nan, math.nan) for t in targets]  # all filled above
            out.append(_summary(pairs, k))
        return out

    def message_feature(self, row: int, targets: list[int]) -> tuple[float, float, float]:
        """:meth:`message_features` of one message (the same numbers, less bookkeeping)."""
        k = len(targets)
        if not k:
            return math.nan, math.nan, math.nan
        cache = self._pairs
        keys = [row << 32 | t for t in targets]
        pairs = [cache.get(key) for key in keys]
        if None in pairs:
            computed = self._compute(list(dict.fromkeys(key for key, v in zip(keys, pairs, strict=True) if v is None)))
            pairs = [v if v is not None else computed[key] for key, v in zip(keys, pairs, strict=True)]
        return _summary(pairs, k)  # type: ignore[arg-type]  # (no None left)

    def _compute(self, missing: list[int]) -> dict[int, tuple[float, float]]:
        """(plausibility, similarity) of distinct uncached pairs: snapshot edges looked up, the
        rest computed in one vectorised pass; all of them into the cache."""
        cache = self._pairs
        out: dict[int, tuple[float, float]] = {}
        todo = []
        for key in missing:
            known = self._edge(key >> 32, key & 0xFFFFFFFF)
            if known is None:
                todo.append(key)
            else:
                out[key] = known
        if len(todo) == 1:  # one message's one first contact: row slices (views), no index arrays
            key = todo[0]
            r, c = key >> 32, key & 0xFFFFFFFF
            out[key] = (self._plausibility(self.src[r : r + 1], self.dst[c : c + 1]).item(),
                        self._similarity(self.emb[r : r + 1], self.corr[c : c + 1]).item())
        elif todo:
            rows = np.array([key >> 32 for key in todo], dtype=np.int64)
            cols = np.array([key & 0xFFFFFFFF for key in todo], dtype=np.int64)
            probs, sims = self._values(rows, cols)
            out.update(zip(todo, zip(probs.tolist(), sims.tolist(), strict=True), strict=True))
        if len(cache) + len(missing) > PAIR_CACHE_SIZE:
            cache.clear()  # crude but bounded; refilled by the pairs that recur
        cache.update(out)
        return out

    def _values(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Plausibility and similarity of pairs (sender rows, recipient nodes), as float64
        (one pair of gathered arrays alive at a time: a load's edges are 65,536 rows a chunk)."""
        return self._plausibility(self.src[rows], self.dst[cols]), self._similarity(self.emb[rows], self.corr[cols])

    # Each takes the pairs' rows gathered (one pair per row). Each row's dot product is its own,
    # so gathered copies and row slices of the C-ordered arrays agree to the bit.
    def _plausibility(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        logits = np.einsum("ij,ij->i", src, dst).astype(np.float64) + self.bias
        probs: np.ndarray = 1.0 / (1.0 + np.exp(-logits))
        return probs

    @staticmethod
    def _similarity(emb: np.ndarray, corr: np.ndarray) -> np.ndarray:
        sims: np.ndarray = np.einsum("ij,ij->i", corr, emb).astype(np.float64)
        return sims

    def plausibility_batch(self, sender_rows: np.ndarray, recipient_nodes: np.ndarray) -> np.ndarray:
        logits = np.einsum("ij,ij->i", self.src[sender_rows], self.dst[recipient_nodes]) + self.bias
        probs: np.ndarray = 1.0 / (1.0 + np.exp(-logits))
        return probs
