"""A strict YAML reader: safe types only, duplicate keys rejected, line numbers kept.

Every mapping comes back as a :class:`LineDict` (a ``dict`` with a ``line`` attribute, 1-based)
so that later validation can say where a rule, a condition or a key was written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node

from graphdet.rules.errors import RuleError

__all__ = ["LineDict", "LineList", "line_of", "read_yaml"]


class LineDict(dict[Any, Any]):
    """A mapping that remembers the line it started on (and each key's line)."""

    line: int = 0
    key_lines: dict[Any, int]


class LineList(list[Any]):
    """A sequence that remembers the line it started on (and each item's line)."""

    line: int = 0
    item_lines: list[int]


def line_of(value: object, default: int | None = None) -> int | None:
    line = getattr(value, "line", None)
    return line if isinstance(line, int) and line > 0 else default


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that raises on duplicate keys and records line numbers."""

    file = "<string>"

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        assert isinstance(node, MappingNode)
        self.flatten_mapping(node)
        out = LineDict()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                hash(key)
            except TypeError:
                raise RuleError(f"unhashable mapping key {key!r}", file=self.file, line=line) from None
            if key in out:
                raise RuleError(
                    f"duplicate key {key!r} (first written on line {out.key_lines[key]})", file=self.file, line=line
                )
            out[key] = self.construct_object(value_node, deep=True)
            out.key_lines[key] = line
        return out

    def construct_seq(self, node: Node, deep: bool = False) -> list[Any]:
        out = LineList(self.construct_object(child, deep=True) for child in node.value)
        out.line = node.start_mark.line + 1
        out.item_lines = [child.start_mark.line + 1 for child in node.value]
        return out


_StrictLoader.add_constructor("tag:yaml.org,2002:map", _StrictLoader.construct_mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:seq", _StrictLoader.construct_seq)


def read_yaml(path: str | Path) -> Any:
    """Parse one YAML file strictly; raises :class:`RuleError` with file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RuleError(f"cannot read: {e}", file=str(path)) from None
    loader = _StrictLoader(text)
    loader.file = str(path)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        raise RuleError(f"invalid YAML: {e.problem or e}", file=str(path), line=line) from None
    except yaml.YAMLError as e:
        raise RuleError(f"invalid YAML: {e}", file=str(path)) from None
    finally:
        loader.dispose()
