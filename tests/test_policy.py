"""The verdict policy: precedence hard rule > block list > allow list > model, and strict files."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphdet.exceptions import ConfigError
from graphdet.policy import Policy, PolicyOutcome, TenantPolicy, load_policy
from graphdet.schema import Address, Category, Verdict

THRESHOLDS = {"bec": 0.9, "malware": 0.8}
SUSPICIOUS = 0.5
PARTNER = Address("ceo@partner.example", "Alice Boss")


def _policy(**lists: list[str]) -> Policy:
    return Policy(TenantPolicy(**{k: frozenset(v) for k, v in lists.items()}))


def _decide(policy: Policy, score: float, *, sender: Address = PARTNER, category: str = "bec",
            hard: tuple[tuple[str, str], ...] = (), impersonates: bool = False) -> PolicyOutcome:
    return policy.decide(tenant="acme", sender=sender, score=score, category=category, thresholds=THRESHOLDS,
                         suspicious_threshold=SUSPICIOUS, hard_hits=hard, impersonates_internal=impersonates)


@pytest.mark.parametrize(
    ("score", "verdict", "category"),
    [(0.95, Verdict.MALICIOUS, Category.BEC), (0.9, Verdict.MALICIOUS, Category.BEC),
     (0.89, Verdict.SUSPICIOUS, Category.BEC), (0.5, Verdict.SUSPICIOUS, Category.BEC),
     (0.49, Verdict.SAFE, Category.SAFE)],
)
def test_model_thresholds(score: float, verdict: Verdict, category: Category) -> None:
    out = _decide(Policy(), score)
    assert (out.verdict, out.category, out.reasons) == (verdict, category, ())


def test_category_without_a_threshold_is_never_malicious() -> None:
    assert _decide(Policy(), 0.999, category="spam").verdict is Verdict.SUSPICIOUS


def test_hard_rule_beats_allow_list_and_low_score() -> None:
    p = _policy(allow_senders=[PARTNER.addr], allow_domains=["partner.example"])
    out = _decide(p, 0.0, hard=(("EXE_AS_PDF", "malware"), ("OTHER", "bec")))
    assert (out.verdict, out.category) == (Verdict.MALICIOUS, Category.MALWARE)
    assert out.reasons == ("hard rule EXE_AS_PDF",)


def test_block_list_beats_allow_list() -> None:
    p = _policy(allow_senders=[PARTNER.addr], block_domains=["partner.example"])
    low = _decide(p, 0.1)
    assert (low.verdict, low.category) == (Verdict.MALICIOUS, Category.SPAM)
    assert "block list" in low.reasons[0]
    high = _decide(p, 0.7)  # above suspicious: the model's category is kept
    assert (high.verdict, high.category) == (Verdict.MALICIOUS, Category.BEC)


def test_allow_list_silences_the_model_without_impersonation() -> None:
    p = _policy(allow_domains=["partner.example"])
    out = _decide(p, 0.99)
    assert (out.verdict, out.category) == (Verdict.SAFE, Category.SAFE)
    assert "allow list" in out.reasons[0]


@pytest.mark.parametrize(("score", "verdict"), [(0.99, Verdict.MALICIOUS), (0.6, Verdict.SUSPICIOUS)])
def test_allow_list_does_not_silence_internal_impersonation(score: float, verdict: Verdict) -> None:
    p = _policy(allow_senders=[PARTNER.addr])
    out = _decide(p, score, impersonates=True)
    assert (out.verdict, out.category) == (verdict, Category.BEC)
    assert len(out.reasons) == 1 and "allow list overridden" in out.reasons[0]


def test_allow_listed_impersonation_below_suspicious_is_safe() -> None:
    out = _decide(_policy(allow_senders=[PARTNER.addr]), 0.2, impersonates=True)
    assert out.verdict is Verdict.SAFE


def test_domain_lists_match_subdomains_but_not_lookalikes() -> None:
    lists = TenantPolicy(allow_domains=frozenset({"partner.example"}))
    assert lists.allowed(Address("a@partner.example"))
    assert lists.allowed(Address("a@mail.eu.partner.example"))
    assert not lists.allowed(Address("a@evilpartner.example"))
    assert not lists.allowed(Address("a@partner.example.evil"))


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return folder


def test_tenant_file_adds_to_default(tmp_path: Path) -> None:
    d = _write(tmp_path / "p", "default.yaml", "allow_domains: [Partner.Example]\nblock_senders: [x@bad.example]\n")
    _write(d, "acme.yaml", "allow_senders: [' Bob@Vendor.Example ']\n")
    policy = load_policy(d)
    acme = policy.for_tenant("acme")
    assert acme.allow_domains == {"partner.example"}
    assert acme.allow_senders == {"bob@vendor.example"}  # stripped and lower-cased
    assert acme.block_senders == {"x@bad.example"}
    other = policy.for_tenant("globex")
    assert other == policy.default and other.allow_senders == frozenset()
    assert load_policy(None) == Policy()


def test_shipped_policy_loads() -> None:
    from graphdet.combiner.pipeline import REPO_CONFIGS

    assert load_policy(REPO_CONFIGS / "policy").default == TenantPolicy()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("allow_sender: [a@b.example]\n", r"unknown keys \['allow_sender'\]"),
        ("allow_senders: a@b.example\n", "'allow_senders' must be a list"),
        ("block_domains: [1, 2]\n", "'block_domains' must be a list"),
        ("block_domains: ['']\n", "'block_domains' must be a list"),
        ("- a\n- b\n", "expected a mapping"),
        ("allow_senders: [a\n", "policy file"),
    ],
)
def test_bad_files_are_rejected_naming_the_file(tmp_path: Path, text: str, match: str) -> None:
    d = _write(tmp_path / "p", "acme.yaml", text)
    with pytest.raises(ConfigError, match=match) as err:
        load_policy(d)
    assert str(d / "acme.yaml") in str(err.value)


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_policy(tmp_path / "nope")


def test_duplicate_keys_are_rejected(tmp_path: Path) -> None:
    d = _write(tmp_path / "p", "default.yaml", "block_senders: [a@x.example]\nblock_senders: [b@x.example]\n")
    with pytest.raises(ConfigError, match="duplicate"):
        load_policy(d)


def test_remembered_list_answers_stay_per_tenant_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each tenant's own lists decide, however often (and in whatever order) a sender is seen."""
    from graphdet import policy as policy_module

    monkeypatch.setattr(policy_module, "_LISTED_MEMO", 3)
    p = Policy(TenantPolicy(), {"blocker": TenantPolicy(block_domains=frozenset({"partner.example"})),
                                "allower": TenantPolicy(allow_senders=frozenset({PARTNER.addr}))})
    others = [Address(f"x{i}@elsewhere.example") for i in range(5)]
    for _ in range(3):
        expected = (("blocker", Verdict.MALICIOUS), ("allower", Verdict.SAFE), ("acme", Verdict.SUSPICIOUS))
        for tenant, verdict in expected:
            out = p.decide(tenant=tenant, sender=PARTNER, score=0.7, category="bec", thresholds=THRESHOLDS,
                           suspicious_threshold=SUSPICIOUS)
            assert out.verdict is verdict, tenant
        for o in others:
            assert p.decide(tenant="blocker", sender=o, score=0.7, category="bec", thresholds=THRESHOLDS,
                            suspicious_threshold=SUSPICIOUS).verdict is Verdict.SUSPICIOUS
    assert len(p._listed) <= 3
