"""Local (DuckDB) vs Spark rebuild on synthetic logs, and the memory one tenant's statistics need.

    python bench/bench_spark.py [--sizes 1000000,10000000] [--master local[2]] [--driver-memory 8g]
                                [--salt-buckets 1] [--stats-edges 1000000,4000000] [--engines local,spark]
                                [--spark-conf KEY=VALUE]... [--out bench/out]

For each size the synthetic log is generated once, as bench_rebuild.py does (10 tenants, 60
days, cached under OUT/logs/<n>), then each engine rebuilds it (statistics + snapshot
publish, GNN excluded) in a fresh child process:

- local: ``LocalEngine`` (DuckDB, all cores);
- spark: ``create_session(master)`` timed on its own (Python imports + JVM start-up), then the
  rebuild with ``SparkEngine`` on that session, then ``spark.stop()``.

Peak memory is the largest sum of resident set sizes over the child's whole process tree
(driver Python, the JVM, Spark's Python workers), sampled every 0.2 s; forked workers share
pages, so the sum over-counts a little. ``--stats-edges`` also times
:func:`graphdet.graph.stats.add_statistics` alone on one heavy-tailed random tenant graph per
size (peak RSS of that child): what one Spark Python worker must hold for its largest tenant.
Results: OUT/spark.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from _child import child_argv, child_env

_LOCAL = r"""
import json, sys, time
from graphdet.graph import LocalEngine, RebuildConfig, rebuild
t = time.perf_counter()
r = rebuild(sys.argv[1], sys.argv[2], force=True, keep=1, config=RebuildConfig(gnn=False), engine=LocalEngine())
print(json.dumps({"rebuild_s": time.perf_counter() - t, "tenants": r.tenants, "nodes": r.nodes,
                  "edges": r.edges, "timings": r.timings}))
"""

_SPARK = r"""
import json, sys, time
t = time.perf_counter()
from graphdet.graph import RebuildConfig, rebuild
from graphdet.graph.spark import SparkEngine, create_session
spark = create_session(sys.argv[3], conf=json.loads(sys.argv[4]))
startup = time.perf_counter() - t
t = time.perf_counter()
engine = SparkEngine(spark=spark, salt_buckets=int(sys.argv[5]))
r = rebuild(sys.argv[1], sys.argv[2], force=True, keep=1, config=RebuildConfig(gnn=False), engine=engine)
wall = time.perf_counter() - t
t = time.perf_counter()
spark.stop()
print(json.dumps({"startup_s": startup, "rebuild_s": wall, "stop_s": time.perf_counter() - t,
                  "tenants": r.tenants, "nodes": r.nodes, "edges": r.edges, "timings": r.timings,
                  "engine_timings": engine.timings_}))
"""

_STATS = r"""
import json, resource, sys, time
import numpy as np, pandas as pd
from graphdet.graph.stats import add_statistics
n_edges = int(sys.argv[1])
n = max(1_000, n_edges // 12)  # ~12 distinct correspondents per address, as in the synthetic tenants
rng = np.random.default_rng(0)
activity = rng.pareto(1.5, n) + 1.0
p = activity / activity.sum()
src = rng.choice(n, size=int(n_edges * 1.3), p=p)
dst = np.where(rng.random(len(src)) < 0.8, (src + rng.integers(1, 60, len(src))) % n, rng.choice(n, len(src), p=p))
keys = np.unique(src.astype(np.int64) * n + dst)[:n_edges]
nodes = pd.DataFrame({"node": np.arange(n, dtype=np.int64)})
edges = pd.DataFrame({"src_node": keys // n, "dst_node": keys % n, "msgs": rng.integers(1, 40, len(keys))})
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t = time.perf_counter()
add_statistics(nodes, edges)
print(json.dumps({"nodes": n, "edges": len(edges), "statistics_s": time.perf_counter() - t,
                  "inputs_rss_mb": base, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _run(args: list[str]) -> dict[str, Any]:
    """Run a child Python, sampling its process tree's memory; returns its JSON line + peak MB."""
    proc = psutil.Popen(child_argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
    peak, loads = 0, []
    t = time.perf_counter()
    while proc.poll() is None:
        try:
            tree = [proc, *proc.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        loads.append(os.getloadavg()[0])
        time.sleep(0.2)
    wall = time.perf_counter() - t
    out, err = proc.communicate()
    # the box is shared: the mean 1-minute load average says how much of it the run had
    info = {"process_wall_s": round(wall, 1), "peak_tree_rss_mb": round(peak / 2**20),
            "mean_load_1m": round(sum(loads) / max(1, len(loads)), 1)}
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}", "stderr_tail": err[-3000:], **info}
    return {**json.loads(out.strip().splitlines()[-1]), **info}


def _log(out: Path, n: int) -> tuple[Path, int]:
    log = out / "logs" / str(n)
    if not (log / "log.json").exists():
        from graphdet.synth import SynthConfig, generate_to

        t = time.perf_counter()
        generated = generate_to(SynthConfig.for_messages(n, seed=1, tenants=10, days=60), log, overwrite=True)
        print(f"generated {generated} messages in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return log, int(json.loads((log / "log.json").read_text())["messages"])


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="8g", help="spark.driver.memory (local mode: the JVM's heap)")
    ap.add_argument("--shuffle-partitions", type=int, default=16)
    ap.add_argument("--salt-buckets", default="1", help="comma-separated: one Spark run per value")
    ap.add_argument("--stats-edges", default="1000000,4000000", help="edges of the statistics-only graphs ('' skips)")
    ap.add_argument("--engines", default="local,spark")
    ap.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE", help="more Spark settings")
    ap.add_argument("--out", type=Path, default=root / "bench" / "out")
    args = ap.parse_args()
    conf = {"spark.driver.memory": args.driver_memory, "spark.sql.shuffle.partitions": str(args.shuffle_partitions),
            **dict(item.split("=", 1) for item in args.spark_conf)}
    rows: list[dict[str, Any]] = []
    result: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
                   f"Python {platform.python_version()}",
        "command": "python bench/bench_spark.py " + " ".join(sys.argv[1:]),
        "spark_conf": conf, "master": args.master, "runs": rows, "statistics": [],
    }
    args.out.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        (args.out / "spark.json").write_text(json.dumps(result, indent=2) + "\n")

    for n in [int(s) for s in args.sizes.split(",") if s]:
        log, messages = _log(args.out, n)
        snap = args.out / "snapshots" / f"spark-bench-{n}"
        for engine in args.engines.split(","):
            for salt in args.salt_buckets.split(",") if engine == "spark" else ["-"]:
                child = ([_LOCAL, str(log), str(snap)] if engine == "local"
                         else [_SPARK, str(log), str(snap), args.master, json.dumps(conf), salt])
                row = {"messages": messages, "engine": engine, "salt_buckets": salt, **_run(child)}
                subprocess.run(["rm", "-rf", str(snap)], check=False)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
                save()
    for e in [int(s) for s in args.stats_edges.split(",") if s]:
        row = _run([_STATS, str(e)])
        result["statistics"].append(row)
        print(json.dumps(row), file=sys.stderr)
        save()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
