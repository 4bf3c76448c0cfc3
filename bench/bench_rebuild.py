"""Rebuild time and peak memory on synthetic logs of growing size, and the growth exponent.

    python bench/bench_rebuild.py [--sizes 1000000,3000000,10000000] [--out bench/out]

For each size a synthetic log is generated once (cached under OUT/logs/<n>) and the rebuild
(aggregation + igraph statistics + snapshot publish, GNN excluded) runs in a fresh child
process, which reports its wall time and its own peak RSS. The exponent is the slope of
log(time) against log(messages) over the sizes (1.0 = linear).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from _child import child_argv, child_env

_CHILD = r"""
import json, resource, sys, time
from graphdet.graph import RebuildConfig, rebuild
t = time.perf_counter()
r = rebuild(sys.argv[1], sys.argv[2], force=True, keep=1, config=RebuildConfig(gnn=False))
wall = time.perf_counter() - t
print(json.dumps({"wall_s": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "tenants": r.tenants, "nodes": r.nodes, "edges": r.edges, "timings": r.timings}))
"""


def _slope(xs: list[float], ys: list[float]) -> float:
    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum((a - mx) ** 2 for a in lx)


def bench_real(data: Path) -> dict[str, object]:
    """Ingest + rebuild (statistics, no GNN) of the Enron graph and the mailing-list year."""
    import tempfile

    from graphdet.graph import RebuildConfig, rebuild
    from graphdet.ingest import ingest
    from graphdet.tenants import TenantConfig, TenantSpec

    cases = {
        "enron": (data / "enron-graph", TenantConfig((TenantSpec("enron", ("enron.com",)),))),
        "linux-s390": (data / "linux-s390" / "2024.mbox.gz", TenantConfig()),
    }
    out: dict[str, object] = {}
    for name, (path, cfg) in cases.items():
        if not path.exists():
            out[name] = f"skipped: {path} not found"
            continue
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            stats = ingest([path], Path(tmp) / "log", cfg)
            ingest_s = time.perf_counter() - t
            t = time.perf_counter()
            r = rebuild(Path(tmp) / "log", Path(tmp) / "snap", config=RebuildConfig(lookback_days=3650, gnn=False))
            out[name] = {
                "messages": stats.parsed,
                "tenants": r.tenants,
                "nodes": r.nodes,
                "edges": r.edges,
                "ingest_s": round(ingest_s, 2),
                "rebuild_s": round(time.perf_counter() - t, 2),
                "timings": {k: round(v, 3) for k, v in r.timings.items()},
            }
    return out


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000,3000000,10000000")
    ap.add_argument("--tenants", type=int, default=10)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--out", type=Path, default=root / "bench" / "out")
    ap.add_argument("--data", type=Path, default=root.parent / "shared" / "data")
    ap.add_argument("--real-only", action="store_true", help="only the real-data rebuilds")
    args = ap.parse_args()
    if args.real_only:
        real = bench_real(args.data)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "rebuild_real.json").write_text(json.dumps(real, indent=2) + "\n")
        print(json.dumps(real, indent=2))
        return 0
    from graphdet.synth import SynthConfig, generate_to

    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        log = args.out / "logs" / str(n)
        if not (log / "log.json").exists():
            cfg = SynthConfig.for_messages(n, seed=1, tenants=args.tenants, days=args.days)
            t = time.perf_counter()
            generated = generate_to(cfg, log, overwrite=True)
            print(f"generated {generated} messages in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        messages = json.loads((log / "log.json").read_text())["messages"]
        snap = args.out / "snapshots" / str(n)
        res = subprocess.run(child_argv(_CHILD, str(log), str(snap)), capture_output=True, text=True, check=True,
                             env=child_env())
        row = {"messages": messages, **json.loads(res.stdout.strip().splitlines()[-1])}
        (args.out / "snapshots").exists() and subprocess.run(["rm", "-rf", str(snap)], check=False)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "command": f"python bench/bench_rebuild.py --sizes {args.sizes}",
        "runs": rows,
        "time_exponent": round(_slope([r["messages"] for r in rows], [r["wall_s"] for r in rows]), 3)
        if len(rows) > 1 else None,
        "memory_exponent": round(_slope([r["messages"] for r in rows], [r["peak_rss_mb"] for r in rows]), 3)
        if len(rows) > 1 else None,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rebuild.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
