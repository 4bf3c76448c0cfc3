"""Benchmark the synthetic generator: messages/s, wall time and peak RSS.

    .venv/bin/python bench/bench_generate.py --messages 1000000 [--out DIR] [--seed 0]

Without --out the log is generated tenant by tenant in memory (nothing written); with --out
it is streamed to DIR with ``generate_to``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from graphdet.synth import SynthConfig, generate_to, iter_tenants


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=1_000_000, help="target number of messages")
    ap.add_argument("--tenants", type=int, default=3)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="write the log here (default: generate only)")
    ap.add_argument("--write", action="store_true", help="write to a temporary folder")
    args = ap.parse_args(argv)
    cfg = SynthConfig.for_messages(args.messages, seed=args.seed, tenants=args.tenants, days=args.days)
    t0 = time.perf_counter()
    if args.out is not None or args.write:
        with tempfile.TemporaryDirectory() as tmp:
            n = generate_to(cfg, args.out or Path(tmp) / "log", overwrite=True)
    else:
        n = sum(part.messages.num_rows for part in iter_tenants(cfg))
    wall = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"config: employees={cfg.employees} tenants={cfg.tenants} days={cfg.days} "
        f"expected={cfg.expected_messages()}"
    )
    print(f"messages: {n}  wall: {wall:.1f} s  rate: {n / wall:,.0f} messages/s  peak RSS: {rss_mb:,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
