"""The decision chronicle: exact rows, rotation, DuckDB queries, and recovery after kill -9."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from graphdet.exceptions import GraphdetError
from graphdet.schema import Category, Decision, Verdict
from serving import chronicle
from serving.chronicle import DECISION_SCHEMA, ChronicleError, DecisionLog, query, read_decisions

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BASE = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
NAMES = ("sender_known", "pair_msgs_min_log", "gnn_plausibility_min", "sig_payment", "rule_BEC_GIFT_CARD")
VERDICTS = (Verdict.SAFE, Verdict.SUSPICIOUS, Verdict.MALICIOUS)
CATEGORIES = tuple(Category)


def make_decision(i: int) -> Decision:
    """A decision whose every field depends on ``i`` (so a mixed-up row is caught)."""
    return Decision(
        message_id=f"<m{i}@example.com>",
        tenant=f"tenant-{i % 3}",
        verdict=VERDICTS[i % 3],
        category=CATEGORIES[i % len(CATEGORIES)],
        score=i / 7,
        reasons=tuple(f"reason {i}.{k}" for k in range(i % 3)),
        attribution=tuple((NAMES[k], (i + 1) * 0.1 * k - 1 / 3) for k in range(i % 4)),
        rule_hits=tuple(f"RULE_{k}" for k in range(i % 2 + 1)),
        degraded=i % 5 == 0,
        degraded_reason="snapshot missing" if i % 5 == 0 else "",
        versions=(("snapshot", "s-2025-03-01"), ("model", f"m{i % 2}"), ("features", "f1-0123456789ab")),
    )


def features(i: int) -> np.ndarray[Any, Any]:
    return np.array([i, i / 3, math.nan if i % 7 == 0 else -1.5, 1e-3 * i, 1.0 / (i + 1)], dtype=np.float64)


def received(i: int) -> datetime:
    return BASE + timedelta(seconds=i, microseconds=i)


def decided(i: int) -> datetime:
    return received(i) + timedelta(milliseconds=3 * i + 1)


def append(log: DecisionLog, i: int) -> None:
    log.append(make_decision(i), received_at=received(i), decided_at=decided(i), features=features(i))


def assert_rows_are(folder: Path, expected: range | list[int]) -> None:
    """``folder`` holds exactly one row per expected decision, every field as appended."""
    table = read_decisions(folder)
    assert table.schema.equals(DECISION_SCHEMA)
    rows = table.to_pylist()
    ids = Counter(r["message_id"] for r in rows)
    assert ids == Counter(f"<m{i}@example.com>" for i in expected)
    assert len({(r["wal"], r["seq"]) for r in rows}) == len(rows)
    for r in rows:
        i = int(r["message_id"][2:].split("@")[0])
        d = make_decision(i)
        assert (r["tenant"], r["verdict"], r["category"], r["score"]) == (d.tenant, d.verdict, d.category, d.score)
        assert (r["degraded"], r["degraded_reason"]) == (d.degraded, d.degraded_reason)
        assert (tuple(r["reasons"]), tuple(r["rule_hits"])) == (d.reasons, d.rule_hits)
        assert tuple((a["feature"], a["contribution"]) for a in r["attribution"]) == d.attribution
        assert tuple((v["name"], v["version"]) for v in r["versions"]) == d.versions
        assert (r["received_at"], r["decided_at"]) == (received(i), decided(i))
        assert r["feature_schema"] == "f1-0123456789ab"
        np.testing.assert_array_equal(np.array(r["features"], dtype=np.float64), features(i))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("decisions-"))


def run_child(folder: Path, body: str) -> subprocess.CompletedProcess[str]:
    """Run ``body`` in a fresh interpreter with ``log`` open on ``folder`` and this module's helpers."""
    # serving/__init__ imports the engine (torch and all, ~8 s); the chronicle needs none of it,
    # so the child registers the bare package and loads only serving/chronicle.py
    src = REPO / "serving"
    code = (
        "import importlib.util, os, signal, sys, types\n"
        f"pkg = types.ModuleType('serving'); pkg.__path__ = [{str(src)!r}]; sys.modules['serving'] = pkg\n"
        f"spec = importlib.util.spec_from_file_location('serving.chronicle', {str(src / 'chronicle.py')!r})\n"
        "mod = importlib.util.module_from_spec(spec); sys.modules['serving.chronicle'] = mod\n"
        "spec.loader.exec_module(mod); pkg.chronicle = mod\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "from test_chronicle import NAMES, append\n"
        "from serving import chronicle\n"
        f"log = chronicle.DecisionLog({str(folder)!r}, flush_rows=1000, rotate_rows=4, feature_names=NAMES).open()\n"
        + body
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


# --------------------------------------------------------------------------- writing
def test_appends_from_threads_give_exactly_one_row_each_with_every_field(tmp_path: Path) -> None:
    threads, per_thread = 8, 250
    with DecisionLog(tmp_path, flush_rows=64, rotate_rows=50, feature_names=NAMES) as log:
        workers = [
            threading.Thread(target=lambda t=t: [append(log, t * per_thread + k) for k in range(per_thread)])
            for t in range(threads)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    assert_rows_are(tmp_path, range(threads * per_thread))
    assert leftovers(tmp_path) == []  # no WAL, no temp file


def test_rotation_writes_bounded_parts_and_query_reads_them_all(tmp_path: Path) -> None:
    with DecisionLog(tmp_path, flush_rows=25, rotate_rows=10, feature_names=NAMES) as log:
        for i in range(100):
            append(log, i)
    parts = sorted(tmp_path.glob("decisions-*.parquet"))
    assert len(parts) == 12  # four flushes of 25 rows, each split 10 + 10 + 5
    assert Counter(pq.read_metadata(p).num_rows for p in parts) == {10: 8, 5: 4}
    counts = query(tmp_path, "SELECT verdict, count(*) AS n FROM decisions GROUP BY 1 ORDER BY 1")
    assert counts.to_pydict() == {"verdict": ["malicious", "safe", "suspicious"], "n": [33, 34, 33]}
    top = query(tmp_path, "SELECT message_id, attribution[1].feature AS f FROM decisions WHERE seq = 3 ORDER BY 1")
    assert top.to_pydict() == {
        "message_id": ["<m28@example.com>", "<m3@example.com>", "<m53@example.com>", "<m78@example.com>"],
        "f": [None, "sender_known", "sender_known", "sender_known"],
    }


def test_query_of_empty_chronicle_is_empty_and_close_of_empty_log_writes_nothing(tmp_path: Path) -> None:
    log = DecisionLog(tmp_path / "chronicle")
    log.open()
    log.close()
    log.close()
    assert list((tmp_path / "chronicle").iterdir()) == []
    assert query(tmp_path / "chronicle", "SELECT count(*) AS n FROM decisions").to_pydict() == {"n": [0]}
    assert read_decisions(tmp_path / "chronicle").num_rows == 0


def test_bad_input_is_refused_with_a_message_naming_it(tmp_path: Path) -> None:
    log = DecisionLog(tmp_path)
    with pytest.raises(ChronicleError, match="is not open"):
        append(log, 1)
    with pytest.raises(ChronicleError, match="flush_rows must be a positive integer, got 0"):
        DecisionLog(tmp_path, flush_rows=0).open()
    with DecisionLog(tmp_path, feature_names=NAMES) as log:
        with pytest.raises(ChronicleError, match=r"<m1@example.com>.* 3 values.* 5 feature names"):
            log.append(make_decision(1), received_at=received(1), features=np.zeros(3))
        with pytest.raises(ChronicleError, match=r"received_at of message '<m2@example.com>' must be timezone-aware"):
            log.append(make_decision(2), received_at=datetime(2025, 1, 1))
        append(log, 3)
    assert_rows_are(tmp_path, [3])


def test_query_errors_name_the_sql_and_the_folder(tmp_path: Path) -> None:
    with DecisionLog(tmp_path) as log:
        append(log, 1)
    with pytest.raises(ChronicleError, match=r"(?s)query over decision chronicle .* failed: .*SQL: SELEC verdict"):
        query(tmp_path, "SELEC verdict FROM decisions")
    with pytest.raises(ChronicleError, match="no_such_column"):
        query(tmp_path, "SELECT no_such_column FROM decisions")
    missing = tmp_path / "nowhere"
    with pytest.raises(ChronicleError, match=f"folder '{missing}' does not exist"):
        query(missing, "SELECT 1")
    with pytest.raises(ChronicleError, match="does not exist"):
        read_decisions(missing)


def test_public_api_and_error_hierarchy() -> None:
    assert set(chronicle.__all__) == {
        "CHRONICLE_SCHEMA_VERSION", "DECISION_SCHEMA", "ChronicleError", "DecisionLog", "query", "read_decisions",
    }
    assert issubclass(ChronicleError, GraphdetError)


# --------------------------------------------------------------------------- crashes
def test_sigkill_after_some_flushed_loses_and_doubles_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    child = run_child(
        tmp_path,
        "for i in range(10): append(log, i)\n"
        "log.flush()\n"
        "for i in range(10, 17): append(log, i)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n",
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert len(list(tmp_path.glob("decisions-*.parquet"))) == 3  # 10 rows, rotate_rows=4
    [wal] = tmp_path.glob("wal-*.jsonl")
    assert len(wal.read_text().splitlines()) == 1 + 7  # header + the unflushed rows
    with wal.open("a") as f:
        f.write('{"message_id": "<torn')  # an append cut off mid-line never returned: not a decision
    caplog.set_level(logging.INFO, logger="serving.chronicle")
    with DecisionLog(tmp_path, rotate_rows=100) as log:
        assert log.recovered_ == 7
    assert_rows_are(tmp_path, range(17))
    assert leftovers(tmp_path) == []
    assert "dropping a torn last line" in caplog.text
    with DecisionLog(tmp_path) as log:  # recovering again finds nothing to do
        assert log.recovered_ == 0
    assert_rows_are(tmp_path, range(17))


def test_sigkill_between_temp_write_and_rename(tmp_path: Path) -> None:
    child = run_child(
        tmp_path,
        "for i in range(6): append(log, i)\n"
        "chronicle.os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
        "log.flush()\n",
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert len(list(tmp_path.glob(".decisions-*.parquet.tmp"))) == 1
    assert list(tmp_path.glob("decisions-*.parquet")) == []
    with DecisionLog(tmp_path) as log:
        assert log.recovered_ == 6
    assert_rows_are(tmp_path, range(6))
    assert leftovers(tmp_path) == []


def test_sigterm_with_shutdown_handlers_flushes_without_recovery(tmp_path: Path) -> None:
    child = run_child(
        tmp_path,
        "import time\n"
        "log.install_shutdown_handlers()\n"
        "for i in range(5): append(log, i)\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "time.sleep(30)\n",
    )
    assert child.returncode == 128 + signal.SIGTERM, child.stderr
    assert leftovers(tmp_path) == []  # the atexit close flushed and removed the WAL
    assert_rows_are(tmp_path, range(5))


def _die_after_parts(self: DecisionLog, path: Path, fd: int) -> None:
    """The process 'dies' after its parts were renamed: the WAL stays, its lock goes."""
    os.close(fd)


def test_crash_between_part_rename_and_wal_removal_is_not_doubled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(DecisionLog, "_retire_wal", _die_after_parts)
    dead = DecisionLog(tmp_path, flush_rows=1000, rotate_rows=4, feature_names=NAMES).open()
    for i in range(10):
        append(dead, i)
    dead.flush()
    assert len(list(tmp_path.glob("decisions-*.parquet"))) == 3
    assert len(list(tmp_path.glob("wal-*.jsonl"))) == 1
    monkeypatch.undo()
    with DecisionLog(tmp_path, rotate_rows=3) as log:  # another split than the dead writer's
        assert log.recovered_ == 0
    assert_rows_are(tmp_path, range(10))
    assert leftovers(tmp_path) == []


def test_crash_between_two_part_renames_writes_only_the_missing_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(DecisionLog, "_retire_wal", _die_after_parts)
    dead = DecisionLog(tmp_path, flush_rows=1000, rotate_rows=4).open()
    for i in range(10):
        append(dead, i)
    dead.flush()
    monkeypatch.undo()
    last = sorted(tmp_path.glob("decisions-*.parquet"))[-1]
    last.unlink()  # as if killed before the third rename: rows 8 and 9 are only in the WAL
    with DecisionLog(tmp_path, rotate_rows=3) as log:
        assert log.recovered_ == 2
    assert_rows_are(tmp_path, range(10))
    assert len(list(tmp_path.glob("decisions-*.parquet"))) == 3


def test_a_live_writers_wal_is_never_recovered_by_another_log(tmp_path: Path) -> None:
    live = DecisionLog(tmp_path, feature_names=NAMES).open()
    for i in range(3):
        append(live, i)
    with DecisionLog(tmp_path) as other:
        assert other.recovered_ == 0
        append(other, 3)
    assert len(list(tmp_path.glob("wal-*.jsonl"))) == 1  # still the live writer's
    live.close()
    assert_rows_are(tmp_path, range(4))


def _wal_with(tmp_path: Path, lines: list[str]) -> Path:
    """A dead writer's WAL (no live lock) holding ``lines`` after the header; rows 0, 1 valid."""
    with DecisionLog(tmp_path / "src", feature_names=NAMES) as src:
        for i in range(2):
            append(src, i)
        wal = src._wal
        assert wal is not None
        good = wal.path.read_bytes()
        src._wal = None  # leave the WAL behind, as a killed writer does
        os.close(wal.fd)
    path = tmp_path / "wal-20250101T000000000000Z-1-0.jsonl"
    path.write_bytes(good + "".join(line + "\n" for line in lines).encode())
    return path


def test_corrupt_wal_lines_are_quarantined_with_file_and_line_and_the_rest_recovered(tmp_path: Path) -> None:
    """Recovery never refuses to open (a service could not start): a line that is no row goes
    to quarantine-<wal>.jsonl with its reason, counted; the good rows become parts."""
    wal = _wal_with(tmp_path, ["not json", '{"seq": "x"}'])
    with DecisionLog(tmp_path) as log:
        assert log.recovered_ == 2 and log.quarantined_ == 2
    assert_rows_are(tmp_path, range(2))
    assert not wal.exists()
    quarantine = tmp_path / "quarantine-20250101T000000000000Z-1-0.jsonl"
    held = [json.loads(x) for x in quarantine.read_text().splitlines()]
    assert [(q["at"], q["line"]) for q in held] == [(4, "not json"), (5, '{"seq": "x"}')]
    assert all("wal-20250101T000000000000Z-1-0.jsonl:" in q["reason"] and "corrupt WAL line" in q["reason"]
               for q in held)


def test_a_row_parquet_cannot_hold_is_quarantined_and_the_others_written(tmp_path: Path) -> None:
    wal = _wal_with(tmp_path, ['{"seq": 2, "message_id": "<x>", "score": "not a number", "features": null}'])
    with DecisionLog(tmp_path) as log:
        assert log.recovered_ == 2 and log.quarantined_ == 1
    assert_rows_are(tmp_path, range(2))
    assert not wal.exists()
    quarantine = tmp_path / "quarantine-20250101T000000000000Z-1-0.jsonl"
    (held,) = [json.loads(x) for x in quarantine.read_text().splitlines()]
    assert held["at"] == 2 and '"not a number"' in held["line"]


def test_a_wal_without_header_is_quarantined_whole(tmp_path: Path) -> None:
    wal = tmp_path / "wal-20250101T000000000000Z-1-0.jsonl"
    wal.write_text("garbage header\n{}\n")
    with DecisionLog(tmp_path) as log:
        assert log.quarantined_ == 2
    assert not wal.exists() and read_decisions(tmp_path).num_rows == 0
    held = (tmp_path / "quarantine-20250101T000000000000Z-1-0.jsonl").read_text().splitlines()
    assert len(held) == 2 and "not a chronicle WAL header" in json.loads(held[0])["reason"]


def test_text_that_is_not_utf8_is_stored_escaped_and_never_blocks_a_flush(tmp_path: Path) -> None:
    """A lone surrogate (JSON's "\\ud800") in an id or a reason is stored as its escape: before,
    it made every flush fail and kept all later rows out of Parquet."""
    with DecisionLog(tmp_path, flush_rows=2) as log:
        d = make_decision(0)
        odd = dataclasses.replace(d, message_id="\ud800abc", reasons=("name \udcff",))
        log.append(odd, received_at=received(0), decided_at=decided(0), features=features(0))
        for i in range(1, 4):
            append(log, i)
    rows = read_decisions(tmp_path).to_pylist()
    assert len(rows) == 4 and log.quarantined_ == 0
    assert rows[0]["message_id"] == "\\ud800abc" and rows[0]["reasons"] == ["name \\udcff"]


@pytest.mark.parametrize("field", ["message_id", "tenant", "reasons"])
def test_a_decision_of_the_wrong_shape_is_refused_at_append_naming_the_field(tmp_path: Path, field: str) -> None:
    d = make_decision(1)
    bad = dataclasses.replace(d, **{field: None if field != "reasons" else (None,)})
    with DecisionLog(tmp_path) as log:
        with pytest.raises(ChronicleError, match="must be a string, got NoneType"):
            log.append(bad, received_at=received(1), decided_at=decided(1))
        append(log, 2)  # the log goes on
    assert_rows_are(tmp_path, [2])
