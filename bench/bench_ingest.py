"""Ingest throughput on the real mailing-list year (one core).

Measures, in one run so the figures compare as ratios on a noisy machine:
  - graphdet's parser (parse_message) per message, and the whole `ingest` job
    (mbox splitting + parsing + Parquet write) in messages/s;
  - for reference, the stdlib parser alone with policy.default and with compat32.

    python bench/bench_ingest.py [--data ../shared/data] [--out bench/out]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path

from graphdet.ingest import RecordError, ingest, parse_message
from graphdet.ingest.sources import iter_records
from graphdet.tenants import TenantConfig


def _time_per_message(fn, raws: list[bytes], repeats: int) -> float:
    """Median over repeats of the mean seconds per message."""
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        for raw in raws:
            fn(raw)
        runs.append((time.perf_counter() - t) / len(raws))
    return statistics.median(runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = Path(__file__).resolve().parent.parent
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("GRAPHDET_DATA", root.parent / "shared" / "data")))
    ap.add_argument("--out", type=Path, default=root / "bench" / "out")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    mbox = args.data / "linux-s390" / "2024.mbox.gz"
    if not mbox.exists():
        print(f"skip: {mbox} not found (pass --data)", file=sys.stderr)
        return 0
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core

    records = list(iter_records(mbox, "mbox"))
    raws = [r.raw for r in records if r.raw is not None]
    config = TenantConfig()
    mean_bytes = sum(len(r) for r in raws) / len(raws)

    def ours(raw: bytes) -> None:
        try:
            parse_message(raw, config)
        except RecordError:
            pass

    default_parser = BytesParser(policy=policy.default)
    compat_parser = BytesParser(policy=policy.compat32)

    def stdlib_default(raw: bytes) -> None:
        m = default_parser.parsebytes(raw)
        m.get_body(("plain", "html"))
        str(m.get("From", "")), str(m.get("To", "")), str(m.get("Cc", ""))

    per_ours = _time_per_message(ours, raws, args.repeats)
    per_default = _time_per_message(stdlib_default, raws[:2000], 1)
    per_compat = _time_per_message(compat_parser.parsebytes, raws, 1)

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        stats = ingest([mbox], Path(tmp) / "log", config)
        wall = time.perf_counter() - t

    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "command": "python bench/bench_ingest.py",
        "input": str(mbox.name),
        "messages": len(raws),
        "mean_message_bytes": round(mean_bytes),
        "parse_us_per_message": round(per_ours * 1e6, 1),
        "parse_messages_per_s": round(1 / per_ours),
        "stdlib_policy_default_us": round(per_default * 1e6, 1),
        "stdlib_compat32_parse_only_us": round(per_compat * 1e6, 1),
        "ingest_job_wall_s": round(wall, 2),
        "ingest_job_messages_per_s": round(stats.records_in / wall),
        "parsed": stats.parsed,
        "quarantined": stats.quarantined,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
