"""The rebuild window and the engine interface every graph-building engine implements.

An engine reads the message log and produces the *base tables* for all tenants (nodes,
edges, domains, domain_edges, display_names: the columns of :mod:`.columns` that are not
graph statistics) as pandas DataFrames with a ``tenant`` column. Statistics are computed
per tenant, by the same igraph code whatever the engine
(:func:`graphdet.graph.stats.add_statistics`), so the local and Spark engines agree by
construction on everything but the aggregation. The rebuild job runs that code itself,
tenant after tenant, unless the engine is a :class:`StatisticsEngine` (the Spark engine):
then the engine runs the same function next to its data and returns finished tables.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable

import pandas as pd

from graphdet.exceptions import ConfigError

__all__ = ["BASE_COLUMNS", "ENGINES", "GraphEngine", "StatisticsEngine", "Window", "parse_as_of", "resolve_engine"]


@dataclass(frozen=True, slots=True)
class Window:
    """Messages with ``start <= received_at < as_of`` build the graph."""

    as_of: datetime
    lookback_days: int

    def __post_init__(self) -> None:
        if self.as_of.tzinfo is None:
            raise ConfigError(f"as_of {self.as_of} must be timezone-aware (UTC)")
        if self.lookback_days < 1:
            raise ConfigError(f"lookback_days must be at least 1, got {self.lookback_days}")

    @property
    def start(self) -> datetime:
        return self.as_of - timedelta(days=self.lookback_days)


def parse_as_of(text: str) -> datetime:
    """``2026-02-01`` (midnight UTC) or a full ISO 8601 time; naive means UTC."""
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--as-of {text!r} is not a date (YYYY-MM-DD) or ISO 8601 time") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


# The columns each engine must produce (statistics columns are added later).
BASE_COLUMNS: dict[str, list[str]] = {
    "nodes": ["tenant", "node", "addr", "domain", "is_internal", "first_seen", "last_seen",
              "msgs_sent", "msgs_received", "display_names"],
    "edges": ["tenant", "src", "dst", "src_node", "dst_node", "msgs", "msgs_to", "msgs_cc",
              "first_seen", "last_seen", "active_days", "replies", "reverse_msgs"],
    "domains": ["tenant", "domain", "is_internal", "first_seen", "last_seen", "addresses",
                "msgs_sent", "msgs_received"],
    "domain_edges": ["tenant", "src_domain", "dst_domain", "msgs", "pairs", "first_seen", "last_seen"],
    "display_names": ["tenant", "name_key", "name", "addr", "msgs", "first_seen", "last_seen"],
}


class GraphEngine(Protocol):
    """Builds the base tables of every tenant from a message log folder."""

    name: str

    def build(self, log_dir: Path, window: Window) -> dict[str, pd.DataFrame]:
        """Return ``{table name: DataFrame}`` with :data:`BASE_COLUMNS`, sorted by tenant
        then the table's key, for messages inside ``window``."""
        ...


@runtime_checkable
class StatisticsEngine(GraphEngine, Protocol):
    """An engine that also computes the per-tenant statistics where its data is."""

    def build_with_statistics(
        self, log_dir: Path, window: Window, *, seed: int
    ) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, float]]]:
        """Return every table with all its :data:`~graphdet.graph.columns.COLUMNS` (statistics
        computed by :func:`~graphdet.graph.stats.add_statistics` with Leiden ``seed``), sorted
        as :meth:`GraphEngine.build` sorts them, and ``{tenant: graph summary}``."""
        ...


ENGINES = ("local", "spark")


def resolve_engine(name: str, **options: object) -> GraphEngine:
    """The engine called ``name`` (PyG-resolver style: an unknown name lists the choices).

    ``options`` go to the engine's constructor (``LocalEngine(threads=...)``,
    ``SparkEngine(master=..., salt_buckets=..., conf=...)``).
    """
    if name == "local":
        from graphdet.graph.local import LocalEngine

        return LocalEngine(**options)  # type: ignore[arg-type]
    if name == "spark":
        if importlib.util.find_spec("pyspark") is None:
            raise ConfigError(
                "engine 'spark' needs pyspark, which is not installed: pip install pyspark (graphdet's "
                "'spark' extra), and a Java 17 runtime"
            )
        from graphdet.graph.spark import SparkEngine

        return SparkEngine(**options)  # type: ignore[arg-type]
    raise ConfigError(f"could not resolve engine {name!r} among choices {list(ENGINES)}")
