"""Benchmark: bounded loopback load test of the HTTP service (`serving.http.serve`).

    .venv/bin/python bench/bench_http.py [--artifacts DIR --log DIR] [--requests 2000] [--concurrency 16]
                                         [--time-limit 60] [--mode json|raw] [--out bench/out/http.json]

Without ``--artifacts`` it generates a small synthetic log (seed 3, 2 tenants, 40 days, 25
employees) and trains on it first (not timed). Starts ``serve()`` as a subprocess on a free
port of 127.0.0.1 (never another address), waits for ``/readyz``, then sends ``--requests``
``POST /v1/decide`` requests, one message each (real log rows from after the training cut,
cycled), from an async httpx client with ``--concurrency`` requests in flight; it stops early
after ``--time-limit`` seconds. Prints one JSON object (date, machine, command, requests/s,
p50/p90/p99 latency, errors, the server's own decide-time histogram totals). The client
shares the machine's cores with the server, so the figures are a floor. Exit status 1 when
any request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.compute as pc
from prometheus_client.parser import text_string_to_metric_families

from graphdet.messagelog import read_messages
from graphdet.synth import render_message

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parents[1]


def _train(root: Path) -> tuple[Path, Path, str]:
    from graphdet.combiner.pipeline import load_train_config, train_pipeline
    from graphdet.synth import SynthConfig, generate, write_generated

    write_generated(generate(SynthConfig(seed=3, tenants=2, days=40, employees=25)), root / "log")
    report = train_pipeline(root / "log", root / "art", config=dataclasses.replace(load_train_config(), gnn_epochs=20))
    return root / "log", root / "art", str(report["cut"])


def _payloads(log: Path, cut: str | None, mode: str) -> list[tuple[bytes, str]]:
    table = read_messages(log)
    if cut:
        at = pa.scalar(dt.datetime.fromisoformat(cut), pa.timestamp("us", tz="UTC"))
        table = table.filter(pc.greater_equal(table.column("received_at"), at))
    rows = table.sort_by("received_at").to_pylist()
    if mode == "raw":
        return [(render_message(r).as_bytes(), "message/rfc822") for r in rows]
    out = []
    for r in rows:
        r["received_at"] = r["received_at"].isoformat()
        out.append((json.dumps(r).encode(), "application/json"))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _server_metrics(client: httpx.Client) -> dict[str, float]:
    text = client.get("/metrics").text
    return {s.name + "".join(f"{{{k}={v}}}" for k, v in sorted(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


async def _load(base: str, payloads: list[tuple[bytes, str]], n: int, concurrency: int,
                time_limit: float) -> tuple[list[float], list[str], float]:
    latencies: list[float] = []
    errors: list[str] = []
    next_i = 0
    deadline = time.monotonic() + time_limit
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal next_i
            while next_i < n and time.monotonic() < deadline:
                body, ctype = payloads[next_i % len(payloads)]
                next_i += 1
                t0 = time.perf_counter()
                try:
                    r = await client.post("/v1/decide", content=body, headers={"content-type": ctype})
                    if r.status_code != 200:
                        errors.append(f"{r.status_code}: {r.text[:200]}")
                except httpx.HTTPError as e:
                    errors.append(f"{type(e).__name__}: {e}")
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, errors, time.perf_counter() - started


def _pct(sorted_values: list[float], q: float) -> float:
    return round(1000 * sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))], 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--artifacts", type=Path, default=None, help="trained artifacts (default: train a small one)")
    ap.add_argument("--log", type=Path, default=None, help="message log to take requests from (with --artifacts)")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--time-limit", type=float, default=60.0, help="stop sending after this many seconds")
    ap.add_argument("--mode", choices=("json", "raw"), default="json")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON result here")
    args = ap.parse_args()
    if args.requests < 1 or args.concurrency < 1 or args.time_limit <= 0:
        ap.error("--requests and --concurrency must be >= 1 and --time-limit > 0")

    with tempfile.TemporaryDirectory(prefix="bench_http_") as tmp:
        cut: str | None = None
        if args.artifacts is None:
            log, artifacts, cut = _train(Path(tmp))
        else:
            if args.log is None:
                ap.error("--artifacts needs --log (the message log to take requests from)")
            log, artifacts = args.log, args.artifacts
        payloads = _payloads(log, cut, args.mode)
        if not payloads:
            ap.error(f"{log} has no messages to send")
        port = _free_port()
        code = (f"from pathlib import Path; from serving.http import serve; "
                f"serve(Path({str(artifacts)!r}), host={HOST!r}, port={port}, reload_seconds=30)")
        server_log = Path(tmp) / "server.log"
        with server_log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                    env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
        base = f"http://{HOST}:{port}"
        try:
            with httpx.Client(base_url=base, timeout=10) as client:
                deadline = time.monotonic() + 120
                while True:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        sys.stderr.write(server_log.read_text(errors="replace"))
                        return 2
                    try:
                        if client.get("/readyz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    time.sleep(0.2)
                before = _server_metrics(client)
                latencies, errors, elapsed = asyncio.run(
                    _load(base, payloads, args.requests, args.concurrency, args.time_limit))
                after = _server_metrics(client)
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    latencies.sort()
    kind = f'{{kind={args.mode}}}'
    calls = after[f"graphdet_decide_seconds_count{kind}"] - before[f"graphdet_decide_seconds_count{kind}"]
    engine_s = after[f"graphdet_decide_seconds_sum{kind}"] - before[f"graphdet_decide_seconds_sum{kind}"]
    result: dict[str, Any] = {
        "benchmark": "http: POST /v1/decide on loopback, one message per request",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, "
                   f"Python {platform.python_version()}".replace("  ", " "),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "mode": args.mode,
        "concurrency": args.concurrency,
        "requested": args.requests,
        "completed": len(latencies),
        "stopped_by_time_limit": len(latencies) < args.requests,
        "errors": len(errors),
        "first_errors": errors[:5],
        "seconds": round(elapsed, 2),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "latency_ms": {
            "p50": _pct(latencies, 0.50),
            "p90": _pct(latencies, 0.90),
            "p99": _pct(latencies, 0.99),
            "max": round(1000 * latencies[-1], 2),
            "mean": round(1000 * statistics.fmean(latencies), 2),
        },
        "server_decide_calls": int(calls),
        "server_decide_mean_ms": round(1000 * engine_s / calls, 2) if calls else None,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
