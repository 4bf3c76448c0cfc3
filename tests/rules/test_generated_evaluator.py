"""The generated rule evaluator agrees with the compiled closures on any signal values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from graphdet.rules import REGISTRY, RuleSet, StaticContext, extract, load_rules
from graphdet.rules.signals import Signals, signal_names

from .conftest import GOLDEN, golden_message


def _values(ruleset: RuleSet) -> st.SearchStrategy[dict[str, Any]]:
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for name in signal_names(ruleset.lexicon):
        kind = REGISTRY[name].kind if name in REGISTRY else "int"
        if kind == "bool":
            fields[name] = st.booleans()
        elif kind == "int":
            # around the thresholds the rules use (counts, distances, the 99 "none" value)
            fields[name] = st.sampled_from([0, 1, 2, 3, 5, 99])
        else:
            fields[name] = st.sampled_from([0.0, 0.3, 0.5, 70.0, 85.0, 90.0, 95.0, 100.0])
    return st.fixed_dictionaries(fields)


_RULESET = load_rules(Path(__file__).resolve().parents[2] / "configs" / "rules")


@settings(max_examples=300, deadline=None)
@given(values=_values(_RULESET), name=st.sampled_from(sorted(p.name for p in GOLDEN.glob("*.eml"))))
def test_generated_evaluator_equals_closures(values: dict[str, Any], name: str) -> None:
    signals = Signals(values, golden_message(name))  # the message supplies the regex fields
    expected = _RULESET.evaluate_closures(signals)
    assert _RULESET.evaluate(signals) == expected
    vector = _RULESET.hits_vector(signals)
    assert [rid for rid, hit in zip(_RULESET.ids, vector, strict=True) if hit] == expected


def test_random_values_reach_many_rules() -> None:
    """The property above is not vacuous: sampled values make most rules fire somewhere."""
    fired: set[str] = set()
    strategy = _values(_RULESET)
    message = golden_message("phish_credential_links.eml")

    @settings(max_examples=400, deadline=None, database=None)
    @given(values=strategy)
    def collect(values: dict[str, Any]) -> None:
        fired.update(_RULESET.evaluate_closures(Signals(values, message)))

    collect()
    assert len(fired) >= len(_RULESET) // 2, sorted(set(_RULESET.ids) - fired)


def test_generated_source_holds_no_rule_text(rules_copy: Any) -> None:
    """Names and values from rule files reach the generated code only as constants."""
    folder = rules_copy({"zz.yaml": """
rules:
  - id: ZZ_QUOTE_TEST
    description: a value (inf) whose repr would break naive source generation
    category: spam
    severity: low
    falsepositives: [none]
    condition: {all: [{signal: subject_caps_ratio, op: ">=", value: .inf}, {not: {signal: is_reply}}]}
"""})
    ruleset = load_rules(folder)
    ctx = StaticContext.build(internal_domains=["acme.com"])
    signals = extract(golden_message("urgent_newsletter.eml"), ctx, ruleset.lexicon)
    assert "ZZ_QUOTE_TEST" not in ruleset.evaluate(signals)
    assert ruleset.evaluate(signals) == ruleset.evaluate_closures(signals)
