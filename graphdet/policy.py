"""The verdict policy: thresholds, hard rules and each tenant's allow / block lists.

Precedence, highest first (and why):

1. **Hard rules** (``hard: true`` in the rule files) force MALICIOUS with the rule's category.
   They encode certainties (an executable disguised as a PDF) that no business list may waive.
2. **Block lists** (sender address or domain) force MALICIOUS.
3. **Allow lists** force SAFE — *except* when the message impersonates an internal person
   (its display name is an internal person's but the address is not theirs) and the model's
   score is at or above the SUSPICIOUS threshold: then the model's verdict stands, with a
   reason saying the allow list was overridden. An allow-listed partner domain must not become
   a free pass for "the CEO" writing from it.
4. **The model**: MALICIOUS when the calibrated score reaches the threshold of the predicted
   category, SUSPICIOUS above the suspicious threshold, SAFE below.

Policy files live in ``configs/policy/``: ``default.yaml`` applies to every tenant and
``<tenant>.yaml`` adds to it. Keys: ``allow_senders``, ``allow_domains``, ``block_senders``,
``block_domains`` (lists of strings).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from graphdet.exceptions import ConfigError
from graphdet.schema import Address, Category, Verdict

__all__ = ["Policy", "PolicyOutcome", "TenantPolicy", "load_policy"]

_KEYS = ("allow_senders", "allow_domains", "block_senders", "block_domains")
_LISTED_MEMO = 65_536
_CATEGORY_OF = {c.value: c for c in Category}


@dataclass(frozen=True)
class TenantPolicy:
    allow_senders: frozenset[str] = frozenset()
    allow_domains: frozenset[str] = frozenset()
    block_senders: frozenset[str] = frozenset()
    block_domains: frozenset[str] = frozenset()

    def merged(self, other: TenantPolicy) -> TenantPolicy:
        return TenantPolicy(*(getattr(self, k) | getattr(other, k) for k in _KEYS))

    @staticmethod
    def _match(addr: Address, senders: frozenset[str], domains: frozenset[str]) -> bool:
        if addr.addr in senders:
            return True
        d = addr.domain
        while d:
            if d in domains:
                return True
            dot = d.find(".")
            d = d[dot + 1 :] if dot >= 0 else ""
        return False

    def allowed(self, addr: Address) -> bool:
        return self._match(addr, self.allow_senders, self.allow_domains)

    def blocked(self, addr: Address) -> bool:
        return self._match(addr, self.block_senders, self.block_domains)


@dataclass(frozen=True, slots=True)
class PolicyOutcome:
    verdict: Verdict
    category: Category
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    default: TenantPolicy = field(default_factory=TenantPolicy)
    tenants: Mapping[str, TenantPolicy] = field(default_factory=dict)
    _merged: dict[str, TenantPolicy] = field(default_factory=dict, init=False, repr=False, compare=False)
    # (tenant, sender address) -> (blocked, allowed): the lists never change after loading
    _listed: dict[tuple[str, str], tuple[bool, bool]] = field(default_factory=dict, init=False, repr=False,
                                                              compare=False)

    def for_tenant(self, tenant: str) -> TenantPolicy:
        """The default lists plus the tenant's own (merged once per tenant, not per message)."""
        merged = self._merged.get(tenant)
        if merged is None:
            own = self.tenants.get(tenant)
            merged = self.default.merged(own) if own is not None else self.default
            self._merged[tenant] = merged
        return merged

    def decide(
        self,
        *,
        tenant: str,
        sender: Address,
        score: float,
        category: str,
        thresholds: Mapping[str, float],
        suspicious_threshold: float,
        hard_hits: Sequence[tuple[str, str]] = (),
        impersonates_internal: bool = False,
    ) -> PolicyOutcome:
        """The verdict for one scored message (``hard_hits``: (rule id, category) pairs)."""
        if hard_hits:
            rule, cat = hard_hits[0]
            return PolicyOutcome(Verdict.MALICIOUS, Category(cat), (f"hard rule {rule}",))
        blocked, allowed = self._lists_of(tenant, sender)
        cat = _CATEGORY_OF.get(category, Category.SPAM)
        if blocked:
            return PolicyOutcome(Verdict.MALICIOUS, cat if score >= suspicious_threshold else Category.SPAM,
                                 (f"sender {sender.addr} is on the tenant's block list",))
        model = self._model(score, cat, thresholds, suspicious_threshold)
        if allowed:
            if impersonates_internal and model.verdict is not Verdict.SAFE:
                return PolicyOutcome(model.verdict, model.category, (
                    "allow list overridden: the display name is an internal person's, the address is not",))
            return PolicyOutcome(Verdict.SAFE, Category.SAFE, (f"sender {sender.addr} is on the tenant's allow list",))
        return model

    def _lists_of(self, tenant: str, sender: Address) -> tuple[bool, bool]:
        """Whether ``sender`` is on the tenant's block list and on its allow list (remembered
        per sender, up to ``_LISTED_MEMO`` of them)."""
        key = (tenant, sender.addr)
        known = self._listed.get(key)
        if known is None:
            lists = self.for_tenant(tenant)
            known = (lists.blocked(sender), lists.allowed(sender))
            if len(self._listed) >= _LISTED_MEMO:
                self._listed.clear()
            self._listed[key] = known
        return known

    @staticmethod
    def _model(score: float, cat: Category, thresholds: Mapping[str, float], suspicious: float) -> PolicyOutcome:
        if score >= thresholds.get(cat.value, 1.01):
            return PolicyOutcome(Verdict.MALICIOUS, cat, ())
        if score >= suspicious:
            return PolicyOutcome(Verdict.SUSPICIOUS, cat, ())
        return PolicyOutcome(Verdict.SAFE, Category.SAFE, ())


def _read(path: Path) -> TenantPolicy:
    from graphdet.rules.errors import RuleError
    from graphdet.rules.yamlio import read_yaml  # strict: duplicate keys are errors, with the line

    try:
        data = read_yaml(path) or {}
    except RuleError as e:
        raise ConfigError(f"policy file {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"policy file {path}: expected a mapping with {', '.join(_KEYS)}")
    unknown = set(data) - set(_KEYS)
    if unknown:
        raise ConfigError(f"policy file {path}: unknown keys {sorted(unknown)} (allowed: {', '.join(_KEYS)})")
    values = {}
    for k in _KEYS:
        v = data.get(k, [])
        if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
            raise ConfigError(f"policy file {path}: '{k}' must be a list of non-empty strings")
        values[k] = frozenset(x.strip().lower() for x in v)
    return TenantPolicy(**values)


def load_policy(folder: str | Path | None) -> Policy:
    """Read ``default.yaml`` and ``<tenant>.yaml`` files from a policy folder (None: empty)."""
    if folder is None:
        return Policy()
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"policy folder {folder} does not exist")
    default = _read(folder / "default.yaml") if (folder / "default.yaml").exists() else TenantPolicy()
    tenants = {p.stem: _read(p) for p in sorted(folder.glob("*.yaml")) if p.stem != "default"}
    return Policy(default, tenants)
