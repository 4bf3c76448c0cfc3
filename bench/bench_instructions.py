"""Instructions per decision, counted by valgrind: a noise-free measure for comparing revisions.

    python bench/bench_instructions.py [--artifacts demo/artifacts --log demo/log] [--mode single]
    PYTHONPATH=/tmp/old-worktree python /tmp/old-worktree/bench/bench_instructions.py ...   # A/B

On this shared 2-core box the same code's latency moves by up to 2x between runs, which hides
a 10% change. The number of instructions executed does not move: this runs the serving loop
twice under ``valgrind --tool=cachegrind --cache-sim=no`` (hash seed fixed), deciding ``--low``
and ``--high`` messages after the same load and warm-up, and reports the difference divided by
``high - low``: the instructions one decision costs, load excluded. Instructions are not time
(a cache miss costs more than an add), so confirm a change with alternating timed runs too
(``bench/bench_serving.py``); but a revision that executes fewer instructions on the same
stream is the faster one unless it trades them for memory traffic.

Modes: ``single`` (``DecisionEngine.decide``), ``batch`` (``decide_batch`` of 256),
``features`` (``FeatureBuilder.one``: signals, rules, behaviour, GNN, state update) and
``signals`` (rule signals and the state update only). Each child takes ~1-2 minutes (valgrind
runs Python ~50x slower); the two run at once. Needs ``valgrind`` (``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

_MODES = ("single", "batch", "features", "signals")


def _child(artifacts: Path, log: Path, n: int, mode: str, high: int) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    from graphdet.messagelog import read_messages, table_to_messages
    from graphdet.rules import extract
    from serving import DecisionEngine

    pointer = (artifacts / "snapshot" / "current").read_text().strip()
    manifest = json.loads((artifacts / "snapshot" / pointer / "manifest.json").read_text())
    as_of = datetime.fromisoformat(manifest["as_of"])
    table = read_messages(log)
    table = table.filter(pc.greater_equal(table.column("received_at"), pa.scalar(as_of, pa.timestamp("us", tz="UTC"))))
    table = table.sort_by([("received_at", "ascending"), ("message_id", "ascending")])
    stream = list(table_to_messages(table.slice(0, 200 + high)))  # the same in both runs: only n differs
    engine = DecisionEngine.load(artifacts)
    for m in stream[:200]:  # warm-up, as bench_serving.py
        engine.decide(m)
    messages = stream[200 : 200 + n]
    bundle = engine._bundle
    if mode == "single":
        for m in messages:
            engine.decide(m)
    elif mode == "batch":
        for i in range(0, len(messages), 256):
            engine.decide_batch(messages[i : i + 256])
    elif mode == "features":
        for m in messages:
            bundle.builder.one(m, bundle.state)
    else:
        for m in messages:
            st = bundle.state.tenant(m.tenant)
            extract(m, st, bundle.ruleset.lexicon)
            st.observe(m)


def _count(args: argparse.Namespace, n: int) -> subprocess.Popen[str]:
    # one thread per library pool: idle BLAS/OpenMP workers spin, and valgrind counts their
    # instructions too (which made repeated counts differ by ~2%)
    env = dict(os.environ, PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
           sys.executable, str(Path(__file__).resolve()), "--child", str(n), "--high", str(args.high),
           "--mode", args.mode, "--artifacts", str(args.artifacts), "--log", str(args.log)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _instructions(proc: subprocess.Popen[str]) -> int:
    _, err = proc.communicate()
    found = re.search(r"I\s+refs:\s+([\d,]+)", err)
    if proc.returncode != 0 or found is None:
        raise SystemExit(f"valgrind run failed (exit {proc.returncode}):\n{err[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artifacts", type=Path, default=root / "demo" / "artifacts")
    ap.add_argument("--log", type=Path, default=root / "demo" / "log", help="the log the artifacts were trained on")
    ap.add_argument("--mode", choices=_MODES, default="single")
    ap.add_argument("--low", type=int, default=500)
    ap.add_argument("--high", type=int, default=1500)
    ap.add_argument("--out", type=Path, default=root / "bench" / "out")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        _child(args.artifacts, args.log, args.child, args.mode, args.high)
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind not found: apt-get install valgrind", file=sys.stderr)
        return 2
    if not (args.artifacts / "snapshot" / "current").exists():
        print(f"{args.artifacts}: no artifacts (run `make demo`, or pass --artifacts and --log)", file=sys.stderr)
        return 2
    if not 0 <= args.low < args.high:
        print("--low must be >= 0 and below --high", file=sys.stderr)
        return 2
    low, high = _count(args, args.low), _count(args, args.high)
    a, b = _instructions(low), _instructions(high)
    import graphdet

    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, Python {platform.python_version()}, valgrind cachegrind",
        "command": "python bench/bench_instructions.py " + " ".join(sys.argv[1:]),
        "code": str(Path(graphdet.__file__).resolve().parent.parent),
        "mode": args.mode,
        "messages": args.high - args.low,
        "instructions_per_message": round((b - a) / (args.high - args.low)),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"instructions_{args.mode}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
