"""The decision chronicle: every decision, once, in Parquet files that DuckDB can query.

Layout of a chronicle folder::

    DIR/decisions-<wal id>-<first seq>.parquet   immutable parts, DECISION_SCHEMA, <= rotate_rows rows
    DIR/wal-<wal id>.jsonl                       write-ahead log of rows not yet in a part
    DIR/.decisions-....parquet.tmp, DIR/.wal-....jsonl.new     in-flight files (never read)

where ``<wal id>`` is ``<UTC timestamp>-<pid>-<n>`` (``20250102T030405123456Z-4242-7``): the
time the write-ahead log was started, the writing process and a per-process counter, so part
names sort by time and no two logs ever share an id. :func:`query` exposes every part as the
view ``decisions``; :func:`read_decisions` reads them into one Arrow table.

Durability: exactly one row per acknowledged decision, also after ``kill -9``
-----------------------------------------------------------------------------
``append`` returns only after the row is one complete JSON line in the current WAL, written
with a single ``os.write`` (in the kernel's page cache, so a killed process loses nothing; a
power loss would need fsync, which this log does not pay for). The first line of a WAL is a
header (the feature names); every later line carries the row's ``seq``, its line number.

``flush`` swaps the buffer and its WAL out under the lock (appends go on into a fresh WAL),
writes the rows as parts named ``decisions-<wal id>-<first seq>.parquet`` (each to a hidden
temp name, then ``os.replace``), and only then unlinks the WAL. Every row of a part carries
its ``wal`` id and ``seq``. A crash at any point therefore leaves one of:

1. a torn last WAL line: that ``append`` never returned; the line is dropped (and logged);
2. a WAL with no part yet, perhaps a half-written temp file: the temp file is deleted and the
   rows are written from the WAL;
3. a WAL and some or all of its parts (killed between a rename and the unlink): recovery
   reads the ``seq`` column of the parts named after this WAL and writes only the rows that
   are missing, so nothing is doubled, even when the recovering process uses another
   ``rotate_rows`` and so another split;
4. parts and no WAL: the flush was complete.

Recovery (``open``) may itself crash anywhere; it leaves one of the same four states, so the
next ``open`` finishes the job. A WAL is "leftover" only if no live process owns it: the owner
holds an exclusive ``flock`` on it from creation (the file is created under a hidden name,
locked, then linked into place) until after it is unlinked, and the kernel drops the lock when
the owner dies, however it dies. Recovery takes the same lock without waiting and skips a WAL
it cannot lock, so several services may share one folder, and two recovering processes never
convert the same WAL twice (the loser finds the file gone or replaced and skips it).

Parts are written from the appending thread that fills the buffer (``flush_rows``) or from an
explicit ``flush``/``close``; a part is never appended to, so "rotation" means many bounded
files: a flush writes ``ceil(rows / rotate_rows)`` parts.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import itertools
import json
import logging
import os
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from graphdet.exceptions import GraphdetError
from graphdet.schema import Category, Decision, Verdict

__all__ = [
    "CHRONICLE_SCHEMA_VERSION",
    "DECISION_SCHEMA",
    "ChronicleError",
    "DecisionLog",
    "query",
    "read_decisions",
]

logger = logging.getLogger(__name__)

CHRONICLE_SCHEMA_VERSION = "1"

ATTRIBUTION_TYPE = pa.struct([("feature", pa.string()), ("contribution", pa.float64())])
VERSION_TYPE = pa.struct([("name", pa.string()), ("version", pa.string())])

#: One row per decision. ``features`` is null when the caller had no vector (a degraded
#: decision); ``feature_schema`` is the decision's ``versions["features"]`` ("" if absent) and
#: the part's metadata key ``graphdet.feature_names`` names the vector's columns.
#: ``wal`` + ``seq`` identify the row's write-ahead-log line (unique; used by recovery).
DECISION_SCHEMA = pa.schema(
    [
        pa.field("message_id", pa.string(), nullable=False),
        pa.field("tenant", pa.string(), nullable=False),
        pa.field("received_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("decided_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("verdict", pa.string(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("degraded", pa.bool_(), nullable=False),
        pa.field("degraded_reason", pa.string(), nullable=False),
        pa.field("rule_hits", pa.list_(pa.string()), nullable=False),
        pa.field("reasons", pa.list_(pa.string()), nullable=False),
        pa.field("attribution", pa.list_(ATTRIBUTION_TYPE), nullable=False),
        pa.field("versions", pa.list_(VERSION_TYPE), nullable=False),
        pa.field("features", pa.list_(pa.float64()), nullable=True),
        pa.field("feature_schema", pa.string(), nullable=False),
        pa.field("wal", pa.string(), nullable=False),
        pa.field("seq", pa.int64(), nullable=False),
    ],
    metadata={"graphdet.chronicle.schema_version": CHRONICLE_SCHEMA_VERSION},
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_WAL_COUNTER = itertools.count()
_Row = dict[str, Any]


# what building a table from rows raises on a row that does not fit DECISION_SCHEMA
_ROW_ERRORS = (pa.ArrowException, TypeError, ValueError, OverflowError, KeyError)


class ChronicleError(GraphdetError):
    """The decision chronicle cannot be written, recovered or queried; names the folder/file."""


def _micros(value: datetime, what: str) -> int:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ChronicleError(f"{what} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return (value - _EPOCH) // _US


def _text(value: object, what: str, message_id: object) -> str:
    """``value`` as a string Parquet can store: a lone surrogate (JSON allows ``"\\ud800"``)
    becomes its escape, text. Anything but a string is an error naming the field."""
    if not isinstance(value, str):
        raise ChronicleError(f"{what} of message {message_id!r:.80} must be a string, got {type(value).__name__}")
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _decision_row(decision: Decision, received_at: datetime, decided_at: datetime, features: Any) -> _Row:
    """The chronicle row of one decision, every field checked and of the type its column holds
    (so a row that enters the WAL can always be written to Parquet)."""
    mid = decision.message_id
    vector: np.ndarray[Any, Any] | None = None
    if features is not None:
        vector = np.array(features, dtype="<f8")  # a copy: the caller may reuse its buffer
        if vector.ndim != 1:
            raise ChronicleError(
                f"features for message {mid!r:.80} must be one vector, got shape {vector.shape}"
            )
    for what, value in (("received_at", received_at), ("decided_at", decided_at)):
        if not isinstance(value, datetime):
            raise ChronicleError(f"{what} of message {mid!r:.80} must be a datetime, got {type(value).__name__}")
    try:
        score = float(decision.score)
        attribution = [[_text(f, "attribution feature", mid), float(c)] for f, c in decision.attribution]
        versions = [[_text(n, "version name", mid), _text(v, "version", mid)] for n, v in decision.versions]
    except (TypeError, ValueError) as e:
        raise ChronicleError(f"decision of message {mid!r:.80} is malformed ({type(e).__name__}: {e})") from None
    return {
        "message_id": _text(mid, "message_id", mid),
        "tenant": _text(decision.tenant, "tenant", mid),
        "received_at": _micros(received_at, f"received_at of message {mid!r:.80}"),
        "decided_at": _micros(decided_at, f"decided_at of message {mid!r:.80}"),
        "verdict": _text(str(decision.verdict), "verdict", mid),
        "category": _text(str(decision.category), "category", mid),
        "score": score,
        "degraded": bool(decision.degraded),
        "degraded_reason": _text(decision.degraded_reason, "degraded_reason", mid),
        "rule_hits": [_text(h, "rule hit", mid) for h in decision.rule_hits],
        "reasons": [_text(r, "reason", mid) for r in decision.reasons],
        "attribution": attribution,
        "versions": versions,
        "features": vector,
        "feature_schema": _text(dict(versions).get("features", ""), "feature schema", mid),
    }


def _wal_line(row: _Row) -> bytes:
    """One WAL line; the vector travels as base64 of its little-endian float64 bytes (exact, fast)."""
    vector = row["features"]
    encoded = None if vector is None else base64.b64encode(vector.tobytes()).decode()
    return json.dumps({**row, "features": encoded}, separators=(",", ":")).encode() + b"\n"


def _offsets(lengths: Sequence[int]) -> pa.Array:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.array(offsets)


def _list_column(rows: Sequence[_Row], key: str, child: pa.Array) -> pa.Array:
    return pa.ListArray.from_arrays(_offsets([len(r[key]) for r in rows]), child)


def _features_column(rows: Sequence[_Row]) -> pa.Array:
    vectors = [r["features"] for r in rows]
    present = [v for v in vectors if v is not None]
    values = np.concatenate(present) if present else np.zeros(0, dtype="<f8")
    return pa.ListArray.from_arrays(
        _offsets([0 if v is None else len(v) for v in vectors]),
        pa.array(values, type=pa.float64()),
        type=pa.list_(pa.float64()),
        mask=pa.array([v is None for v in vectors], type=pa.bool_()),
    )


def _pairs_column(
    rows: Sequence[_Row], key: str, names: tuple[str, str], kinds: tuple[pa.DataType, pa.DataType]
) -> pa.Array:
    flat = [p for r in rows for p in r[key]]
    child = pa.StructArray.from_arrays(
        [pa.array([p[0] for p in flat], type=kinds[0]), pa.array([p[1] for p in flat], type=kinds[1])],
        fields=[pa.field(names[0], kinds[0]), pa.field(names[1], kinds[1])],
    )
    return _list_column(rows, key, child)


def _rows_to_table(rows: Sequence[_Row], wal_id: str, feature_names: Sequence[str]) -> pa.Table:
    def col(key: str, kind: pa.DataType) -> pa.Array:
        return pa.array([r[key] for r in rows], type=kind)

    columns = [
        col("message_id", pa.string()),
        col("tenant", pa.string()),
        col("received_at", pa.timestamp("us", tz="UTC")),
        col("decided_at", pa.timestamp("us", tz="UTC")),
        col("verdict", pa.string()),
        col("category", pa.string()),
        col("score", pa.float64()),
        col("degraded", pa.bool_()),
        col("degraded_reason", pa.string()),
        col("rule_hits", pa.list_(pa.string())),
        col("reasons", pa.list_(pa.string())),
        _pairs_column(rows, "attribution", ("feature", "contribution"), (pa.string(), pa.float64())),
        _pairs_column(rows, "versions", ("name", "version"), (pa.string(), pa.string())),
        _features_column(rows),
        col("feature_schema", pa.string()),
        pa.array([wal_id] * len(rows), type=pa.string()),
        col("seq", pa.int64()),
    ]
    metadata = dict(DECISION_SCHEMA.metadata or {})
    metadata[b"graphdet.feature_names"] = json.dumps(list(feature_names)).encode()
    return pa.Table.from_arrays(columns, schema=DECISION_SCHEMA.with_metadata(metadata))


def _warm_up() -> None:
    """Write one row to memory, so that pyarrow's lazy imports (pandas) happen now, not in a flush
    at interpreter exit, where starting a module that registers an atexit hook fails."""
    sample = Decision("warm-up", "", Verdict.SAFE, Category.SAFE, 0.0, versions=(("features", ""),))
    row = _decision_row(sample, _EPOCH, _EPOCH, np.zeros(1)) | {"seq": 0}
    pq.write_table(_rows_to_table([row], "warm-up", ()), pa.BufferOutputStream())


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _lock_existing(path: Path) -> int | None:
    """An fd holding the exclusive lock of ``path``, or None if a live process owns it or it is gone."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        now, mine = os.stat(path), os.fstat(fd)  # the file may have been recovered and removed meanwhile
        if (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino):
            raise FileNotFoundError(path)
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None
    return fd


def _read_wal(path: Path) -> tuple[list[str], list[_Row], list[tuple[int, bytes, str]]]:
    """The header's feature names, the complete rows of one WAL, and its unreadable lines
    (line number, bytes, why); a torn last line is dropped (its append never returned)."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    if lines[-1]:
        logger.warning("%s: dropping a torn last line (%d bytes): its append never returned", path, len(lines[-1]))
    complete = lines[:-1]
    if not complete:
        return [], [], []
    try:
        header = json.loads(complete[0])
        names = [str(n) for n in header["feature_names"]]
    except (ValueError, KeyError, TypeError) as e:
        raise ChronicleError(f"{path}:1: not a chronicle WAL header ({e})") from e
    rows: list[_Row] = []
    bad: list[tuple[int, bytes, str]] = []
    for lineno, line in enumerate(complete[1:], start=2):
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or not isinstance(row.get("seq"), int):
                raise ValueError("not a row object with an integer seq")
            if row["features"] is not None:
                row["features"] = np.frombuffer(base64.b64decode(row["features"], validate=True), dtype="<f8")
        except (ValueError, KeyError, TypeError) as e:
            bad.append((lineno, line, f"{path}:{lineno}: corrupt WAL line ({type(e).__name__}: {e})"))
            continue
        rows.append(row)
    return names, rows, bad


@dataclass
class _Wal:
    """One write-ahead log: its id, locked fd, next seq, and the rows it holds that are not in a part."""

    wal_id: str
    path: Path
    fd: int
    feature_names: tuple[str, ...]
    next_seq: int = 0
    rows: list[_Row] = field(default_factory=list)


class DecisionLog:
    """Append-only chronicle of decisions in ``folder``; see the module docstring for the guarantees.

    ``flush_rows``: buffered rows that trigger a flush; ``rotate_rows``: most rows per Parquet
    part; ``feature_names``: the columns of the ``features`` vectors (checked against their
    length, stored in each part's metadata). Use as a context manager or call ``open`` /
    ``close``. ``recovered_`` is the number of rows ``open`` recovered from dead processes.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        flush_rows: int = 1000,
        rotate_rows: int = 100_000,
        feature_names: Sequence[str] = (),
    ) -> None:
        self.folder = folder
        self.flush_rows = flush_rows
        self.rotate_rows = rotate_rows
        self.feature_names = feature_names
        self._lock = threading.Lock()  # the current WAL and its buffered rows
        self._flush_lock = threading.Lock()  # one flush (or recovery) at a time
        self._wal: _Wal | None = None
        self._pending: list[_Wal] = []  # swapped out, parts not yet (all) written
        self._open = False
        self.quarantined_ = 0  # WAL lines set aside in quarantine-*.jsonl (unreadable or unstorable)

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> DecisionLog:
        """Create the folder, recover what dead writers left in WALs, and accept appends."""
        for name in ("flush_rows", "rotate_rows"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ChronicleError(f"DecisionLog option {name} must be a positive integer, got {value!r}")
        self._folder = Path(self.folder)
        self._names = tuple(str(n) for n in self.feature_names)
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ChronicleError(f"cannot create chronicle folder {self._folder}: {e}") from e
        _warm_up()
        with self._flush_lock:
            self.recovered_ = self._recover()
        with self._lock:
            self._open = True
        return self

    def close(self) -> None:
        """Flush everything and stop accepting appends; closing twice, or an empty log, is harmless."""
        with self._lock:
            self._open = False
        self.flush()  # also retries a flush that failed before
        atexit.unregister(self.close)

    def __enter__(self) -> DecisionLog:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def install_shutdown_handlers(self) -> None:
        """For services: close (flush) at interpreter exit, and turn SIGTERM into a clean exit.

        The SIGTERM handler raises ``SystemExit`` in the main thread (or calls a handler that was
        installed before), so ``finally`` blocks and the atexit flush run. Call from the main
        thread. Rows appended before a SIGKILL are recovered by the next ``open`` anyway.
        """
        if threading.current_thread() is not threading.main_thread():
            raise ChronicleError("install_shutdown_handlers must be called from the main thread (signal handlers)")
        atexit.register(self.close)
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            if callable(previous):
                previous(signum, frame)
            else:
                raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, on_sigterm)

    # ------------------------------------------------------------------ writing
    def append(
        self,
        decision: Decision,
        *,
        received_at: datetime,
        decided_at: datetime | None = None,
        features: np.ndarray[Any, Any] | None = None,
    ) -> None:
        """Record one decision; when this returns the row survives a crash of this process."""
        if not self._open:
            raise ChronicleError(f"DecisionLog({str(self.folder)!r}) is not open: call open() or use `with`")
        row = _decision_row(decision, received_at, datetime.now(UTC) if decided_at is None else decided_at, features)
        vector = row["features"]
        if vector is not None and self._names and len(vector) != len(self._names):
            raise ChronicleError(
                f"features for message {decision.message_id!r} have {len(vector)} values, "
                f"the chronicle in {self._folder} was opened with {len(self._names)} feature names"
            )
        with self._lock:
            if not self._open:
                raise ChronicleError(f"DecisionLog({str(self.folder)!r}) is not open: call open() or use `with`")
            wal = self._wal or self._start_wal()
            row["seq"] = wal.next_seq
            _write_all(wal.fd, _wal_line(row))
            wal.next_seq += 1
            wal.rows.append(row)
            full = len(wal.rows) >= self.flush_rows
        if full:
            self._flush(self.flush_rows)

    def flush(self) -> None:
        """Write every buffered row to Parquet parts, then drop the WALs they came from."""
        self._flush(0)

    def _flush(self, min_rows: int) -> None:
        """Swap out the current WAL if it holds ``min_rows`` rows or more, then write all pending WALs."""
        with self._flush_lock:
            with self._lock:
                if self._wal is not None and len(self._wal.rows) >= min_rows:
                    self._pending.append(self._wal)
                    self._wal = None
            while self._pending:
                wal = self._pending[0]
                bad = self._write_parts(wal.wal_id, wal.rows, wal.feature_names)  # raises: stays pending
                self._quarantine(wal.wal_id, [(r["seq"], _wal_line(r), why) for r, why in bad])
                self._pending.pop(0)
                self._retire_wal(wal.path, wal.fd)

    def _start_wal(self) -> _Wal:
        """Create, lock and publish a fresh WAL (called with ``_lock`` held)."""
        header = json.dumps({"chronicle": CHRONICLE_SCHEMA_VERSION, "feature_names": list(self._names)}).encode()
        while True:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            wal_id = f"{stamp}-{os.getpid()}-{next(_WAL_COUNTER)}"
            path, hidden = self._folder / f"wal-{wal_id}.jsonl", self._folder / f".wal-{wal_id}.jsonl.new"
            try:
                fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
            except OSError as e:
                raise ChronicleError(f"cannot create a WAL in chronicle folder {self._folder}: {e}") from e
            fcntl.flock(fd, fcntl.LOCK_EX)
            _write_all(fd, header + b"\n")
            try:
                os.link(hidden, path)  # unlike rename, never replaces an existing WAL
            except FileExistsError:
                os.unlink(hidden)
                os.close(fd)
                continue
            os.unlink(hidden)
            self._wal = _Wal(wal_id, path, fd, self._names)
            return self._wal

    def _write_parts(self, wal_id: str, rows: Sequence[_Row], feature_names: Sequence[str]) -> list[tuple[_Row, str]]:
        """Write ``rows`` as parts; returns the rows no Parquet table can hold, with why (the
        others are written). An I/O failure raises :class:`ChronicleError` (the rows stay in the WAL)."""
        unwritable: list[tuple[_Row, str]] = []
        for start in range(0, len(rows), self.rotate_rows):
            chunk = rows[start : start + self.rotate_rows]
            try:
                table = _rows_to_table(chunk, wal_id, feature_names)
            except _ROW_ERRORS:  # some row does not fit the schema: keep the rest, set it aside
                good = []
                for r in chunk:
                    try:
                        _rows_to_table([r], wal_id, feature_names)
                    except _ROW_ERRORS as e:
                        unwritable.append((r, f"{type(e).__name__}: {e}"))
                    else:
                        good.append(r)
                if not good:
                    continue
                chunk, table = good, _rows_to_table(good, wal_id, feature_names)
            name = f"decisions-{wal_id}-{chunk[0]['seq']:09d}.parquet"
            final, tmp = self._folder / name, self._folder / f".{name}.tmp"
            try:
                pq.write_table(table, tmp)
                os.replace(tmp, final)
            except (OSError, pa.ArrowException) as e:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise ChronicleError(f"cannot write chronicle part {final}: {e}; its rows stay in the WAL") from e
            logger.debug("wrote %d decisions to %s", len(chunk), final)
        return unwritable

    def _quarantine(self, wal_id: str, items: Sequence[tuple[int, bytes, str]]) -> None:
        """Set aside WAL lines that cannot become rows (seq or line number, the line, why) in
        ``quarantine-<wal id>.jsonl``: not in the ``decisions`` view, never lost, counted."""
        if not items:
            return
        path = self._folder / f"quarantine-{wal_id}.jsonl"
        lines = b"".join(
            json.dumps({"wal": wal_id, "at": at, "reason": why,
                        "line": line.rstrip(b"\n").decode("utf-8", "backslashreplace")}).encode() + b"\n"
            for at, line, why in items
        )
        with open(path, "ab") as f:
            f.write(lines)
        self.quarantined_ += len(items)
        logger.error("chronicle: %d decision(s) of wal-%s cannot be stored as Parquet rows; set aside in %s "
                     "(first: %s)", len(items), wal_id, path, items[0][2])

    def _retire_wal(self, path: Path, fd: int) -> None:
        """Remove a WAL whose rows are all in parts; the lock goes only after the unlink."""
        try:
            path.unlink(missing_ok=True)
        except OSError as e:  # its rows are in parts: the next open() finds them and skips them
            logger.warning("could not remove %s after writing its parts: %s", path, e)
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ recovery
    def _recover(self) -> int:
        for stale in self._folder.glob(".wal-*.jsonl.new"):  # created, never published: no rows
            fd = _lock_existing(stale)
            if fd is not None:
                self._retire_wal(stale, fd)
        recovered = 0
        for path in sorted(self._folder.glob("wal-*.jsonl")):
            fd = _lock_existing(path)
            if fd is None:
                continue  # a live writer's, or another process recovered it just now
            wal_id = path.name[len("wal-") : -len(".jsonl")]
            try:
                try:
                    names, rows, corrupt = _read_wal(path)
                except ChronicleError as e:  # no header: nothing in it can be read as rows
                    whole = path.read_bytes()
                    self._quarantine(wal_id, [(i + 1, line, str(e)) for i, line in enumerate(whole.split(b"\n"))
                                              if line])
                    names, rows, corrupt = [], [], []
                for tmp in self._folder.glob(f".decisions-{wal_id}-*.parquet.tmp"):
                    tmp.unlink(missing_ok=True)
                done = self._written_seqs(wal_id)
                missing = [r for r in rows if r["seq"] not in done]
                bad = self._write_parts(wal_id, missing, names)
                self._quarantine(wal_id, corrupt + [(r["seq"], _wal_line(r), why) for r, why in bad])
            except BaseException:
                os.close(fd)
                raise
            self._retire_wal(path, fd)
            recovered += len(missing) - len(bad)
            skipped = len(rows) - len(missing)
            logger.info("recovered %d decisions from %s (%d were already in parts, %d set aside)",
                        len(missing) - len(bad), path, skipped, len(bad) + len(corrupt))
        return recovered

    def _written_seqs(self, wal_id: str) -> set[int]:
        seqs: set[int] = set()
        for part in self._folder.glob(f"decisions-{wal_id}-*.parquet"):
            try:
                seqs.update(pq.read_table(part, columns=["seq"]).column("seq").to_pylist())
            except (OSError, pa.ArrowException) as e:
                raise ChronicleError(f"cannot read chronicle part {part} while recovering wal-{wal_id}: {e}") from e
        return seqs


# ---------------------------------------------------------------------- reading
def _parts(folder: str | os.PathLike[str]) -> list[Path]:
    path = Path(folder)
    if not path.is_dir():
        raise ChronicleError(f"decision chronicle folder {str(folder)!r} does not exist")
    return sorted(path.glob("decisions-*.parquet"))


def read_decisions(folder: str | os.PathLike[str]) -> pa.Table:
    """Every flushed decision of ``folder`` (parts in name order), as one DECISION_SCHEMA table."""
    try:
        tables = [pq.read_table(p).cast(DECISION_SCHEMA) for p in _parts(folder)]
    except (OSError, pa.ArrowException) as e:
        raise ChronicleError(f"cannot read decision chronicle {str(folder)!r}: {e}") from e
    return pa.concat_tables(tables) if tables else DECISION_SCHEMA.empty_table()


def query(folder: str | os.PathLike[str], sql: str) -> pa.Table:
    """Run DuckDB ``sql`` over the chronicle in ``folder``, visible as the view ``decisions``.

    >>> query(folder, "SELECT verdict, count(*) AS n FROM decisions GROUP BY 1")  # doctest: +SKIP
    """
    parts = _parts(folder)
    con = duckdb.connect()
    try:
        if parts:
            con.read_parquet([str(p) for p in parts], union_by_name=True).create_view("decisions")
        else:
            con.from_arrow(DECISION_SCHEMA.empty_table()).create_view("decisions")
        result = con.sql(sql)
        return pa.table({}) if result is None else result.to_arrow_table()  # None: a statement without rows
    except duckdb.Error as e:
        raise ChronicleError(f"query over decision chronicle {str(folder)!r} failed: {e}\nSQL: {sql}") from e
    finally:
        con.close()
