"""The ingest job: input paths -> a message log folder, with every record accounted for.

Each input record is either *parsed* (one or more message rows: one per tenant it reaches)
or *quarantined*: its raw bytes go to ``DIR/quarantine/`` and a line with the source and the
reason goes to ``DIR/quarantine.jsonl``. ``records_in == parsed + quarantined`` always holds;
:class:`IngestStats` checks it.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from graphdet.exceptions import IngestError
from graphdet.ingest.rfc822 import RecordError, parse_message
from graphdet.ingest.sources import RawRecord, iter_records, list_inputs
from graphdet.ingest.tables import row_to_messages
from graphdet.messagelog import MessageLogWriter
from graphdet.schema import Category, Label, Message
from graphdet.tenants import TenantConfig

__all__ = ["IngestStats", "ingest", "parse_record"]

logger = logging.getLogger(__name__)

_FLUSH_ROWS = 100_000


@dataclass
class IngestStats:
    """Counts of one ingest run. ``records_in == parsed + quarantined``."""

    records_in: int = 0
    parsed: int = 0
    quarantined: int = 0
    rows_written: int = 0  # >= parsed: a message reaching two tenants is two rows
    labels_written: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    by_tenant: Counter[str] = field(default_factory=Counter)

    def check(self) -> None:
        if self.records_in != self.parsed + self.quarantined:
            raise AssertionError(
                f"ingest lost records: in={self.records_in} parsed={self.parsed} "
                f"quarantined={self.quarantined}"
            )

    def as_dict(self) -> dict[str, Any]:
        return {
            "records_in": self.records_in,
            "parsed": self.parsed,
            "quarantined": self.quarantined,
            "rows_written": self.rows_written,
            "labels_written": self.labels_written,
            "quarantine_reasons": dict(self.reasons.most_common()),
            "rows_by_tenant": dict(sorted(self.by_tenant.items())),
        }


def _reason_kind(reason: str) -> str:
    """A short, countable form of a reason (its text up to the first colon)."""
    return reason.split(":", 1)[0][:80]


def parse_record(
    record: RawRecord, config: TenantConfig, label: Category | None = None, label_source: str = ""
) -> tuple[list[Message], Label | None]:
    """Turn one record into messages (+ a label), or raise :class:`RecordError`.

    Any unexpected exception from a parser is turned into a RecordError here, so a bug in
    one parser quarantines a record instead of stopping the job.
    """
    if record.error is not None:
        raise RecordError(record.error)
    try:
        if record.row is not None:
            messages, row_label = row_to_messages(record.row, config)
        else:
            messages = parse_message(record.raw or b"", config, fallback_time=record.fallback_time)
            row_label = None
    except RecordError:
        raise
    except Exception as e:
        logger.exception("parser failed on %s", record.source)
        raise RecordError(f"internal parser error: {type(e).__name__}: {e}") from e
    if label is not None and messages:
        row_label = Label(messages[0].message_id, label, "", label_source)
    return messages, row_label


class _Quarantine:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.n = 0
        self._index: IO[str] | None = None

    def put(self, record: RawRecord, reason: str) -> None:
        if self._index is None:
            (self.root / "quarantine").mkdir(parents=True, exist_ok=True)
            self._index = (self.root / "quarantine.jsonl").open("w", encoding="utf-8")
        raw_file = None
        payload = record.raw
        if payload is None and record.row is not None:
            payload = json.dumps(record.row, default=str, ensure_ascii=False).encode()
        if payload is not None:
            raw_file = f"quarantine/{self.n:08d}.raw"
            (self.root / raw_file).write_bytes(payload)
        entry = {"n": self.n, "source": record.source, "reason": reason, "raw_file": raw_file}
        self._index.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self.n += 1

    def close(self) -> None:
        if self._index is not None:
            self._index.close()


def ingest(
    paths: Sequence[str | Path],
    out: str | Path,
    config: TenantConfig,
    *,
    overwrite: bool = False,
    label: Category | None = None,
    label_source: str = "",
    progress: Callable[[int], None] | None = None,
) -> IngestStats:
    """Read every record under ``paths`` and write the message log to ``out``.

    ``label`` marks every parsed message with that category (for a corpus known to be,
    say, phishing); table rows may carry their own ``category`` column instead.
    ``progress`` is called with the number of records handled since the last call.
    Duplicate (tenant, message id) pairs are quarantined as duplicates: nothing is dropped.
    """
    inputs = list_inputs([Path(p) for p in paths])
    if not inputs:
        raise IngestError(f"no input files under {', '.join(str(p) for p in paths)}")
    out = Path(out)
    stats = IngestStats()
    seen: dict[tuple[str, str], str] = {}
    pending: list[Message] = []
    labels: list[Label] = []
    with MessageLogWriter(out, overwrite=overwrite, created_by="graphdet ingest") as writer:
        quarantine = _Quarantine(out)
        try:
            for path, fmt in inputs:
                n_file = 0
                try:
                    for record in iter_records(path, fmt):
                        n_file += 1
                        stats.records_in += 1
                        _handle(record, config, label, label_source, stats, seen, pending, labels, quarantine)
                        if progress is not None:
                            progress(1)
                        if len(pending) >= _FLUSH_ROWS:
                            writer.write_messages(pending)
                            pending.clear()
                except (OSError, EOFError, IngestError) as e:
                    # the container broke mid-file (truncated gzip...): count it, keep going
                    stats.records_in += 1
                    bad = RawRecord(f"{path}:after record {n_file}", error=f"unreadable input: {e}")
                    stats.quarantined += 1
                    stats.reasons[_reason_kind(bad.error or "")] += 1
                    quarantine.put(bad, bad.error or "")
                    logger.warning("%s: unreadable after %d records: %s", path, n_file, e)
            if pending:
                writer.write_messages(pending)
            if labels:
                writer.write_labels(labels)
        finally:
            quarantine.close()
        stats.labels_written = len(labels)
        stats.check()
        writer.set_info(ingest=stats.as_dict(), inputs=[str(p) for p in paths])
    return stats


def _handle(
    record: RawRecord,
    config: TenantConfig,
    label: Category | None,
    label_source: str,
    stats: IngestStats,
    seen: dict[tuple[str, str], str],
    pending: list[Message],
    labels: list[Label],
    quarantine: _Quarantine,
) -> None:
    try:
        messages, row_label = parse_record(record, config, label, label_source)
        first = messages[0]
        key = (first.tenant, first.message_id)
        if key in seen:
            raise RecordError(f"duplicate message id: {first.message_id} (first seen in {seen[key]})")
    except RecordError as e:
        stats.quarantined += 1
        stats.reasons[_reason_kind(str(e))] += 1
        quarantine.put(record, str(e))
        return
    stats.parsed += 1
    for m in messages:
        seen[(m.tenant, m.message_id)] = record.source
        stats.by_tenant[m.tenant] += 1
    stats.rows_written += len(messages)
    pending.extend(messages)
    if row_label is not None:
        labels.append(row_label)
