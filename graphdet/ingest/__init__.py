"""Ingest: raw mail (.eml, mbox, maildir) and tables (JSONL, CSV, Parquet) -> message log."""

from graphdet.ingest.pipeline import IngestStats, ingest, parse_record
from graphdet.ingest.rfc822 import RecordError, parse_message
from graphdet.ingest.sources import (
    RawRecord,
    SpamAssassinPart,
    detect_format,
    iter_records,
    iter_spamassassin,
    list_inputs,
    spamassassin_parts,
)
from graphdet.ingest.tables import row_to_messages, write_table_file

__all__ = [
    "IngestStats",
    "RawRecord",
    "RecordError",
    "SpamAssassinPart",
    "detect_format",
    "ingest",
    "iter_records",
    "iter_spamassassin",
    "list_inputs",
    "parse_message",
    "parse_record",
    "row_to_messages",
    "spamassassin_parts",
    "write_table_file",
]
