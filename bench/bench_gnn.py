"""GNN training / embedding time at scale, and time-split link-prediction AUC on real graphs.

    python bench/bench_gnn.py [--data ../shared/data] [--out bench/out] [--skip-scale] [--skip-real]

Scale: one tenant of ~50k address nodes and ~640k directed edges (a heavy-tailed random
graph with community structure and edge times; the synthetic mail generator would need
several million messages per tenant to reach that size), trained full-batch for the default
120 epochs; then all embeddings computed.

Real data (skipped when the folder is absent): the Enron graph (ingested from its CSVs) and the
linux-s390 mailing-list year, each rebuilt over its whole span, then the GNN trained with a
time split (edges first seen in the last --val-days validate) and compared on the same split
with common neighbours, Adamic-Adar and preferential attachment.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from graphdet.gnn import GNNConfig, TenantGraph, embed_tenant, train_gnn


def synthetic_tenant(n: int = 50_000, m: int = 640_000, seed: int = 0) -> TenantGraph:
    rng = np.random.default_rng(seed)
    n_comm = 400
    community = rng.integers(0, n_comm, n)
    activity = rng.pareto(1.5, n) + 1.0
    p = activity / activity.sum()
    src = rng.choice(n, size=int(m * 1.3), p=p)
    # 80% of recipients in the sender's community, the rest anywhere (by activity)
    members = [np.flatnonzero(community == c) for c in range(n_comm)]
    same = rng.random(len(src)) < 0.8
    dst = rng.choice(n, size=len(src), p=p)
    for c in range(n_comm):
        idx = np.flatnonzero(same & (community[src] == c))
        dst[idx] = rng.choice(members[c], size=len(idx))
    keys = np.unique(src.astype(np.int64) * n + dst)
    keys = keys[(keys // n) != (keys % n)][:m]
    s, d = keys // n, keys % n
    n_dom = 2_000
    addr_domain = np.minimum((rng.pareto(1.2, n) * 5).astype(np.int64), n_dom - 1)
    t0 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1e6)
    first = t0 + (rng.random(len(s)) * 90 * 86_400e6).astype(np.int64)
    return TenantGraph(
        tenant="bench",
        n_addr=n,
        n_dom=n_dom,
        addr_domain=addr_domain,
        is_internal=addr_domain == 0,
        dom_internal=np.arange(n_dom) == 0,
        src=s,
        dst=d,
        msgs=rng.integers(1, 30, len(s)).astype(np.float64),
        first_seen=first,
        community=community,
    )


def bench_scale(epochs: int) -> dict[str, object]:
    g = synthetic_tenant()
    as_of = datetime(2026, 4, 1, tzinfo=UTC)
    t = time.perf_counter()
    trained = train_gnn([g], as_of, GNNConfig(epochs=epochs))
    train_s = time.perf_counter() - t
    t = time.perf_counter()
    embed_tenant(trained, g)
    embed_s = time.perf_counter() - t
    return {
        "nodes": g.n_addr,
        "domain_nodes": g.n_dom,
        "edges": len(g.src),
        "epochs": epochs,
        "train_s": round(train_s, 1),
        "embed_all_s": round(embed_s, 2),
        "val_auc": trained.metrics.get("val_auc"),
    }


def bench_real(data: Path, val_days: int, epochs: int) -> dict[str, object]:
    from graphdet.graph import RebuildConfig, load_snapshot, rebuild
    from graphdet.ingest import ingest
    from graphdet.tenants import TenantConfig, TenantSpec

    out: dict[str, object] = {}
    from graphdet.graph import parse_as_of

    # Enron's mail peaks in 2001 and thins out in 2002: cut at the turn of the year
    cases = {
        "enron": (data / "enron-graph", TenantConfig((TenantSpec("enron", ("enron.com",)),)), "2002-01-01"),
        "linux-s390": (data / "linux-s390" / "2024.mbox.gz", TenantConfig(), None),
    }
    for name, (path, cfg, as_of) in cases.items():
        if not path.exists():
            out[name] = f"skipped: {path} not found"
            continue
        with tempfile.TemporaryDirectory() as tmp:
            ingest([path], Path(tmp) / "log", cfg)
            r = rebuild(
                Path(tmp) / "log", Path(tmp) / "snap", as_of=parse_as_of(as_of) if as_of else None,
                config=RebuildConfig(lookback_days=3650, gnn=False),
            )
            s = load_snapshot(r.path)
            graphs = [TenantGraph.from_snapshot(s, t) for t in s.tenants]
            t = time.perf_counter()
            trained = train_gnn(graphs, datetime.fromisoformat(s.manifest["as_of"]),
                                GNNConfig(epochs=epochs, val_days=val_days))
            out[name] = {
                "nodes": r.nodes,
                "edges": r.edges,
                "window": f"{s.manifest['window_start'][:10]} .. {s.manifest['as_of'][:10]}",
                "val_days": val_days,
                "train_s": round(time.perf_counter() - t, 1),
                **trained.metrics,
            }
    return out


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("GRAPHDET_DATA", root.parent / "shared" / "data")))
    ap.add_argument("--out", type=Path, default=root / "bench" / "out")
    ap.add_argument("--epochs", type=int, default=GNNConfig().epochs)
    ap.add_argument("--val-days", type=int, default=90)
    ap.add_argument("--skip-scale", action="store_true")
    ap.add_argument("--skip-real", action="store_true")
    args = ap.parse_args()
    import torch

    result: dict[str, object] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} torch threads",
        "command": "python bench/bench_gnn.py",
    }
    if not args.skip_scale:
        result["scale"] = bench_scale(args.epochs)
        print(json.dumps(result["scale"]), flush=True)
    if not args.skip_real:
        result["real"] = bench_real(args.data, args.val_days, args.epochs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gnn.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
