"""Message-level signals and the rules engine (rules are data: configs/rules/*.yaml).

::

    message + TenantContext --extract--> Signals (flat {name: value}; row() for the combiner)
    configs/rules/*.yaml --load_rules--> RuleSet (compiled predicates, RE2 regex sets)
    RuleSet.evaluate(signals) -> ids of the rules that fire; hits_vector() -> NumPy bools
    RuleEngine.reload(folder) -> swaps in a new set only when it is clean (else keeps the last)
"""

from graphdet.rules.context import (
    EMPTY_CONTEXT,
    SnapshotContext,
    StaticContext,
    TenantContext,
    fold_name,
    load_static_context,
)
from graphdet.rules.engine import Evaluation, RuleEngine
from graphdet.rules.errors import RuleError, RuleIssue, RuleSetError
from graphdet.rules.extractors import prepare
from graphdet.rules.lexicon import Lexicon, load_lexicon
from graphdet.rules.registry import REGISTRY, SignalSpec, resolve_signal, signal
from graphdet.rules.ruleset import Rule, RuleSet, folder_version, lint, load_rules, rule_summary
from graphdet.rules.signals import (
    DEFAULT_RULES_DIR,
    SIGNAL_NAMES,
    Signals,
    extract,
    phrase_signal,
    signal_names,
)
from graphdet.rules.text import decode_domain, skeleton

__all__ = [
    "DEFAULT_RULES_DIR",
    "EMPTY_CONTEXT",
    "REGISTRY",
    "SIGNAL_NAMES",
    "Evaluation",
    "Lexicon",
    "Rule",
    "RuleEngine",
    "RuleError",
    "RuleIssue",
    "RuleSet",
    "RuleSetError",
    "SignalSpec",
    "Signals",
    "SnapshotContext",
    "StaticContext",
    "TenantContext",
    "decode_domain",
    "extract",
    "fold_name",
    "folder_version",
    "lint",
    "load_lexicon",
    "load_rules",
    "load_static_context",
    "phrase_signal",
    "prepare",
    "resolve_signal",
    "rule_summary",
    "signal",
    "signal_names",
    "skeleton",
]
