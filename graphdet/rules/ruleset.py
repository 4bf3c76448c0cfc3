"""Rule files -> a compiled :class:`RuleSet`; strict loading that reports every problem.

A rules folder holds ``phrases.yaml``, ``lists.yaml`` (see :mod:`graphdet.rules.lexicon`),
``rule.schema.json`` (for editors) and one rule family per other ``*.yaml`` file::

    family: bec                      # optional; defaults to the file name
    description: ...
    rules:
      - id: BEC_EXEC_NAME_FREEMAIL   # stable UPPER_SNAKE, unique across the folder
        description: ...
        category: bec                # a graphdet.schema.Category value
        severity: high               # low | medium | high | critical
        hard: false                  # true: the policy may force a verdict on a hit
        falsepositives: [...]        # optional, as in Sigma
        condition: {all: [...]}      # see graphdet.rules.conditions
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import re2

from graphdet.rules.conditions import (
    REGEX_FIELDS,
    CompileContext,
    Predicate,
    compile_condition,
    condition_source,
    re2_options,
)
from graphdet.rules.errors import RuleError, RuleIssue, RuleSetError
from graphdet.rules.lexicon import Lexicon, load_lexicon
from graphdet.rules.registry import REGISTRY
from graphdet.rules.signals import Signals, phrase_specs
from graphdet.rules.yamlio import LineDict, line_of, read_yaml
from graphdet.schema import Category, Message

__all__ = ["DATA_FILES", "SEVERITIES", "Rule", "RuleSet", "folder_version", "lint", "load_rules", "rule_summary"]

logger = logging.getLogger(__name__)

SEVERITIES = ("low", "medium", "high", "critical")
DATA_FILES = frozenset({"phrases.yaml", "lists.yaml"})
_ID = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_RULE_KEYS = {"id", "description", "category", "severity", "hard", "falsepositives", "condition"}
_REQUIRED = ("id", "description", "category", "severity", "condition")


@dataclass(frozen=True)
class Rule:
    """One compiled rule; ``condition`` keeps the source tree for explanations."""

    id: str
    description: str
    category: Category
    severity: str
    hard: bool
    falsepositives: tuple[str, ...]
    family: str
    file: str
    line: int
    condition: Any = field(repr=False)
    predicate: Predicate = field(repr=False, compare=False)


def _field_text(message: Message, where: str) -> str:
    if where == "subject":
        return message.subject
    if where == "body":
        return message.body
    if where == "from_name":
        return message.from_.name
    if where == "from_addr":
        return message.from_.addr
    if where == "reply_to":
        return message.reply_to.addr if message.reply_to else ""
    if where == "urls":
        return "\n".join(u.url for u in message.urls)
    return "\n".join(a.name for a in message.attachments)


class _LazyRegexHits:
    """``index in hits``: runs a field's RE2 set the first time one of its regexes is asked for."""

    __slots__ = ("_done", "_field_of", "_hits", "_message", "_sets")

    def __init__(self, message: Message, sets: dict[str, tuple[Any, tuple[int, ...]]], field_of: tuple[str, ...]):
        self._message = message
        self._sets = sets
        self._field_of = field_of
        self._hits: set[int] = set()
        self._done: set[str] = set()

    def __contains__(self, index: object) -> bool:
        if not isinstance(index, int):
            return False
        where = self._field_of[index]
        if where not in self._done:
            self._done.add(where)
            s, indexes = self._sets[where]
            found = s.Match(_field_text(self._message, where))
            if found:
                self._hits.update(indexes[j] for j in found)
        return index in self._hits


class RuleSet:
    """Compiled rules plus the lexicon their signals need. Build it with :func:`load_rules`."""

    def __init__(self, rules: tuple[Rule, ...], lexicon: Lexicon, regexes: list[tuple[str, str]], source: str) -> None:
        self.rules = rules
        self.lexicon = lexicon
        self.source = source
        self.version = ""  # set by load_rules: see folder_version
        self.ids = tuple(r.id for r in rules)
        self._by_id = {r.id: r for r in rules}
        self._sets: dict[str, tuple[Any, tuple[int, ...]]] = {}
        self._field_of = tuple(where for where, _ in regexes)
        by_field: dict[str, list[int]] = {}
        for i, (where, _) in enumerate(regexes):
            by_field.setdefault(where, []).append(i)
        for where in REGEX_FIELDS:
            indexes = by_field.get(where)
            if not indexes:
                continue
            s = re2.Set.SearchSet(re2_options())
            for i in indexes:
                s.Add(regexes[i][1])
            s.Compile()
            self._sets[where] = (s, tuple(indexes))
        self._evaluate, self._vector = _generate(rules, str(source))

    def __len__(self) -> int:
        return len(self.rules)

    def __getitem__(self, rule_id: str) -> Rule:
        return self._by_id[rule_id]

    def regex_hits(self, message: Message) -> frozenset[int]:
        """Indexes of all regex leaves that match ``message`` (each field scanned once by RE2)."""
        lazy = _LazyRegexHits(message, self._sets, self._field_of)
        return frozenset(i for i in range(len(self._field_of)) if i in lazy)

    def evaluate(self, signals: Signals) -> list[str]:
        """Ids of the rules that fire, in rule order.

        A field is scanned by its RE2 set only when some rule's condition reaches one of its
        regex leaves (``all`` / ``any`` short-circuit, and test their regex parts last: see
        :func:`~graphdet.rules.conditions.condition_source`).
        """
        return self._evaluate(signals.values, _LazyRegexHits(signals.message, self._sets, self._field_of))

    def hits_vector(self, signals: Signals) -> npt.NDArray[np.bool_]:
        """One bool per rule, in :attr:`ids` order (combiner features)."""
        hits = self._vector(signals.values, _LazyRegexHits(signals.message, self._sets, self._field_of))
        return np.array(hits, dtype=np.bool_).reshape(len(self.rules))

    def evaluate_closures(self, signals: Signals) -> list[str]:
        """:meth:`evaluate` through each rule's compiled predicate (the reference semantics
        the generated evaluator is tested against)."""
        regex = _LazyRegexHits(signals.message, self._sets, self._field_of)
        values = signals.values
        return [r.id for r in self.rules if r.predicate(values, regex)]


def _generate(rules: tuple[Rule, ...], source: str) -> tuple[Callable[..., list[str]], Callable[..., tuple[bool, ...]]]:
    """One Python function that evaluates every rule (see :func:`condition_source`), and one
    that returns every rule's outcome; about 3x faster than calling the nested closures."""
    constants: list[object] = []
    next_regex = [0]
    exprs = [condition_source(r.condition, constants, next_regex) for r in rules]
    ids = tuple(r.id for r in rules)
    lines = ["def evaluate(v, r):", "    out = []"]
    lines += [f"    if {e}:\n        out.append(ids[{i}])" for i, e in enumerate(exprs)]
    lines += ["    return out", "", "def vector(v, r):", "    return (" + "".join(f"bool({e}), " for e in exprs) + ")"]
    namespace: dict[str, Any] = {f"c{i}": value for i, value in enumerate(constants)}
    namespace["ids"] = ids
    exec(compile("\n".join(lines), f"<rules from {source}>", "exec"), namespace)
    return namespace["evaluate"], namespace["vector"]


def _compile_rule(
    node: object, file: str, family: str, seen: dict[str, str], lexicon: Lexicon,
    regexes: list[tuple[str, str]], issues: list[RuleIssue],
) -> Rule | None:
    rule_id = node.get("id") if isinstance(node, dict) else None
    rid = rule_id if isinstance(rule_id, str) else None
    line = line_of(node, 1) or 1

    def bad(message: str, at: int | None = None) -> None:
        issues.append(RuleIssue(file, at or line, message, rid))

    if not isinstance(node, LineDict):
        bad(f"a rule must be a mapping, got {node!r}")
        return None
    kl = node.key_lines
    for key in sorted(set(node) - _RULE_KEYS, key=str):
        bad(f"unknown rule key {key!r}; allowed: {', '.join(sorted(_RULE_KEYS))}", kl[key])
    missing = [k for k in _REQUIRED if k not in node]
    if missing:
        bad(f"rule is missing {', '.join(missing)}")
        return None
    ok = True
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        bad(f"rule id {rule_id!r} must be UPPER_SNAKE_CASE with at least two parts", kl["id"])
        ok = False
    elif rule_id in seen:
        bad(f"duplicate rule id {rule_id!r} (first defined at {seen[rule_id]})", kl["id"])
        ok = False
    else:
        seen[rule_id] = f"{file}:{kl['id']}"
    if not isinstance(node["description"], str) or not node["description"].strip():
        bad("description must be a non-empty string", kl["description"])
        ok = False
    try:
        category = Category(node["category"])
    except ValueError:
        bad(f"unknown category {node['category']!r}; valid: {', '.join(c.value for c in Category)}", kl["category"])
        ok = False
    if node["severity"] not in SEVERITIES:
        bad(f"unknown severity {node['severity']!r}; valid: {', '.join(SEVERITIES)}", kl["severity"])
        ok = False
    hard = node.get("hard", False)
    if not isinstance(hard, bool):
        bad(f"'hard' must be true or false, got {hard!r}", kl.get("hard"))
        ok = False
    fps = node.get("falsepositives", [])
    fps = [fps] if isinstance(fps, str) else fps
    if not isinstance(fps, list) or not all(isinstance(f, str) for f in fps):
        bad("'falsepositives' must be a string or a list of strings", kl.get("falsepositives"))
        ok = False
    signals = {**REGISTRY, **phrase_specs(lexicon)}
    cc = CompileContext(file, rid, signals, lexicon.families, base=len(regexes))
    try:
        predicate = compile_condition(node["condition"], cc, kl["condition"])
    except RuleError as e:
        issues.append(e.issue)
        return None
    if not ok:
        return None
    regexes.extend(cc.regexes)
    return Rule(rule_id, node["description"].strip(), category, node["severity"], hard, tuple(fps), family,  # type: ignore[arg-type]
                file, line, node["condition"], predicate)


def _load_file(
    path: Path, lexicon: Lexicon, seen: dict[str, str], regexes: list[tuple[str, str]], issues: list[RuleIssue]
) -> list[Rule]:
    file = str(path)
    try:
        data = read_yaml(path)
    except RuleError as e:
        issues.append(e.issue)
        return []
    if not isinstance(data, LineDict) or "rules" not in data:
        issues.append(RuleIssue(file, line_of(data, 1), "a rule file is a mapping with a 'rules' list"))
        return []
    for key in sorted(set(data) - {"family", "description", "rules"}, key=str):
        issues.append(RuleIssue(file, data.key_lines[key], f"unknown top-level key {key!r}; "
                                "allowed: family, description, rules"))
    family = data.get("family", path.stem)
    if family != path.stem:
        issues.append(RuleIssue(file, data.key_lines.get("family"), f"family {family!r} must match the file name "
                                f"{path.stem!r} (one family per file)"))
    items = data["rules"]
    if not isinstance(items, list) or not items:
        issues.append(RuleIssue(file, data.key_lines["rules"], "'rules' must be a non-empty list"))
        return []
    rules = []
    for node in items:
        rule = _compile_rule(node, file, path.stem, seen, lexicon, regexes, issues)
        if rule is not None:
            rules.append(rule)
    return rules


def _rule_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.yaml") if p.name not in DATA_FILES)


def _collect(folder: Path, files: Iterable[Path] | None = None) -> tuple[RuleSet | None, list[RuleIssue]]:
    issues: list[RuleIssue] = []
    if not folder.is_dir():
        return None, [RuleIssue(str(folder), None, "rules folder does not exist")]
    try:
        lexicon = load_lexicon(folder)
    except RuleError as e:
        return None, [e.issue]
    paths = list(files) if files is not None else _rule_files(folder)
    if not paths:
        return None, [RuleIssue(str(folder), None, "no rule files (*.yaml besides phrases.yaml and lists.yaml)")]
    seen: dict[str, str] = {}
    regexes: list[tuple[str, str]] = []
    rules: list[Rule] = []
    for path in paths:
        rules.extend(_load_file(path, lexicon, seen, regexes, issues))
    if issues:
        return None, issues
    return RuleSet(tuple(rules), lexicon, regexes, str(folder)), []


def load_rules(folder: str | Path) -> RuleSet:
    """Load and compile a rules folder; raises :class:`RuleSetError` listing every problem."""
    ruleset, issues = _collect(Path(folder))
    if ruleset is None:
        raise RuleSetError(issues)
    ruleset.version = folder_version(folder)
    logger.info("loaded %d rules from %s (version %s)", len(ruleset), folder, ruleset.version)
    return ruleset


def folder_version(folder: str | Path) -> str:
    """``r-`` + a digest of every YAML file of a rules folder (rules, phrases, lists): any change
    to a condition, phrase or list gives a new version, which each Decision records."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).glob("*.yaml")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return "r-" + digest.hexdigest()[:12]


def lint(paths: Iterable[str | Path]) -> list[RuleIssue]:
    """Every problem in the given rules folders and rule files (empty: all good).

    A rule file is checked with the ``phrases.yaml``/``lists.yaml`` of its own folder; rule ids
    must be unique within each folder.
    """
    groups: dict[Path, list[Path] | None] = {}
    for p in map(Path, paths):
        if p.is_dir():
            groups[p] = None
        else:
            folder = p.parent
            if p.name in DATA_FILES:
                groups.setdefault(folder, [])
                continue
            current = groups.setdefault(folder, [])
            if current is not None and p not in current:
                current.append(p)
    issues: list[RuleIssue] = []
    for folder, files in groups.items():
        if files is not None and not files:  # only phrases.yaml / lists.yaml were named
            issues.extend(_lexicon_issues(folder))
        else:
            issues.extend(_collect(folder, files)[1])
    return issues


def _lexicon_issues(folder: Path) -> list[RuleIssue]:
    try:
        load_lexicon(folder)
    except RuleError as e:
        return [e.issue]
    return []


def rule_summary(ruleset: RuleSet) -> Mapping[str, int]:
    """Rules per family."""
    out: dict[str, int] = {}
    for r in ruleset.rules:
        out[r.family] = out.get(r.family, 0) + 1
    return out
