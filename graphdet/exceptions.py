"""graphdet's exceptions: one hierarchy, so callers can catch exactly what they mean.

::

    GraphdetError
    ├── ConfigError            a config file (tenants, pipeline) is missing, malformed or invalid
    ├── IngestError            an input cannot be read at all (not one bad record: those are
    │                          quarantined, never raised)
    ├── MessageLogError        a message log folder is missing, incomplete or of another schema
    ├── SnapshotError          a graph snapshot is missing, corrupt (names the file) or of
    │   │                      another schema version
    │   └── NothingToBuild     the rebuild window holds no messages
    ├── GeneratorError         the synthetic generator was given impossible options
    ├── NotFittedError         a combiner used before fit/load   (graphdet.combiner.model)
    ├── ChronicleError         the decision log cannot be written, recovered or queried
    │                                                              (serving.chronicle)
    └── RuleError              a rule, phrase list or rules folder is invalid, with file and
        │                      line                               (graphdet.rules.errors)
        └── RuleSetError       every problem of a rules folder at once (``issues``)

Every message names the offending value and where it came from (file, line, column, option).
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "GeneratorError",
    "GraphdetError",
    "IngestError",
    "MessageLogError",
    "NothingToBuild",
    "SnapshotError",
]


class GraphdetError(Exception):
    """Root of every error graphdet raises on purpose."""


class ConfigError(GraphdetError):
    """A configuration file or option is invalid; the message says which and where."""


class IngestError(GraphdetError):
    """An input path cannot be read as any supported format."""


class MessageLogError(GraphdetError):
    """A message log folder is missing, incomplete, or has an incompatible schema."""


class GeneratorError(GraphdetError):
    """The synthetic generator cannot honour its options."""


class SnapshotError(GraphdetError):
    """A snapshot is missing, corrupt or unreadable; the message names the file."""


class NothingToBuild(SnapshotError):
    """The rebuild window holds no messages, so there is no graph to publish."""
