"""Fixtures for the graph tests: a rebuild helper with the test window and one DuckDB thread."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from graphdet.graph import LocalEngine, RebuildConfig, RebuildResult, rebuild

from .strategies import AS_OF, LOOKBACK

# the graph layer alone: no GNN training (it has its own tests), when the rebuild offers it
NO_GNN: dict[str, Any] = {"gnn": False} if "gnn" in RebuildConfig.__dataclass_fields__ else {}


def run_rebuild(log: Path, out: Path, **kw: Any) -> RebuildResult:
    kw.setdefault("as_of", AS_OF)
    kw.setdefault("config", RebuildConfig(lookback_days=LOOKBACK, **NO_GNN))
    kw.setdefault("engine", LocalEngine(threads=1))
    return rebuild(log, out, **kw)


@pytest.fixture
def build() -> Callable[..., RebuildResult]:
    return run_rebuild
