"""The tenant communication graph: build (engines), statistics (igraph), versioned snapshots.

The Spark engine (``graphdet[spark]``) is imported on demand: ``resolve_engine("spark")`` or
:mod:`graphdet.graph.spark`.

Members are imported on first use (PEP 562), except the rebuild job: its function
``rebuild`` shares its name with the module :mod:`graphdet.graph.rebuild`, and importing the
module later would rebind the package attribute to the module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from graphdet._lazy import lazy_members
from graphdet.graph.rebuild import RebuildConfig, RebuildResult, default_as_of, rebuild

if TYPE_CHECKING:
    from graphdet.graph.columns import COLUMNS, TABLES, table_schema
    from graphdet.graph.engine import GraphEngine, StatisticsEngine, Window, parse_as_of, resolve_engine
    from graphdet.graph.local import LocalEngine
    from graphdet.graph.snapshot import Snapshot, current_version, load_snapshot
    from graphdet.graph.stats import add_statistics, link_stats

__all__ = [
    "COLUMNS",
    "TABLES",
    "GraphEngine",
    "LocalEngine",
    "RebuildConfig",
    "RebuildResult",
    "Snapshot",
    "StatisticsEngine",
    "Window",
    "add_statistics",
    "current_version",
    "default_as_of",
    "link_stats",
    "load_snapshot",
    "parse_as_of",
    "rebuild",
    "resolve_engine",
    "table_schema",
]

_HOME = {
    "COLUMNS": "graphdet.graph.columns",
    "TABLES": "graphdet.graph.columns",
    "table_schema": "graphdet.graph.columns",
    "GraphEngine": "graphdet.graph.engine",
    "StatisticsEngine": "graphdet.graph.engine",
    "Window": "graphdet.graph.engine",
    "parse_as_of": "graphdet.graph.engine",
    "resolve_engine": "graphdet.graph.engine",
    "LocalEngine": "graphdet.graph.local",
    "Snapshot": "graphdet.graph.snapshot",
    "current_version": "graphdet.graph.snapshot",
    "load_snapshot": "graphdet.graph.snapshot",
    "add_statistics": "graphdet.graph.stats",
    "link_stats": "graphdet.graph.stats",
}


__getattr__, __dir__ = lazy_members(__name__, globals(), _HOME)
