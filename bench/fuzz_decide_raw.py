"""Hostile mail through ``DecisionEngine.decide_raw``: a seeded mutation fuzzer of the serving contract.

    python bench/fuzz_decide_raw.py [--artifacts demo/artifacts] [--seeds demo/raw.mbox.gz ...]
                                    [--data ../shared/data] [--seconds 60 | --inputs N] [--seed 1]
                                    [--slow 2.0] [--out bench/out/fuzz]

The contract (issue 7): any bytes give a non-empty list of well-formed decisions, never an
exception; each decision renders as JSON; the chronicle has exactly one row per decision; and no
input takes pathologically long. The fuzzer feeds, in this order:

1. hand-built pathological messages (deep MIME and HTML nesting, huge headers, 20,000
   recipients, 1 MB of ``www.``, undecodable charsets, ...), the kinds that broke the contract
   before (``tests/ingest/test_hostile.py`` keeps those as tests);
2. random mutations of real seed messages: truncations, byte flips, repeated slices, splices of
   other seeds, and tokens that stress MIME, encoded words, addresses, dates and URLs.

Seeds are the first 300 messages of each ``--seeds`` file (mbox, .eml, ...; default: the
``make demo`` mbox) and, when ``--data`` holds them, of the real linux-s390 list and the
phishing samples. Every input whose decision raises, is malformed, or takes longer than
``--slow`` seconds is a finding: the first of each kind is written to ``OUT/finding-N.eml`` with
``OUT/findings.json``. Prints one JSON summary; exits 1 when there are findings. Mutations are
seeded (``--seed``), so with ``--inputs`` a run is repeatable; ``--seconds`` bounds it in time.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_TOKENS = [
    b"=?utf-7?q?+2AA-?=", b"=?x-unknown?b?////?=", b"=?utf-8?b?!!!?=", b"=?utf-8?q?=ZZ?=", b"=?undefined?q?a?=",
    b"\x00", b"\xff\xfe", b"\r", b"\n ", b"\n\n", b"(", b")", b"<", b">", b'"', b"\\", b"@", b":;",
    b"group: a@b, c@d;", b"<>", b"user@[IPv6:::1]", b"a@xn--80ak6aa92e.com", b"a@\xd0\xbf\xd1\x80.\xd1\x80\xd1\x84",
    b"charset=unknown-8bit", b"charset=utf-7", b'charset=""', b"charset=idna", b"boundary=", b"--",
    b"Content-Type: multipart/mixed; boundary=x\n", b"\n--x\n", b"\n--x--\n",
    b"Content-Transfer-Encoding: base64\n", b"Content-Transfer-Encoding: quoted-printable\n", b"=\n", b"=F",
    b"filename*0*=utf-8''%E9%", b"filename*1=x;", b"http://[::1]:99999/", b"http://u:p@x%00y.com/", b"hxxp://",
    b"https://xn--/", b"www.", b"://", b"<a href='javascript:x'>", b'<a href="http://\xff">', b"<div>", b"<!--",
    b"Date: Mon, 32 Foo 99999 25:61:61 +9999\n", b"Received: x; Tue, 1 Jan 1 00:00:00 -9999\n",
    b"; 31 Dec 9999 23:59:59 +2400", b"From: \n", b"From: <>\n", b"From: @\n", b"Message-ID: <\xff>\n",
    b"Content-Type: message/rfc822\n", b"Content-Type: text/html; charset=iso-2022-jp\n", b"\x1b$B",
]
_HEAD = (b"Received: from x by mx; Thu, 05 Mar 2026 04:43:08 +0000\nFrom: Donna <donna@example.net>\n"
         b"To: bob@example.net\nMessage-ID: <case%d@fuzz>\n")


def _nested_multipart(depth: int) -> bytes:
    part = b"Content-Type: text/plain\n\nhi\n"
    for i in range(depth):
        b = b"b%d" % i
        part = b'Content-Type: multipart/mixed; boundary="' + b + b'"\n\n--' + b + b"\n" + part + b"\n--" + b + b"--\n"
    return part


def pathological() -> Iterator[tuple[str, bytes]]:
    """Hand-built messages that stress each parser on its worst input."""
    cases: dict[str, Callable[[], bytes]] = {
        "multipart_nest_3000": lambda: _nested_multipart(3000),
        "rfc822_nest_500": lambda: b"Content-Type: message/rfc822\n\n" * 500 + b"From: a@b\n\nhi\n",
        "headers_50k": lambda: b"".join(b"X-H%d: v\n" % i for i in range(50_000)) + b"\nbody\n",
        "subject_900k": lambda: b"Subject: " + b"a" * 900_000 + b"\n\nbody\n",
        "encoded_words_30k": lambda: b"Subject: " + b" ".join([b"=?utf-8?q?a=C3=A9?="] * 30_000) + b"\n\nbody\n",
        "recipients_20k": lambda: b"Cc: " + b", ".join(b"(c) u%d@ext%d.com" % (i, i) for i in range(20_000))
                                  + b"\n\nx\n",
        "comments_nested_50k": lambda: b"Cc: " + b"(" * 50_000 + b"x" + b")" * 50_000 + b" a@b.com\n\nx\n",
        "group_colons_1000": lambda: b"To: " + b"g:" * 1000 + b"a@b.com\n\nx\n",
        "html_div_100k": lambda: b"Content-Type: text/html\n\n" + b"<div>" * 100_000 + b"x",
        "html_anchor_50k": lambda: b"Content-Type: text/html\n\n" + b"<a href='http://x.com'>" * 50_000 + b"x",
        "html_unclosed_tags": lambda: b"Content-Type: text/html\n\n" + b"<a href='x" * 50_000,
        "html_comment_fake_close": lambda: b"Content-Type: text/html\n\n<!--" + b"</div>" * 30_000 + b"-->"
                                           + b"<div>" * 30_000,
        "html_links_30k": lambda: b"Content-Type: text/html\n\n" + b"".join(
            b"<a href='http://x%d.com/'>y</a>" % i for i in range(30_000)),
        "bare_www_1mb": lambda: b"\n" + b"www." * 250_000,
        "bare_http_1mb": lambda: b"\n" + b"http://" * 150_000,
        "attachments_10k": lambda: b'Content-Type: multipart/mixed; boundary="b"\n\n' + (
            b"--b\nContent-Type: application/octet-stream\n"
            b"Content-Disposition: attachment; filename=a.exe\n\nx\n") * 10_000 + b"--b--\n",
        "charset_undefined": lambda: b"Subject: =?undefined?q?a?= =?punycode?q?b?=\n"
                                     b"Content-Type: text/plain; charset=idna\n\nx\n",
        "base64_invalid_800k": lambda: b"Content-Transfer-Encoding: base64\n\n" + b"!@#$" * 200_000,
        "references_lt_500k": lambda: b"References: " + b"<" * 500_000 + b"\n\nx\n",
        "nul_everywhere": lambda: b"Subject: a\x00b\nX: \x00\n\nbo\x00dy http://x\x00.com/\n",
        "cr_only": lambda: b"From: d@example.net\rSubject: x\r\rbody",
        "empty": lambda: b"",
    }
    for i, (name, make) in enumerate(cases.items()):
        body = make()
        yield name, (_HEAD % i) + body if name not in ("cr_only", "empty") else body


def mutate(raw: bytes, seeds: list[bytes], rng: random.Random) -> bytes:
    b = bytearray(raw)
    for _ in range(rng.randint(1, 6)):
        n = len(b)
        if n == 0:
            b += b"From: a@b\n"
            continue
        p, op = rng.randrange(n), rng.randrange(7)
        if op == 0:
            del b[rng.randrange(n):]
        elif op == 1:
            for _ in range(rng.randint(1, 20)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 2:
            b[p:p] = rng.choice(_TOKENS)
        elif op == 3:
            b[p:p] = bytes(b[p : min(n, p + rng.randint(1, 200))]) * rng.randint(2, 50)
        elif op == 4:
            del b[p : p + rng.randint(1, 100)]
        elif op == 5:
            other = rng.choice(seeds)
            start = rng.randrange(len(other)) if other else 0
            b[p:p] = other[start : start + rng.randint(1, 2000)]
        else:
            b[p:p] = rng.choice(_TOKENS) * rng.randint(2, 300)
    return bytes(b)


def check(engine: Any, raw: bytes) -> tuple[str | None, float, int]:
    """(what broke the contract or None, seconds, decisions)."""
    from graphdet.schema import Decision, Verdict
    from serving.http import decision_to_json

    t = time.perf_counter()
    try:
        decisions = engine.decide_raw(raw)
    except BaseException as e:  # noqa: BLE001  (what the fuzzer is looking for)
        frames = traceback.extract_tb(e.__traceback__)
        where = f"{frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}" if frames else "?"
        return f"raised {type(e).__name__}: {str(e)[:200]} (at {where})", time.perf_counter() - t, 0
    elapsed = time.perf_counter() - t
    if not isinstance(decisions, list) or not decisions:
        return f"returned {type(decisions).__name__} of {len(decisions) if isinstance(decisions, list) else '?'}", \
            elapsed, 0
    for d in decisions:
        if not isinstance(d, Decision) or not isinstance(d.verdict, Verdict) or \
                not isinstance(d.message_id, str) or not isinstance(d.tenant, str):
            return f"malformed decision {d!r:.200}", elapsed, len(decisions)
        try:
            json.dumps(decision_to_json(d), allow_nan=False)
        except Exception as e:  # noqa: BLE001
            return f"decision not JSON: {type(e).__name__}: {e}", elapsed, len(decisions)
    return None, elapsed, len(decisions)


def seed_messages(paths: list[Path], limit: int = 300) -> list[bytes]:
    from graphdet.ingest.sources import detect_format, iter_records

    seeds: list[bytes] = []
    for path in paths:
        for i, record in enumerate(iter_records(path, detect_format(path))):
            if i >= limit:
                break
            if record.raw:
                seeds.append(record.raw)
    return seeds


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artifacts", type=Path, default=root / "demo" / "artifacts")
    ap.add_argument("--seeds", type=Path, nargs="*", default=[root / "demo" / "raw.mbox.gz"])
    ap.add_argument("--data", type=Path, default=root.parent / "shared" / "data")
    ap.add_argument("--seconds", type=float, default=60.0, help="stop mutating after this long")
    ap.add_argument("--inputs", type=int, default=None, help="stop after this many mutated inputs (repeatable)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--slow", type=float, default=2.0, help="an input taking longer than this (s) is a finding")
    ap.add_argument("--out", type=Path, default=root / "bench" / "out" / "fuzz")
    args = ap.parse_args()
    if not (args.artifacts / "artifacts.json").exists():
        ap.error(f"--artifacts {args.artifacts}: no artifacts.json there (run `make demo` first)")
    logging.disable(logging.CRITICAL)  # error decisions log loudly by design
    from serving import DecisionEngine, ServingConfig
    from serving.chronicle import read_decisions

    paths = [p for p in args.seeds if p.exists()]
    paths += [p for p in (args.data / "linux-s390" / "2024.mbox.gz", args.data / "phishing-pot"
                          / "phishing_pot_sample.mbox.gz") if p.exists()]
    seeds = seed_messages(paths)
    if not seeds:
        ap.error(f"no seed messages in {[str(p) for p in args.seeds]}")
    args.out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    findings: list[dict[str, object]] = []
    kinds: set[str] = set()
    counts = {"pathological": 0, "mutated": 0, "decisions": 0}
    slowest: tuple[float, str] = (0.0, "")
    with tempfile.TemporaryDirectory() as tmp:
        chronicle = Path(tmp) / "chronicle"
        engine = DecisionEngine.load(args.artifacts, config=ServingConfig(chronicle=chronicle))

        def run(name: str, raw: bytes) -> None:
            nonlocal slowest
            problem, elapsed, n = check(engine, raw)
            counts["decisions"] += n
            slowest = max(slowest, (elapsed, name))
            if problem is None and elapsed > args.slow:
                problem = f"slow: {elapsed:.2f} s"
            if problem is None:
                return
            # one finding per exception type and place (or per other problem)
            kind = problem.split(":")[0] + problem.rsplit("(at ", 1)[-1] if problem.startswith("raised") else \
                problem.split(":")[0]
            if kind in kinds:
                return
            kinds.add(kind)
            path = args.out / f"finding-{len(findings) + 1}.eml"
            path.write_bytes(raw)
            findings.append({"input": name, "bytes": len(raw), "seconds": round(elapsed, 3), "problem": problem,
                             "file": str(path)})
            print(f"finding {len(findings)}: {name}: {problem}", file=sys.stderr, flush=True)

        for name, raw in pathological():
            run(name, raw)
            counts["pathological"] += 1
        t_end = time.monotonic() + args.seconds
        while (counts["mutated"] < args.inputs) if args.inputs is not None else (time.monotonic() < t_end):
            run(f"mutation {counts['mutated']}", mutate(rng.choice(seeds), seeds, rng))
            counts["mutated"] += 1
        engine.close()
        rows = read_decisions(chronicle).num_rows
    if rows != counts["decisions"]:
        findings.append({"problem": f"chronicle has {rows} rows for {counts['decisions']} decisions"})
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "command": " ".join(["python bench/fuzz_decide_raw.py", *sys.argv[1:]]),
        "seed_messages": len(seeds),
        "seed_files": [str(p) for p in paths],
        **counts,
        "chronicle_rows": rows,
        "slowest": {"input": slowest[1], "seconds": round(slowest[0], 3)},
        "findings": findings,
    }
    (args.out / "findings.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
