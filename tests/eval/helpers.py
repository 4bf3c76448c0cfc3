"""Hand-made chronicles (decisions written through the real DecisionLog) and the served deployment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from graphdet.eval import load_labels, load_stack
from graphdet.eval.stack import DecisionStack
from graphdet.schema import Category, Decision, Verdict
from serving.chronicle import DecisionLog, read_decisions

DAY1 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
DAY2 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    message_id: str
    tenant: str
    received_at: datetime
    verdict: str
    category: str
    hits: tuple[str, ...] = ()
    features: Sequence[float] | None = None
    score: float = 0.5
    versions: tuple[tuple[str, str], ...] = field(default=(("features", "f-test"),))


def chronicle(folder: Path, rows: Sequence[Row]) -> pa.Table:
    """Append ``rows`` to a DecisionLog in ``folder`` and read them back."""
    with DecisionLog(folder) as log:
        for r in rows:
            d = Decision(r.message_id, r.tenant, Verdict(r.verdict), Category(r.category), r.score,
                         rule_hits=r.hits, versions=r.versions)
            log.append(d, received_at=r.received_at, decided_at=r.received_at,
                       features=None if r.features is None else np.asarray(r.features, dtype=float))
    return read_decisions(folder)


def labels(pairs: dict[str, str]) -> pa.Table:
    return pa.table({"message_id": list(pairs), "category": list(pairs.values())})


@dataclass(frozen=True)
class Served:
    """``log``: labelled message log; ``artifacts``: what training wrote (read-only: copy before
    changing); ``chronicle``: every message after the training cut decided by a DecisionEngine;
    ``report``: the training report."""

    log: Path
    artifacts: Path
    chronicle: Path
    report: dict[str, object]

    @property
    def cut(self) -> datetime:
        return datetime.fromisoformat(str(self.report["cut"]))

    def decisions(self) -> pa.Table:
        return read_decisions(self.chronicle)

    def labels(self) -> pa.Table:
        return load_labels(self.log)

    def stack(self) -> DecisionStack:
        return load_stack(self.artifacts)
