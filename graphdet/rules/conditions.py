"""Rule conditions: validated trees compiled once into closures over a signal dict.

A condition is one of::

    all: [COND, ...]          every one holds            any: [COND, ...]   at least one
    not: COND                 it does not hold
    {signal: NAME}            the signal is true (non-zero)
    {signal: NAME, op: OP, value: V}   OP in == != > >= < <=; bool signals take == / != true/false
    {phrase: FAMILY, min: N}  at least N whole-word hits of a phrases.yaml family (min defaults to 1)
    {regex: PATTERN, field: FIELD}     an RE2 search (linear time: no backreferences, no lookaround)

Regexes are never run one by one: all patterns of a field go into one ``re2.Set`` that the
rule set runs once per message; a regex leaf then tests membership of its index.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field
from typing import Any

import re2

from graphdet.rules.errors import RuleError
from graphdet.rules.registry import SignalSpec, SignalValue
from graphdet.rules.yamlio import LineDict, line_of

__all__ = [
    "OPS", "REGEX_FIELDS", "CompileContext", "Predicate", "compile_condition", "condition_source", "re2_options",
]

Predicate = Callable[[Mapping[str, SignalValue], Container[int]], bool]

OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}
REGEX_FIELDS = ("subject", "body", "from_name", "from_addr", "reply_to", "urls", "attachments")
_LEAF_KEYS = {"signal": {"signal", "op", "value"}, "phrase": {"phrase", "min"}, "regex": {"regex", "field"}}


def re2_options() -> re2.Options:
    """RE2 options: errors are reported by us, not printed by the C++ library."""
    options = re2.Options()
    options.log_errors = False
    return options


@dataclass
class CompileContext:
    """What compiling a rule's condition needs and collects."""

    file: str
    rule_id: str | None
    signals: dict[str, SignalSpec]
    phrase_families: tuple[str, ...]
    base: int = 0  # index of this rule's first regex in the rule set
    regexes: list[tuple[str, str]] = field(default_factory=list)  # (field, pattern) of this rule

    def error(self, message: str, node: object, default: int | None = None) -> RuleError:
        return RuleError(message, file=self.file, line=line_of(node, default), rule_id=self.rule_id)


def compile_condition(node: object, cc: CompileContext, line: int | None = None) -> Predicate:
    """Validate ``node`` and return its predicate; raises :class:`RuleError` at the node's line."""
    if not isinstance(node, LineDict) or len(node) == 0:
        raise cc.error(f"a condition must be a mapping (all/any/not/signal/phrase/regex), got {node!r}", node, line)
    line = line_of(node, line)
    if len(node) == 1 and next(iter(node)) in ("all", "any", "not"):
        key, body = next(iter(node.items()))
        if key == "not":
            inner = compile_condition(body, cc, line)
            return lambda v, r: not inner(v, r)
        if not isinstance(body, list) or not body:
            raise cc.error(f"'{key}' needs a non-empty list of conditions", node, line)
        lines = getattr(body, "item_lines", [line] * len(body))
        parts = tuple(compile_condition(b, cc, ln) for b, ln in zip(body, lines, strict=True))
        return _all(parts) if key == "all" else _any(parts)
    kinds = [k for k in _LEAF_KEYS if k in node]
    if len(kinds) != 1:
        raise cc.error(f"cannot tell what condition {dict(node)!r} is: use exactly one of "
                       "all, any, not, signal, phrase, regex", node, line)
    kind = kinds[0]
    extra = set(node) - _LEAF_KEYS[kind]
    if extra:
        raise cc.error(f"unknown key(s) {sorted(map(str, extra))} in a {kind} condition "
                       f"(allowed: {', '.join(sorted(_LEAF_KEYS[kind]))})", node, line)
    if kind == "signal":
        return _signal_leaf(node, cc, line)
    if kind == "phrase":
        return _phrase_leaf(node, cc, line)
    return _regex_leaf(node, cc, line)


def _all(parts: tuple[Predicate, ...]) -> Predicate:
    if len(parts) == 1:
        return parts[0]

    def all_of(v: Mapping[str, SignalValue], r: Container[int]) -> bool:
        for p in parts:  # a plain loop: cheaper than all() over a generator
            if not p(v, r):
                return False
        return True

    return all_of


def _any(parts: tuple[Predicate, ...]) -> Predicate:
    if len(parts) == 1:
        return parts[0]

    def any_of(v: Mapping[str, SignalValue], r: Container[int]) -> bool:
        for p in parts:
            if p(v, r):
                return True
        return False

    return any_of


def _signal_leaf(node: LineDict, cc: CompileContext, line: int | None) -> Predicate:
    name = node["signal"]
    spec = cc.signals.get(name) if isinstance(name, str) else None
    if spec is None:
        raise cc.error(f"unknown signal {name!r}; valid signals: {', '.join(sorted(cc.signals))}", node, line)
    if "op" not in node and "value" not in node:
        return lambda v, r: bool(v[name])
    op_name, value = node.get("op", "=="), node.get("value")
    if op_name not in OPS:
        raise cc.error(f"bad comparison operator {op_name!r} for signal {name!r}; valid: {' '.join(OPS)}", node, line)
    if "value" not in node:
        raise cc.error(f"comparison on signal {name!r} has an 'op' but no 'value'", node, line)
    if spec.kind == "bool":
        if not isinstance(value, bool) or op_name not in ("==", "!="):
            raise cc.error(f"bad comparison: bool signal {name!r} takes only == / != with true or false, "
                           f"got {op_name} {value!r}", node, line)
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise cc.error(f"bad comparison: {spec.kind} signal {name!r} needs a number, got {value!r}", node, line)
    elif spec.kind == "int" and isinstance(value, float) and not value.is_integer():
        raise cc.error(f"bad comparison: int signal {name!r} compared with the fraction {value!r}", node, line)
    op = OPS[op_name]
    return lambda v, r: op(v[name], value)


def _phrase_leaf(node: LineDict, cc: CompileContext, line: int | None) -> Predicate:
    family, minimum = node["phrase"], node.get("min", 1)
    if family not in cc.phrase_families:
        raise cc.error(f"unknown phrase list {family!r}; phrases.yaml has: {', '.join(cc.phrase_families)}",
                       node, line)
    if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 1:
        raise cc.error(f"phrase 'min' must be a positive integer, got {minimum!r}", node, line)
    key = f"phrase_{family}"
    return lambda v, r: v[key] >= minimum


def _regex_leaf(node: LineDict, cc: CompileContext, line: int | None) -> Predicate:
    pattern, where = node["regex"], node.get("field", "body")
    if where not in REGEX_FIELDS:
        raise cc.error(f"unknown regex field {where!r}; valid: {', '.join(REGEX_FIELDS)}", node, line)
    if not isinstance(pattern, str) or not pattern:
        raise cc.error(f"regex must be a non-empty string, got {pattern!r}", node, line)
    try:
        re2.compile(pattern, options=re2_options())
    except re2.error as e:
        reason = e.args[0].decode() if e.args and isinstance(e.args[0], bytes) else str(e)
        raise cc.error(f"unsafe or invalid pattern {pattern!r}: RE2 cannot run it ({reason}); RE2 has no "
                       "backreferences or lookaround, which is what keeps matching linear-time", node, line) from None
    index = cc.base + len(cc.regexes)
    cc.regexes.append((where, pattern))
    return lambda v, r: index in r


def condition_source(node: Any, constants: list[object], next_regex: list[int]) -> str:
    """A condition that :func:`compile_condition` accepted, as one Python expression over ``v``
    (the signal values), ``r`` (the regex hits) and the names ``c0``, ``c1``, ... (the items
    of ``constants``, bound as globals of the generated code). The expression's truth value
    is the condition's outcome (a bare signal leaf is its value, tested for truth as
    ``bool`` would).

    The rule set joins these into one generated function (as :mod:`dataclasses` generates
    ``__init__``), which evaluates every rule without a Python call per condition node.
    Within ``all`` / ``any`` the parts that reach a regex leaf are tested after the others
    (every part is a side-effect-free test, so the outcome is the same; the message's RE2
    scan of a field is then skipped whenever the other parts decide the rule).
    Nothing from the rule files enters the source text: signal names and values go into
    ``constants`` and are referenced by those names. ``next_regex`` holds the index of the next
    regex leaf, numbered in the order :func:`compile_condition` numbers them.
    """

    def const(value: object) -> str:
        constants.append(value)
        return f"c{len(constants) - 1}"

    key = next(iter(node))
    if len(node) == 1 and key in ("all", "any"):
        plain: list[str] = []
        scans: list[str] = []  # parts that reach a regex leaf go last: the cheap tests may spare the scan
        for b in node[key]:
            first = next_regex[0]
            part = condition_source(b, constants, next_regex)
            (scans if next_regex[0] > first else plain).append(part)
        parts = plain + scans
        return parts[0] if len(parts) == 1 else "(" + (" and " if key == "all" else " or ").join(parts) + ")"
    if len(node) == 1 and key == "not":
        return f"(not {condition_source(node['not'], constants, next_regex)})"
    if "signal" in node:
        if "op" not in node and "value" not in node:
            return f"v[{const(node['signal'])}]"
        op = node.get("op", "==")
        assert op in OPS, op  # validated by compile_condition
        return f"(v[{const(node['signal'])}] {op} {const(node['value'])})"
    if "phrase" in node:
        return f"(v[{const('phrase_' + node['phrase'])}] >= {const(node.get('min', 1))})"
    index = next_regex[0]
    next_regex[0] += 1
    return f"({index} in r)"
