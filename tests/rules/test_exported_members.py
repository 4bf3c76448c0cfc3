"""The public API of graphdet.rules is exactly its __all__ (as tests/test_exported_members.py does)."""

import importlib

import pytest

MODULES = ["graphdet.rules", "graphdet.rules.context", "graphdet.rules.conditions", "graphdet.rules.engine",
           "graphdet.rules.errors", "graphdet.rules.lexicon", "graphdet.rules.registry", "graphdet.rules.ruleset",
           "graphdet.rules.signals", "graphdet.rules.text", "graphdet.rules.view", "graphdet.rules.yamlio",
           "graphdet.rules.extractors", "graphdet.rules.cli", "graphdet.rules.memo"]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist_and_public_names_are_exported(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(module.__all__)
    assert all(hasattr(module, n) for n in exported)
    public = {n for n, v in vars(module).items() if not n.startswith("_") and getattr(v, "__module__", None) == name}
    assert public <= exported, public - exported


def test_rule_error_is_a_graphdet_error() -> None:
    from graphdet.exceptions import GraphdetError
    from graphdet.rules import RuleError, RuleSetError

    assert issubclass(RuleError, GraphdetError) and issubclass(RuleSetError, RuleError)
