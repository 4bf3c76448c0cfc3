"""Benchmark: message signals + rule evaluation per message on a real mailing-list year.

    .venv/bin/python bench/bench_rules.py [--data ../shared/data] [--limit N]

Parses ``linux-s390/2024.mbox.gz`` first (not timed), then times only ``extract`` +
``RuleSet.evaluate`` per message (CPU time of the thread, so that other work on a shared box
does not count), twice: with no tenant context and with a tenant context
built from the year's own senders (so every context lookup runs; repeated senders and link
domains are answered by the context memos, graphdet.rules.memo, as in serving). Prints one JSON object
(date, machine, command, figures). Goal: median <= 50 us for a typical 10 KB message.
Skips with a message when the data folder is absent.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from graphdet.ingest import parse_message
from graphdet.ingest.rfc822 import RecordError
from graphdet.ingest.sources import iter_records
from graphdet.rules import DEFAULT_RULES_DIR, EMPTY_CONTEXT, StaticContext, TenantContext, extract, load_rules
from graphdet.schema import Message
from graphdet.tenants import TenantConfig

REL = "linux-s390/2024.mbox.gz"


def _messages(path: Path, limit: int | None) -> list[Message]:
    config = TenantConfig()
    out: list[Message] = []
    for rec in iter_records(path, "mbox"):
        if rec.raw is None or rec.error:
            continue
        try:
            out.extend(parse_message(rec.raw, config, fallback_time=rec.fallback_time)[:1])
        except RecordError:
            continue
        if limit and len(out) >= limit:
            break
    return out


def _context(messages: list[Message]) -> StaticContext:
    senders = {m.from_.addr for m in messages}
    names: dict[str, list[str]] = {}
    for m in messages:
        if m.from_.domain == "linux.ibm.com" and m.from_.name:
            names.setdefault(m.from_.name, []).append(m.from_.addr)
    return StaticContext.build(
        internal_domains=["linux.ibm.com"],
        known_domains={m.from_.domain for m in messages},
        known_senders=senders,
        display_names=names,
    )


def _time(messages: list[Message], ctx: TenantContext) -> dict[str, float]:
    ruleset = load_rules(DEFAULT_RULES_DIR)
    lex = ruleset.lexicon
    for m in messages[:200]:  # warm caches
        ruleset.evaluate(extract(m, ctx, lex))
    times: list[float] = []
    typical: list[float] = []
    # CPU time of this thread: the box is shared, and wall time would count other processes' turns
    clock = time.thread_time_ns
    for m in messages:
        t0 = clock()
        ruleset.evaluate(extract(m, ctx, lex))
        elapsed = (clock() - t0) / 1000
        times.append(elapsed)
        if 8_000 <= len(m.body) <= 12_000:
            typical.append(elapsed)
    times.sort()
    typical.sort()
    return {
        "messages": len(times),
        "median_us": round(statistics.median(times), 1),
        "p99_us": round(times[int(0.99 * (len(times) - 1))], 1),
        "mean_us": round(statistics.fmean(times), 1),
        "typical_10kb_messages": len(typical),
        "typical_10kb_median_us": round(statistics.median(typical), 1) if typical else None,
        "typical_10kb_p99_us": round(typical[int(0.99 * (len(typical) - 1))], 1) if typical else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("GRAPHDET_DATA", Path(__file__).resolve()
                                                                      .parents[1].parent / "shared" / "data")))
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    path = args.data / REL
    if not path.is_file():
        print(f"skipped: {path} is absent (set GRAPHDET_DATA or --data)")
        return 0
    messages = _messages(path, args.limit)
    sizes = sorted(len(m.body) for m in messages)
    result = {
        "benchmark": "rules: signals + rule evaluation per message",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, "
                   f"Python {platform.python_version()}".replace("  ", " "),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "data": REL,
        "median_body_chars": sizes[len(sizes) // 2] if sizes else 0,
        "no_context": _time(messages, EMPTY_CONTEXT),
        "with_context": _time(messages, _context(messages)),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
