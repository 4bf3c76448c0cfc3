"""The real tenant: an organisation's domain in the mailing-list year, its mail and time split.

:func:`pick_tenant_domain` chooses the organisation with the most distinct senders (free-mail
providers and the kernel community's own hosts are not organisations). :func:`load_tenant`
ingests the mbox with a tenant config naming that domain (ordinary ``graphdet ingest``: mail
that reaches no tenant member is quarantined with its reason), and :func:`time_split` cuts the
span into history, a training window and the test window.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from graphdet.exceptions import ConfigError
from graphdet.ingest import RawRecord, RecordError, ingest, iter_records, parse_message
from graphdet.messagelog import read_messages
from graphdet.public.corpora import CorpusMessage, load_records
from graphdet.rules.signals import default_lexicon
from graphdet.rules.view import registrable
from graphdet.schema import Address, Message
from graphdet.tenants import TenantConfig, TenantSpec

__all__ = [
    "COMMUNITY_HOSTS",
    "TimeSplit",
    "load_tenant",
    "members_by_inbound",
    "non_tenant_mail",
    "pick_tenant_domain",
    "time_split",
]

logger = logging.getLogger(__name__)

#: domains of the kernel community itself (list servers, personal kernel.org accounts):
#: not an organisation that could be a tenant
COMMUNITY_HOSTS = frozenset({"kernel.org", "linux.dev", "infradead.org", "linuxfoundation.org",
                             "linux-foundation.org", "lists.linux.dev", "vger.kernel.org"})


def pick_tenant_domain(senders: Iterable[str]) -> str:
    """The registrable domain with the most distinct sender addresses, not free-mail or a
    community host. ``senders`` are sender addresses (one per message is fine)."""
    free = set(default_lexicon().lists["freemail_domains"])
    per_domain: dict[str, set[str]] = {}
    for addr in senders:
        domain = addr.rpartition("@")[2].lower()
        reg = registrable(domain)
        if not domain or domain in free or reg in free or reg in COMMUNITY_HOSTS or domain in COMMUNITY_HOSTS:
            continue
        per_domain.setdefault(reg, set()).add(addr)
    if not per_domain:
        raise ConfigError("no organisation domain among the senders: pass --tenant-domain")
    return max(sorted(per_domain), key=lambda d: len(per_domain[d]))


def load_tenant(mbox: Path, domain: str, log_dir: Path, tenant: str | None = None) -> tuple[TenantConfig, pa.Table]:
    """Ingest ``mbox`` for the tenant owning ``domain`` (and its subdomains) into ``log_dir``.

    Returns the tenant config and the tenant's messages, sorted by time.
    """
    config = TenantConfig((TenantSpec(tenant or domain, (domain,)),))
    stats = ingest([mbox], log_dir, config, overwrite=True)
    logger.info("tenant %s: %d records, %d message rows, %d quarantined (mostly mail reaching no member)",
                domain, stats.records_in, stats.rows_written, stats.quarantined)
    table = read_messages(log_dir)
    if table.num_rows == 0:
        raise ConfigError(f"tenant domain {domain!r}: no message of {mbox} reaches it")
    return config, table.sort_by([("received_at", "ascending"), ("message_id", "ascending")])


@dataclass(frozen=True)
class TimeSplit:
    """``[start, train_start)`` history, ``[train_start, test_start)`` training window (real
    data for the model trained with real mail), ``[test_start, end)`` the test window."""

    start: datetime
    train_start: datetime
    test_start: datetime
    end: datetime

    def as_dict(self) -> dict[str, str]:
        return {k: getattr(self, k).isoformat() for k in ("start", "train_start", "test_start", "end")}


def _day(t: datetime) -> datetime:
    return datetime(t.year, t.month, t.day, tzinfo=UTC)


def time_split(times: pa.Array | pa.ChunkedArray, train_share: float, test_share: float) -> TimeSplit:
    """Cut the span of ``times`` at midnights: the last ``test_share`` of the span is the test
    window, the ``train_share`` before it the training window."""
    if not (0 < test_share < 1 and 0 < train_share < 1 and train_share + test_share < 1):
        raise ConfigError(f"train share {train_share!r} and test share {test_share!r}: each in (0, 1), sum < 1")
    t0, t1 = pc.min(times).as_py(), pc.max(times).as_py()
    span = t1 - t0
    test_start = _day(t0 + span * (1 - test_share))
    train_start = _day(t0 + span * (1 - test_share - train_share))
    end = _day(t1) + timedelta(days=1)
    if not t0 < train_start < test_start < end:
        raise ConfigError(f"the span {t0:%Y-%m-%d} .. {t1:%Y-%m-%d} is too short to split")
    return TimeSplit(t0, train_start, test_start, end)


def members_by_inbound(history: Sequence[Message], config: TenantConfig) -> tuple[list[Address], list[float]]:
    """Tenant members seen in ``history`` with the messages each received (at least 1).

    Each member's display name is the one it used most as a sender (else as a recipient).
    """
    received: Counter[str] = Counter()
    names: dict[str, Counter[str]] = {}
    for m in history:
        if config.tenant_of_domain(m.from_.domain) is not None:
            received[m.from_.addr] += 0
            if m.from_.name:
                names.setdefault(m.from_.addr, Counter())[m.from_.name] += 2
        for r in m.recipients:
            if config.tenant_of_domain(r.domain) is not None:
                received[r.addr] += 1
                if r.name:
                    names.setdefault(r.addr, Counter())[r.name] += 1
    addrs = sorted(received)
    members = [Address(a, names[a].most_common(1)[0][0] if a in names else "") for a in addrs]
    return members, [float(max(received[a], 1)) for a in addrs]


def non_tenant_mail(mbox: Path, config: TenantConfig) -> tuple[list[CorpusMessage], Counter[str]]:
    """Messages of ``mbox`` that reach no member of the tenant: real external ham of the same
    era and community, to be re-addressed to tenant members (source ``list-ham``)."""

    def records() -> Iterator[RawRecord]:
        for record in iter_records(mbox, "mbox"):
            if record.raw is None:
                continue
            try:
                parse_message(record.raw, config, fallback_time=record.fallback_time)
            except RecordError:
                yield record  # no tenant member among sender and recipients (or unparseable)

    return load_records(records(), "list-ham")
