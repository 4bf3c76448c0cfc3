"""Tenant configuration: which domains belong to which tenant, and message direction.

A tenant config is a YAML file::

    tenants:
      acme:
        domains: [acme.com, acme-corp.com]
        executives: [ceo@acme.com]        # optional, used by impersonation signals
      globex:
        domains: [globex.io]

A domain matches itself and its subdomains (``mail.acme.com`` belongs to ``acme.com``).
One domain belongs to at most one tenant.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from graphdet.exceptions import ConfigError
from graphdet.schema import Direction, listed_parent

__all__ = ["DEFAULT_TENANT", "TenantConfig", "TenantSpec", "dump_tenant_config", "load_tenant_config"]

DEFAULT_TENANT = "default"


@dataclass(frozen=True, slots=True)
class TenantSpec:
    name: str
    domains: tuple[str, ...]
    executives: tuple[str, ...] = ()


@dataclass(frozen=True)
class TenantConfig:
    """Maps domains to tenants. An empty config puts everything in ``default``."""

    tenants: tuple[TenantSpec, ...] = ()
    _by_domain: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_domain: dict[str, str] = {}
        for spec in self.tenants:
            for d in spec.domains:
                other = by_domain.get(d)
                if other is not None and other != spec.name:
                    raise ConfigError(
                        f"domain {d!r} is listed under both tenants {other!r} and {spec.name!r}"
                    )
                by_domain[d] = spec.name
        object.__setattr__(self, "_by_domain", by_domain)

    @property
    def configured(self) -> bool:
        return bool(self.tenants)

    def tenant_of_domain(self, domain: str) -> str | None:
        """The tenant owning ``domain`` or one of its parent domains, else None."""
        owned = listed_parent(domain, self._by_domain)
        return None if owned is None else self._by_domain[owned]

    def route(self, sender_domain: str, recipient_domains: Sequence[str]) -> list[tuple[str, Direction]]:
        """The tenants a message belongs to, each with its direction for that tenant.

        With no tenants configured everything goes to ``default`` with direction UNKNOWN.
        A message from tenant A to tenant B is outbound for A and inbound for B.
        """
        if not self.tenants:
            return [(DEFAULT_TENANT, Direction.UNKNOWN)]
        sender_t = self.tenant_of_domain(sender_domain)
        rcpt_t = [self.tenant_of_domain(d) for d in recipient_domains]
        out: list[tuple[str, Direction]] = []
        if sender_t is not None:
            internal_only = bool(rcpt_t) and all(t == sender_t for t in rcpt_t)
            out.append((sender_t, Direction.INTERNAL if internal_only else Direction.OUTBOUND))
        seen = {sender_t}
        for t in rcpt_t:
            if t is not None and t not in seen:
                seen.add(t)
                out.append((t, Direction.INBOUND))
        return out


def _as_domains(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: 'domains' must be a non-empty list of domain names")
    out = []
    for v in value:
        d = v.strip().lower().rstrip(".")
        if not d or "@" in d or " " in d:
            raise ConfigError(f"{where}: {v!r} is not a domain name")
        out.append(d)
    return tuple(out)


def load_tenant_config(path: str | Path | None) -> TenantConfig:
    """Load and validate a tenant config YAML; ``None`` gives the empty config."""
    if path is None:
        return TenantConfig()
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"tenant config {path} does not exist") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"tenant config {path}: invalid YAML: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("tenants"), dict):
        raise ConfigError(f"tenant config {path}: expected a mapping with a 'tenants' mapping")
    unknown = set(data) - {"tenants"}
    if unknown:
        raise ConfigError(f"tenant config {path}: unknown top-level keys {sorted(unknown)}")
    specs = []
    for name, body in data["tenants"].items():
        where = f"tenant config {path}: tenant {name!r}"
        if not isinstance(name, str) or not name:
            raise ConfigError(f"tenant config {path}: tenant names must be non-empty strings")
        if not isinstance(body, dict):
            raise ConfigError(f"{where}: expected a mapping with 'domains'")
        extra = set(body) - {"domains", "executives"}
        if extra:
            raise ConfigError(f"{where}: unknown keys {sorted(extra)} (allowed: domains, executives)")
        execs = body.get("executives", [])
        if not isinstance(execs, list) or not all(isinstance(e, str) for e in execs):
            raise ConfigError(f"{where}: 'executives' must be a list of addresses")
        specs.append(
            TenantSpec(
                name=name,
                domains=_as_domains(body.get("domains"), where),
                executives=tuple(e.strip().lower() for e in execs),
            )
        )
    try:
        return TenantConfig(tuple(specs))
    except ConfigError as e:
        raise ConfigError(f"tenant config {path}: {e}") from None


def dump_tenant_config(specs: Iterable[TenantSpec], path: str | Path) -> None:
    """Write a tenant config YAML that :func:`load_tenant_config` reads back."""
    data = {
        "tenants": {
            s.name: {"domains": list(s.domains), **({"executives": list(s.executives)} if s.executives else {})}
            for s in specs
        }
    }
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
