"""Targeted cases built from a tenant's real people (here: a small synthetic tenant's history)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from graphdet.messagelog import table_to_messages
from graphdet.public.cases import History, impersonation_cases, lateral_cases, lookalike_cases, materialise
from graphdet.public.inject import NEUTRAL_HEADERS, TimeSampler, header_names
from graphdet.rules.view import registrable
from graphdet.schema import Category, Direction, Message
from graphdet.synth import SynthConfig, generate
from graphdet.synth.lookalike import edit_distance
from graphdet.tenants import TenantConfig

from .test_inject import PHISH


@pytest.fixture(scope="module")
def tenant() -> tuple[list[Message], TenantConfig]:
    log = generate(SynthConfig(seed=3, tenants=1, days=14, employees=20, attack_share=0.0))
    return list(table_to_messages(log.messages)), TenantConfig(tuple(log.tenants))


@pytest.fixture(scope="module")
def history(tenant: tuple[list[Message], TenantConfig]) -> History:
    messages, config = tenant
    return History.from_messages(messages, config)


def _window(messages: list[Message]) -> TimeSampler:
    end = max(m.received_at for m in messages)
    return TimeSampler(end + timedelta(days=1), end + timedelta(days=8))


def test_history_facts(tenant: tuple[list[Message], TenantConfig], history: History) -> None:
    messages, config = tenant
    own = config.tenants[0].domains[0]
    assert history.members and all(a.endswith("@" + own) for a in history.members)
    central = history.central_members(3)
    assert len(central) == 3
    degrees = [len(history.nb[a]) for a in central]
    assert degrees == sorted(degrees, reverse=True)
    assert max(len(history.nb[a]) for a in history.members if history.name_of.get(a)) == degrees[0]
    assert own not in history.domain_msgs and history.domain_msgs  # only external organisations
    first = messages[0]
    assert first.to[0].addr in history.out_nb[first.from_.addr]


def test_impersonation_uses_a_central_name_from_outside(tenant: tuple[list[Message], TenantConfig],
                                                        history: History) -> None:
    messages, config = tenant
    times = _window(messages)
    cases = impersonation_cases(history, 12, np.random.default_rng(0), times)
    assert len(cases) == 12
    batch = materialise(cases, config)
    assert len(batch.messages) == 12 and not batch.skipped
    central = set(history.central_members())
    for case, m in zip(cases, batch.messages, strict=True):
        assert set(header_names(case.raw)) - {"reply-to"} == set(NEUTRAL_HEADERS)
        assert case.target in central and m.from_.name == history.name_of[case.target]
        assert config.tenant_of_domain(m.from_.domain) is None  # an outside address
        assert m.direction is Direction.INBOUND
        assert {r.addr for r in m.to} <= set(history.contacts_of(case.target))  # its real correspondents
        assert times.start <= m.received_at < times.end
    assert {lb.category for lb in batch.labels} == {Category.BEC}
    assert {lb.source for lb in batch.labels} == {"case-impersonation"}


def test_lookalike_imitates_a_real_correspondent_domain(tenant: tuple[list[Message], TenantConfig],
                                                        history: History) -> None:
    messages, config = tenant
    cases = lookalike_cases(history, 10, np.random.default_rng(1), _window(messages))
    batch = materialise(cases, config)
    assert len(batch.messages) == 10
    for case, m in zip(cases, batch.messages, strict=True):
        assert case.target in history.domain_msgs  # a domain the tenant really exchanges mail with
        fake = registrable(m.from_.domain)
        assert fake != case.target
        assert fake.startswith("xn--") or edit_distance(fake, case.target) <= 2
        assert m.to[0].addr in history.domain_contacts[case.target]
        real_names = {history.name_of.get(a) for a in history.domain_people[case.target]}
        assert m.from_.name in real_names
    assert {lb.category for lb in batch.labels} == {Category.VENDOR_FRAUD}


def test_lateral_goes_to_people_the_member_never_mails(tenant: tuple[list[Message], TenantConfig],
                                                       history: History) -> None:
    messages, config = tenant
    cases = lateral_cases(history, 10, np.random.default_rng(2), _window(messages), [PHISH],
                          literals=("phishing@pot",))
    batch = materialise(cases, config)
    assert len(batch.messages) == 10
    for case, m in zip(cases, batch.messages, strict=True):
        assert m.from_.addr == case.target and case.target in history.members
        assert m.direction is Direction.INTERNAL
        rcpts = {r.addr for r in m.to}
        assert 3 <= len(rcpts) <= 8 and rcpts <= history.members
        assert not rcpts & history.out_nb.get(case.target, frozenset())
        assert "phishing@pot" not in m.body and m.to[0].addr in m.body  # the collector is scrubbed
    assert {lb.category for lb in batch.labels} == {Category.LATERAL_PHISHING}


def test_cases_are_deterministic(history: History, tenant: tuple[list[Message], TenantConfig]) -> None:
    times = _window(tenant[0])
    a = impersonation_cases(history, 5, np.random.default_rng(9), times)
    b = impersonation_cases(history, 5, np.random.default_rng(9), times)
    assert [c.raw for c in a] == [c.raw for c in b]
    assert impersonation_cases(history, 5, np.random.default_rng(9), times, targets=[]) == []
    assert datetime(2000, 1, 1, tzinfo=UTC) < times.start
