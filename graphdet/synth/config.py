"""Options of the synthetic tenant generator, and how they size the log.

Sizing: tenant ``t`` gets ``E_t`` employees, ``config.employees`` scaled by a factor in
[0.6, 1.5] drawn from the seed (see :meth:`SynthConfig.employee_counts`). Its *safe* traffic
is about ``E_t * messages_per_employee_per_day * days`` messages (replies included; weekends
are quiet, so a weekday carries more than the average). Attacks come on top: they make up
``attack_share`` of the tenant's inbound + internal messages. So, with ``f`` the share of
safe mail that is inbound or internal (about 0.8)::

    messages ~= sum_t E_t * mpd * days * (1 + f * attack_share / (1 - attack_share))

:meth:`SynthConfig.expected_messages` evaluates that formula and
:meth:`SynthConfig.for_messages` inverts it (by choosing ``employees``); the generated count
lands within a few percent of it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from graphdet.exceptions import GeneratorError

__all__ = ["INBOUND_INTERNAL_SHARE", "SynthConfig"]

#: share of safe messages that are inbound or internal (measured; used only for sizing)
INBOUND_INTERNAL_SHARE = 0.8


@dataclass(frozen=True)
class SynthConfig:
    """Everything that decides a generated log. Same config -> same log, byte for byte.

    ``employees`` is the mean tenant size; each tenant's own size is varied by the seed.
    ``messages_per_employee_per_day`` is the safe volume per employee per calendar day
    (weekdays carry more, weekends much less). ``hard_negative_share`` is the share of safe
    mail made by the hard-negative generators (first contacts, known-vendor invoices and bank
    changes, urgent newsletters, IT password notices, executives' personal addresses, SaaS
    notifications).
    """

    seed: int = 0
    tenants: int = 3
    days: int = 30
    start: str = "2026-01-05"
    employees: int = 60
    attack_share: float = 0.03
    hard_negative_share: float = 0.08
    messages_per_employee_per_day: float = 8.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`GeneratorError` naming the first impossible option."""
        if not 1 <= self.tenants <= 1000:
            raise GeneratorError(f"tenants={self.tenants!r}: must be between 1 and 1000")
        if not 1 <= self.days <= 3650:
            raise GeneratorError(f"days={self.days!r}: must be between 1 and 3650")
        if self.employees < 12:
            raise GeneratorError(
                f"employees={self.employees!r}: a tenant needs at least 12 (executives, "
                "assistants, finance and IT staff)"
            )
        if not 0.0 <= self.attack_share < 0.5:
            raise GeneratorError(f"attack_share={self.attack_share!r}: must be in [0, 0.5)")
        if not 0.0 <= self.hard_negative_share <= 0.5:
            raise GeneratorError(f"hard_negative_share={self.hard_negative_share!r}: must be in [0, 0.5]")
        if not 0.0 < self.messages_per_employee_per_day <= 1000:
            raise GeneratorError(
                f"messages_per_employee_per_day={self.messages_per_employee_per_day!r}: must be in (0, 1000]"
            )
        try:
            date.fromisoformat(self.start)
        except (TypeError, ValueError) as e:
            raise GeneratorError(f"start={self.start!r}: not an ISO date (YYYY-MM-DD)") from e

    @property
    def start_datetime(self) -> datetime:
        """Midnight UTC of the first day."""
        d = date.fromisoformat(self.start)
        return datetime(d.year, d.month, d.day, tzinfo=UTC)

    @property
    def start_us(self) -> int:
        """The first instant, in microseconds since the Unix epoch."""
        return int(self.start_datetime.timestamp()) * 1_000_000

    def employee_counts(self) -> list[int]:
        """Employees of each tenant: ``employees`` scaled by a seeded factor in [0.6, 1.5]."""
        rng = np.random.default_rng([self.seed, 7001])
        factors = rng.uniform(0.6, 1.5, self.tenants)
        return [max(12, round(self.employees * f)) for f in factors]

    def expected_messages(self) -> int:
        """The sizing formula of the module docstring (the result is within a few %)."""
        safe = sum(self.employee_counts()) * self.messages_per_employee_per_day * self.days
        att = INBOUND_INTERNAL_SHARE * self.attack_share / (1.0 - self.attack_share)
        return round(safe * (1.0 + att))

    @classmethod
    def for_messages(cls, n: int, seed: int = 0, **options: Any) -> SynthConfig:
        """A config whose log holds about ``n`` messages, reached by choosing ``employees``.

        Other options (``tenants``, ``days``, ...) may be given and are kept.
        """
        if n < 1:
            raise GeneratorError(f"for_messages(n={n!r}): n must be positive")
        base = cls(seed=seed, **options)
        probe = base.expected_messages() / base.employees  # messages per unit of `employees`
        employees = max(12, math.ceil(n / probe))
        cfg = replace(base, employees=employees)
        # the per-tenant rounding makes the first guess slightly off; one correction is enough
        got = cfg.expected_messages()
        if got > 0 and employees > 12:
            cfg = replace(cfg, employees=max(12, round(employees * n / got)))
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """The options as a JSON-serialisable dict (recorded in ``log.json``)."""
        return asdict(self)
