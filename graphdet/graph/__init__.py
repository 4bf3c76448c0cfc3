"""The tenant communication graph: build (engines), statistics (igraph), versioned snapshots."""

from graphdet.graph.columns import COLUMNS, TABLES, table_schema
from graphdet.graph.engine import GraphEngine, Window, parse_as_of, resolve_engine
from graphdet.graph.local import LocalEngine
from graphdet.graph.rebuild import RebuildConfig, RebuildResult, default_as_of, rebuild
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
