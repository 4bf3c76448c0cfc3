"""graphdet's exceptions: one hierarchy, so callers can catch exactly what they mean.

::

    GraphdetError
    ├── ConfigError            a config file (tenants, pipeline) is missing, malformed or invalid
    ├── IngestError            an input cannot be read at all (not one bad record: those are
    │                          quarantined, never raised)
    ├── MessageLogError        a message log folder is missing, incomplete or of another schema
    └── GeneratorError         the synthetic generator was given impossible options

Every message names the offending value and where it came from (file, line, column, option).
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "GeneratorError",
    "GraphdetError",
    "IngestError",
    "MessageLogError",
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
