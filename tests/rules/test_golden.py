"""Golden messages: for each file, exactly the listed rules fire (every other rule stays quiet)."""

from __future__ import annotations

from collections import Counter

import pytest
import yaml

from graphdet.rules import RuleSet, StaticContext, extract

from .conftest import GOLDEN, golden_message

TABLE: dict[str, dict[str, list[str]]] = yaml.safe_load((GOLDEN / "golden.yaml").read_text())


@pytest.mark.parametrize("name", sorted(TABLE))
def test_golden_message_fires_exactly_its_rules(name: str, ruleset: RuleSet, acme_ctx: StaticContext) -> None:
    expected = TABLE[name]["fire"]
    must_not = TABLE[name].get("must_not", [])
    hits = ruleset.evaluate(extract(golden_message(name), acme_ctx, ruleset.lexicon))
    assert set(must_not).isdisjoint(hits), f"{name}: rules that must not fire did: {set(must_not) & set(hits)}"
    missing, extra = set(expected) - set(hits), set(hits) - set(expected)
    assert not missing and not extra, f"{name}: missing {sorted(missing)}, unexpected {sorted(extra)}"


def test_table_names_only_real_rules_and_files(ruleset: RuleSet) -> None:
    assert sorted(TABLE) == sorted(p.name for p in GOLDEN.glob("*.eml"))
    for name, entry in TABLE.items():
        unknown = set(entry["fire"]) | set(entry.get("must_not", [])) - set(ruleset.ids)
        assert unknown <= set(ruleset.ids), f"{name}: unknown rules {unknown - set(ruleset.ids)}"
        assert set(entry["fire"]).isdisjoint(entry.get("must_not", []))


def test_every_rule_must_fire_somewhere_and_stay_quiet_somewhere(ruleset: RuleSet) -> None:
    fired = Counter(r for entry in TABLE.values() for r in entry["fire"])
    never = [r for r in ruleset.ids if fired[r] == 0]
    always = [r for r in ruleset.ids if fired[r] == len(TABLE)]
    assert not never, f"rules without a must-fire golden message: {never}"
    assert not always, f"rules without a must-not-fire golden message: {always}"


def test_hard_negatives_fire_nothing(ruleset: RuleSet, acme_ctx: StaticContext) -> None:
    negatives = ["legit_first_contact.eml", "known_vendor_invoice.eml", "urgent_newsletter.eml",
                 "it_password_notice.eml", "exec_personal_known.eml", "mailing_list_patch.eml"]
    for name in negatives:
        assert ruleset.evaluate(extract(golden_message(name), acme_ctx, ruleset.lexicon)) == [], name


def test_shipped_rule_set_size_and_families(ruleset: RuleSet) -> None:
    families = Counter(r.family for r in ruleset.rules)
    assert len(ruleset) >= 40
    assert set(families) >= {"auth", "bec", "vendor", "phishing", "lateral", "malware", "spam"}
    assert all(r.description and r.falsepositives for r in ruleset.rules)


def test_hits_vector_matches_evaluate(ruleset: RuleSet, acme_ctx: StaticContext) -> None:
    signals = extract(golden_message("phish_credential_links.eml"), acme_ctx, ruleset.lexicon)
    vec = ruleset.hits_vector(signals)
    assert vec.dtype == bool and vec.shape == (len(ruleset),)
    assert [rid for rid, hit in zip(ruleset.ids, vec, strict=True) if hit] == ruleset.evaluate(signals)
