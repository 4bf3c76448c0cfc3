"""Combiner quality on synthetic tenants over several seeds (the `graphdet train` pipeline).

    python bench/bench_quality.py [--seeds 5,7,11] [--tenants 3] [--days 60] [--out bench/out]

For each seed: generate a log, run the whole training chain (rebuild on history with the GNN,
point-in-time replay, train, thresholds for 99.5% validation precision) and collect the
report's figures: the later time split, the held-out campaign families, cold start, and the
ablation at 99.9% precision. Nothing is tuned on these numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _pick(t: dict[str, Any] | None) -> dict[str, Any] | None:
    if not t:
        return None
    return {k: t[k] for k in ("messages", "attacks", "tp", "fp", "fn", "precision", "recall", "fpr",
                              "precision_at_1_in_1000")} | {
        "per_category_recall": {c: round(v["recall"], 4) for c, v in t["per_category"].items()}}


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="5,7,11")
    ap.add_argument("--tenants", type=int, default=3)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--out", type=Path, default=root / "bench" / "out")
    args = ap.parse_args()
    from graphdet.combiner.pipeline import train_pipeline
    from graphdet.synth import SynthConfig, generate, write_generated

    runs = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            write_generated(generate(SynthConfig(seed=seed, tenants=args.tenants, days=args.days)), Path(tmp) / "log")
            r = train_pipeline(Path(tmp) / "log", Path(tmp) / "artifacts")
        run = {
            "seed": seed,
            "splits": r["splits"],
            "held_out_families": r["held_out_families"],
            "test": _pick(r["test"]),
            "holdout_families": _pick(r["holdout_families"]),
            "cold_start_test": _pick(r["cold_start_test"]),
            "ablation": {k: v for k, v in r["ablation"].items()},
        }
        runs.append(run)
        print(json.dumps({"seed": seed, "test": run["test"], "holdout": run["holdout_families"]}, default=str),
              flush=True)

    def mean(path: tuple[str, ...]) -> float:
        vals = []
        for run in runs:
            v: Any = run
            for p in path:
                v = v.get(p) if isinstance(v, dict) else None
            if isinstance(v, float) and v == v:
                vals.append(v)
        return round(statistics.mean(vals), 4) if vals else float("nan")

    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "command": f"python bench/bench_quality.py --seeds {args.seeds} --tenants {args.tenants} --days {args.days}",
        "mean": {
            "test_precision": mean(("test", "precision")),
            "test_recall": mean(("test", "recall")),
            "holdout_precision": mean(("holdout_families", "precision")),
            "holdout_recall": mean(("holdout_families", "recall")),
            "cold_start_precision": mean(("cold_start_test", "precision")),
            "cold_start_recall": mean(("cold_start_test", "recall")),
        },
        "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps(result["mean"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
