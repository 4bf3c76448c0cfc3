"""Benchmark: the decision chronicle's append latency, flush cost, recovery and query time.

    .venv/bin/python bench/bench_chronicle.py [--rows 50000] [--threads 8] [--features 80]

Appends ``--rows`` synthetic decisions (5 attributions, 3 rule hits, a float32 vector of
``--features`` values) into a temporary folder, once from one thread and once from
``--threads`` threads, with the default ``flush_rows`` (auto-flushes included in the append
that triggers them). Then times recovery of an unflushed WAL of ``flush_rows`` rows and a
GROUP BY query over everything. Prints one JSON object (date, machine, command, figures).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from graphdet.schema import Category, Decision, Verdict
from serving.chronicle import DecisionLog, query


def decisions(n: int) -> list[Decision]:
    verdicts, categories = tuple(Verdict), tuple(Category)
    return [
        Decision(
            message_id=f"<bench-{i}@example.com>", tenant=f"tenant-{i % 10}", verdict=verdicts[i % 3],
            category=categories[i % len(categories)], score=(i % 1000) / 1000,
            reasons=("first message from this sender to this recipient",),
            attribution=tuple((f"feature_{k}", 0.1 * k) for k in range(5)),
            rule_hits=("BEC_GIFT_CARD", "URGENCY", "FREEMAIL_SENDER"),
            versions=(("snapshot", "s1"), ("model", "m1"), ("rules", "r1"), ("features", "f1-bench")),
        )
        for i in range(n)
    ]


def run_appends(folder: Path, items: list[Decision], vectors: np.ndarray, threads: int) -> list[float]:
    now = dt.datetime.now(dt.UTC)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    with DecisionLog(folder) as log:

        def work(t: int) -> None:
            for i in range(t, len(items), threads):
                start = time.perf_counter()
                log.append(items[i], received_at=now, decided_at=now, features=vectors[i])
                latencies[t].append(time.perf_counter() - start)

        workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    return sorted(x for lat in latencies for x in lat)


def pct(sorted_values: list[float], q: float) -> float:
    return round(sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] * 1e6, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--features", type=int, default=80)
    args = parser.parse_args()
    items = decisions(args.rows)
    vectors = np.random.default_rng(0).random((args.rows, args.features), dtype=np.float32)
    result: dict[str, object] = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for threads in (1, args.threads):
            folder = Path(tmp) / f"threads-{threads}"
            start = time.perf_counter()
            lat = run_appends(folder, items, vectors, threads)
            total = time.perf_counter() - start
            result[f"append_threads_{threads}"] = {
                "rows_per_s": round(args.rows / total),
                "p50_us": pct(lat, 0.5), "p99_us": pct(lat, 0.99), "max_us": pct(lat, 1.0),
                "parts": len(list(folder.glob("decisions-*.parquet"))),
                "mb_on_disk": round(sum(p.stat().st_size for p in folder.iterdir()) / 1e6, 1),
            }
        # recovery: a WAL of flush_rows - 1 rows left by a "dead" writer (this one, never closed)
        folder = Path(tmp) / "recovery"
        dead = DecisionLog(folder).open()
        now = dt.datetime.now(dt.UTC)
        for i in range(dead.flush_rows - 1):
            dead.append(items[i], received_at=now, features=vectors[i])
        assert dead._wal is not None  # release its lock as a dying process would
        os.close(dead._wal.fd)
        start = time.perf_counter()
        with DecisionLog(folder) as log:
            recovered = log.recovered_
        result["recovery"] = {"rows": recovered, "ms": round((time.perf_counter() - start) * 1e3, 1)}
        folder = Path(tmp) / f"threads-{args.threads}"
        sql = "SELECT verdict, count(*) AS n, avg(score) AS s FROM decisions GROUP BY 1"
        start = time.perf_counter()
        rows = sum(query(folder, sql).column("n").to_pylist())
        result["query_group_by"] = {"rows": rows, "ms": round((time.perf_counter() - start) * 1e3, 1)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
