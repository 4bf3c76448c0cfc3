"""What the message signals may know about a tenant, behind one small interface.

:class:`TenantContext` is the protocol; the combiner's OnlineState implements it in serving
(snapshot plus live deltas). Here are three implementations:

* :class:`StaticContext`: plain sets and mappings, for tests and fixtures;
* :class:`SnapshotContext`: built once from a published graph snapshot's tables;
* :data:`EMPTY_CONTEXT`: no tenant knowledge at all.

With no knowledge (``available`` false) every context-dependent signal returns its *unknown*
value, which is always the value that cannot raise an alarm: ``sender_domain_new`` and
``link_domain_new`` are false, similarities are 0, look-alike distances are 99. The signal
``context_available`` tells the combiner which case it is in.

A context may also hand over its look-up tables: ``name_table(execs_only, min_length)`` (a
:data:`NameTable`) and ``lookalike_references()`` (:data:`References`); StaticContext and the
live TenantState do. The live TenantState also keeps the name table's
:class:`~graphdet.rules.nameindex.NameIndex`, patched with the table when a name is added:
``name_index(execs_only, min_length)`` gives the two as one (table, index) pair. The
impersonation signals then compare against those, and remember their answers for as long as
the context returns the same table object (see
:mod:`graphdet.rules.memo`): a context must hand over a new table object when a name
changes, and its reference lists may only grow by appending while they stay the same object.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

from graphdet.rules.text import decode_domain, skeleton
from graphdet.schema import listed_parent

__all__ = [
    "EMPTY_CONTEXT",
    "NameTable",
    "References",
    "SnapshotContext",
    "StaticContext",
    "TenantContext",
    "fold_name",
    "load_static_context",
    "parent_domains",
]


NameTable = tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]
"""Comparable internal display names (folded), and the internal addresses using each."""
References = tuple[Sequence[str], Sequence[str]]
"""Look-alike reference domains and their visual skeletons, in the same order."""


@functools.lru_cache(maxsize=65536)
def fold_name(name: str) -> str:
    """The key display names are compared by: their visual skeleton (quotes dropped). Cached:
    a message's display name is folded by its signals, its features and the state update."""
    return skeleton(name.strip().strip("\"'").strip())


@runtime_checkable
class TenantContext(Protocol):
    """Tenant knowledge the message signals look up (all addresses and domains lower case)."""

    @property
    def available(self) -> bool:
        """False when nothing is known about the tenant (signals then return unknown values)."""
        ...

    def is_internal_domain(self, domain: str) -> bool:
        """The domain (or a parent of it) is one of the tenant's own."""
        ...

    def knows_domain(self, domain: str) -> bool:
        """Mail from or to this domain was seen in the tenant's traffic before."""
        ...

    def knows_link_domain(self, domain: str) -> bool:
        """A link to this host's domain was seen before (a context may answer ``knows_domain``)."""
        ...

    def sender_known(self, addr: str) -> bool:
        """This address sent mail in the tenant before."""
        ...

    def internal_display_names(self) -> Mapping[str, tuple[str, ...]]:
        """:func:`fold_name` of each internal display name -> the internal addresses using it."""
        ...

    def executive_addresses(self) -> Collection[str]:
        """Addresses of the tenant's executives."""
        ...

    def correspondent_domains(self) -> Collection[str]:
        """External domains the tenant corresponds with (look-alike references)."""
        ...

    def tenant_domains(self) -> Collection[str]:
        """The tenant's own domains (look-alike references too)."""
        ...


def parent_domains(domain: str) -> Iterable[str]:
    """The domain and each parent of it: ``a.b.com``, ``b.com``, ``com``."""
    d = domain.lower().rstrip(".")
    while d:
        yield d
        dot = d.find(".")
        if dot < 0:
            return
        d = d[dot + 1 :]


def _parents_in(domain: str, domains: frozenset[str]) -> bool:
    """One of :func:`parent_domains` of ``domain`` is in ``domains``."""
    return bool(domains) and listed_parent(domain, domains) is not None


@dataclass(frozen=True)
class StaticContext:
    """A tenant context from plain collections (tests, fixtures, small tenants).

    ``display_names`` maps a display name as written (any spelling) to the internal addresses
    using it; it is folded with :func:`fold_name`. A domain matches itself and its parents.
    """

    internal_domains: frozenset[str] = frozenset()
    known_domains: frozenset[str] = frozenset()
    known_link_domains: frozenset[str] = frozenset()
    known_senders: frozenset[str] = frozenset()
    display_names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    executives: frozenset[str] = frozenset()
    correspondents: frozenset[str] = frozenset()
    is_available: bool = True
    _folded: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False, compare=False)
    _tables: dict[object, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        folded: dict[str, list[str]] = {}
        for name, addrs in self.display_names.items():
            folded.setdefault(fold_name(name), []).extend(a.lower() for a in addrs)
        object.__setattr__(self, "_folded", {k: tuple(dict.fromkeys(v)) for k, v in folded.items()})

    @classmethod
    def build(
        cls,
        *,
        internal_domains: Iterable[str] = (),
        known_domains: Iterable[str] = (),
        known_link_domains: Iterable[str] = (),
        known_senders: Iterable[str] = (),
        display_names: Mapping[str, Iterable[str]] | None = None,
        executives: Iterable[str] = (),
        correspondents: Iterable[str] | None = None,
    ) -> Self:
        """Build from any iterables; correspondents default to the known external domains."""
        internal = frozenset(d.lower() for d in internal_domains)
        known = frozenset(d.lower() for d in known_domains) | internal
        corr = (
            frozenset(d.lower() for d in correspondents)
            if correspondents is not None
            else frozenset(d for d in known if d not in internal)
        )
        return cls(
            internal_domains=internal,
            known_domains=known,
            known_link_domains=frozenset(d.lower() for d in known_link_domains),
            known_senders=frozenset(a.lower() for a in known_senders),
            display_names={k: tuple(v) for k, v in (display_names or {}).items()},
            executives=frozenset(a.lower() for a in executives),
            correspondents=corr,
        )

    @property
    def available(self) -> bool:
        return self.is_available

    def is_internal_domain(self, domain: str) -> bool:
        return domain in self.internal_domains or _parents_in(domain, self.internal_domains)

    def knows_domain(self, domain: str) -> bool:
        return domain in self.known_domains or _parents_in(domain, self.known_domains)

    def knows_link_domain(self, domain: str) -> bool:
        return _parents_in(domain, self.known_link_domains) or self.knows_domain(domain)

    def sender_known(self, addr: str) -> bool:
        return addr.lower() in self.known_senders

    def internal_display_names(self) -> Mapping[str, tuple[str, ...]]:
        return self._folded

    def executive_addresses(self) -> Collection[str]:
        return self.executives

    def correspondent_domains(self) -> Collection[str]:
        return self.correspondents

    def tenant_domains(self) -> Collection[str]:
        return self.internal_domains

    def name_table(self, execs_only: bool, min_length: int) -> NameTable:
        """Internal display names at least ``min_length`` long (of executives only, if asked)
        and the addresses using each; built on first use, then the same object (the context
        does not change)."""
        key = ("names", execs_only, min_length)
        table = self._tables.get(key)
        if table is None:
            execs = self.executives if execs_only else None
            items = [(n, addrs) for n, addrs in self._folded.items()
                     if len(n) >= min_length and (execs is None or any(a in execs for a in addrs))]
            table = self._tables[key] = (tuple(n for n, _ in items), tuple(a for _, a in items))
        names: NameTable = table
        return names

    def lookalike_references(self) -> References:
        """Correspondent and tenant domains (sorted) and their visual skeletons, the look-alike
        references; built on first use, then the same object."""
        table = self._tables.get("references")
        if table is None:
            refs = tuple(sorted({d.lower() for d in (*self.correspondents, *self.internal_domains)}))
            table = self._tables["references"] = (refs, tuple(skeleton(decode_domain(d)) for d in refs))
        references: References = table
        return references


EMPTY_CONTEXT = StaticContext(is_available=False)
"""No tenant knowledge: every context-dependent signal returns its unknown (quiet) value."""


@dataclass(frozen=True)
class SnapshotContext(StaticContext):
    """A tenant context read once from a graph snapshot (nodes, domains, display_names tables)."""

    @classmethod
    def from_snapshot(cls, snapshot: object, tenant: str, *, executives: Iterable[str] = ()) -> SnapshotContext:
        """Build the context of ``tenant`` from a :class:`graphdet.graph.snapshot.Snapshot`.

        Known senders are the addresses that sent mail; internal display names come from the
        display_names table restricted to internal addresses; correspondents are the external
        domains seen. Raises :class:`~graphdet.exceptions.SnapshotError` for an unknown tenant.
        """
        from graphdet.graph.snapshot import Snapshot

        if not isinstance(snapshot, Snapshot):
            raise TypeError(f"expected a graphdet Snapshot, got {type(snapshot).__name__}")
        nodes = snapshot.table(tenant, "nodes", ["addr", "is_internal", "msgs_sent"]).to_pydict()
        domains = snapshot.table(tenant, "domains", ["domain", "is_internal"]).to_pydict()
        names = snapshot.table(tenant, "display_names", ["name", "addr"]).to_pydict()
        internal_addrs = {a for a, i in zip(nodes["addr"], nodes["is_internal"], strict=True) if i}
        display: dict[str, list[str]] = {}
        for name, addr in zip(names["name"], names["addr"], strict=True):
            if addr in internal_addrs and name:
                display.setdefault(name, []).append(addr)
        internal_domains = {d for d, i in zip(domains["domain"], domains["is_internal"], strict=True) if i}
        external = {d for d, i in zip(domains["domain"], domains["is_internal"], strict=True) if not i}
        ctx = cls.build(
            internal_domains=internal_domains,
            known_domains=set(domains["domain"]),
            known_senders={a for a, n in zip(nodes["addr"], nodes["msgs_sent"], strict=True) if n > 0},
            display_names=display,
            executives=executives,
            correspondents=external,
        )
        assert isinstance(ctx, SnapshotContext)
        return ctx


_CONTEXT_KEYS = ("internal_domains", "known_domains", "known_link_domains", "known_senders", "display_names",
                 "executives", "correspondents")


def load_static_context(path: str | Path) -> StaticContext:
    """A :class:`StaticContext` from a YAML file with the keys of :meth:`StaticContext.build`
    (lists of strings; ``display_names`` maps a name to its addresses)."""
    from graphdet.rules.errors import RuleError
    from graphdet.rules.yamlio import LineDict, read_yaml

    data = read_yaml(path)
    if not isinstance(data, LineDict):
        raise RuleError("a tenant context file is a mapping", file=str(path), line=1)
    for key in data:
        if key not in _CONTEXT_KEYS:
            raise RuleError(f"unknown key {key!r}; allowed: {', '.join(_CONTEXT_KEYS)}", file=str(path),
                            line=data.key_lines[key])
    names = data.get("display_names") or {}
    if not isinstance(names, dict) or not all(isinstance(v, list) for v in names.values()):
        raise RuleError("display_names maps a name to a list of addresses", file=str(path),
                        line=data.key_lines.get("display_names"))
    lists: dict[str, list[str]] = {}
    for key in _CONTEXT_KEYS:
        if key == "display_names" or key not in data:
            continue
        value = data[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RuleError(f"{key} must be a list of strings", file=str(path), line=data.key_lines[key])
        lists[key] = value
    return StaticContext.build(
        internal_domains=lists.get("internal_domains", ()),
        known_domains=lists.get("known_domains", ()),
        known_link_domains=lists.get("known_link_domains", ()),
        known_senders=lists.get("known_senders", ()),
        display_names={str(k): [str(a) for a in v] for k, v in names.items()},
        executives=lists.get("executives", ()),
        correspondents=lists.get("correspondents"),
    )
