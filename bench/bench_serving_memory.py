"""Serving memory of one tenant with ~1M edges (issue 7, goal <= 1 GB RSS).

    python bench/bench_serving_memory.py [--artifacts DIR] [--edges 1000000] [--addresses 130000]
                                         [--days 75] [--decide 20000] [--latency 2000] [--work DIR]
                                         [--out bench/out]

1. A small trained model: ``--artifacts`` (e.g. ``demo/artifacts`` after ``make demo``) or one
   trained here on a small synthetic log (2 tenants, 45 days, GNN 40 epochs; ~30 s).
2. A message log of ONE big tenant written directly in the message-log schema (numpy): internal
   staff in departments, external correspondents grouped by domain (freemail and Zipf-sized
   company domains, a few bulk senders), heavy-tailed (Pareto) out-degrees, recipients drawn with
   department locality and popularity, messages of 1-n recipients (To/Cc) on business days and
   hours, sized so that the snapshot holds ``--edges`` distinct directed edges. No replies.
3. ``rebuild`` of that log, applying the small model's GNN (``gnn_model=``, no training) so the
   GNN arrays are present, into an artifacts folder that otherwise copies the small one (model,
   rules, policy, reasons; tenants.yaml gains the big tenant).
4. In a FRESH child process (the generator's memory does not count): VmRSS / VmHWM from
   /proc/self/status before any import, after the imports, after ``DecisionEngine.load`` and after
   deciding ``--decide`` new messages of the big tenant (the day after the snapshot: known pairs,
   new pairs, new senders; OnlineState learns each one). The same is measured for the small
   artifacts alone (the baseline without the big tenant).
5. Where the memory goes: the big tenant's ``TenantState`` sized attribute by attribute (every
   object reached, counted once, split by type), and the top allocation sites of the load under
   tracemalloc (a third child; ``--no-tracemalloc`` skips it).
6. What the imports cost, module by module, and a what-if child that loads the big tenant
   without the training-only package inits (torch, torch_geometric, igraph, duckdb).
7. ``decide()`` latency on the big tenant (``--latency`` messages one at a time, after 200 of
   warm-up, or half the stream when it is shorter, a fresh engine): p50 / p90 / p99 and CPU
   p50 / p99 in µs; and the engine's load time, its first decision and the slowest warm-up
   decision (what a load or hot swap costs the decisions right after it), and three external
   decisions each right after an internal sender used a display name never seen before.

Prints one JSON object and writes it to OUT/serving_memory.json. The log, the snapshot and the
model are kept under WORK (default OUT/serving_memory) and reused when the options match.
A first run takes ~8 minutes on the 2-core development box (generation 33 s, rebuild 79 s, then
four child processes); a rerun reuses the log and the snapshot.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from _child import child_argv, child_env

TENANT = "meridianholdings"
DOMAINS = ("meridianholdings.com", "meridian-hq.co.uk")
DAY_US = 86_400_000_000
START = datetime(2026, 3, 2, tzinfo=UTC)

# ------------------------------------------------------------------ the child processes

_MEASURE = r"""
import json, sys, time
def mem():
    v = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, rest = line.split(":", 1)
                v[k] = int(rest.split()[0]) * 1024
    return {"rss_mb": round(v["VmRSS"] / 1e6, 1), "hwm_mb": round(v["VmHWM"] / 1e6, 1)}
artifacts, stream, tenant, n_decide, size_state = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
out = {"start": mem()}
t = time.perf_counter()
import gc
import pyarrow as pa
import pyarrow.parquet as pq
from graphdet.messagelog import table_to_messages
from serving import DecisionEngine
out["imports"] = {**mem(), "wall_s": round(time.perf_counter() - t, 2), "heavy_modules": [
    m for m in ("torch", "torch_geometric", "igraph", "leidenalg", "duckdb", "pandas", "sklearn", "scipy")
    if m in sys.modules]}
t = time.perf_counter()
engine = DecisionEngine.load(artifacts)
load_s = time.perf_counter() - t
gc.collect()
out["loaded"] = {**mem(), "wall_s": round(load_s, 2), "degraded": list(engine.degraded), "versions": engine.versions}
state = engine._bundle.state
st = state.tenants.get(tenant)
if st is not None:
    out["tenant_loaded"] = {"nodes": len(st.addrs), "pairs": st.n_pairs, "gnn": st.gnn is not None}
if n_decide:
    decided = flagged = 0
    t = time.perf_counter()
    for batch in pq.ParquetFile(stream).iter_batches(batch_size=256):
        msgs = list(table_to_messages(pa.Table.from_batches([batch])))
        for d in engine.decide_batch(msgs):
            decided += 1
            flagged += d.verdict.value != "safe"
            if d.degraded_reason.startswith("error"):
                raise SystemExit(f"error decision: {d.degraded_reason}")
        if decided >= n_decide:
            break
    wall = time.perf_counter() - t
    gc.collect()
    out["decided"] = {**mem(), "messages": decided, "flagged": flagged, "wall_s": round(wall, 1),
                      "messages_per_s": round(decided / wall), "nodes": len(st.addrs), "pairs": st.n_pairs}
if size_state == "1" and st is not None:
    import numpy as np
    seen = set()
    def size(obj):
        by_type = {}
        stack = [obj]
        while stack:
            o = stack.pop()
            i = id(o)
            if i in seen:
                continue
            seen.add(i)
            name = type(o).__name__
            n = sys.getsizeof(o)
            if isinstance(o, np.ndarray) and not o.flags.owndata:
                n += o.nbytes  # np.load gives views over a buffer: count the data once here
            by_type[name] = by_type.get(name, 0) + n
            if isinstance(o, dict):
                stack.extend(o.keys())
                stack.extend(o.values())
            elif isinstance(o, (list, tuple, set, frozenset)):
                stack.extend(o)
            elif hasattr(o, "__dict__") and not isinstance(o, (type, np.ndarray)):
                stack.extend(vars(o).values())
        return by_type
    order = ["addrs", "node_of", "_names", "internal_names", "_out", "_in", "_nb", "_pairs",
             "sent", "received", "first_us", "internal", "gnn"]
    attrs = order + [a for a in vars(st) if a not in order]
    t = time.perf_counter()
    parts = {a: size(getattr(st, a)) for a in attrs}
    out["state_sizes"] = {
        a: {"mb": round(sum(v.values()) / 1e6, 1), "by_type_mb": {k: round(x / 1e6, 1) for k, x in
                                                                  sorted(v.items(), key=lambda kv: -kv[1])}}
        for a, v in parts.items() if sum(v.values()) >= 100_000
    }
    out["state_sizes_total_mb"] = round(sum(sum(v.values()) for v in parts.values()) / 1e6, 1)
    out["state_sizes_wall_s"] = round(time.perf_counter() - t, 1)
print(json.dumps(out))
"""

_TRACE = r"""
import json, sys, tracemalloc
import gc
from serving import DecisionEngine
gc.collect()
tracemalloc.start(1)
engine = DecisionEngine.load(sys.argv[1])
gc.collect()
current, peak = tracemalloc.get_traced_memory()
snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
top = snap.statistics("lineno")[:15]
def line(s):
    f = s.traceback[0]
    path = f.filename.split("/site-packages/")[-1].split("/work/main/")[-1]
    return {"where": f"{path}:{f.lineno}", "mb": round(s.size / 1e6, 1), "blocks": s.count}
print(json.dumps({"traced_after_load_mb": round(current / 1e6, 1), "traced_peak_during_load_mb": round(peak / 1e6, 1),
                  "top_lines": [line(s) for s in top]}))
"""

# what the imports of serving cost, step by step (each step: the modules it adds to the earlier ones)
_IMPORTS = r"""
import importlib, json, sys
def rss():
    with open("/proc/self/status") as f:
        return next(int(x.split()[1]) * 1024 for x in f if x.startswith("VmRSS:")) / 1e6
steps = [("python", [])]
steps += [(m, [m]) for m in ("numpy", "pyarrow", "pandas", "duckdb", "lightgbm", "re2", "rapidfuzz", "igraph",
                             "leidenalg", "torch", "torch_geometric")]
steps += [("graphdet.gnn (torch models, training)", ["graphdet.gnn"]), ("serving", ["serving"])]
out, last = [], rss()
for name, mods in steps:
    for m in mods:
        try:
            importlib.import_module(m)
        except ImportError:
            pass
    now = rss()
    out.append({"step": name, "rss_mb": round(now, 1), "added_mb": round(now - last, 1)})
    last = now
print(json.dumps({"steps": out}))
"""

# what-if: serving without the training-only imports. graphdet.features.state imports
# graphdet.gnn.signals (numpy only), but the package inits of graphdet.gnn and graphdet.graph import
# torch, torch_geometric, igraph, duckdb; serving/_build imports graphdet.combiner.pipeline (the
# training pipeline) for ruleset_version alone. Here those inits are replaced by bare packages and the
# pipeline by a module with a copy of ruleset_version (the versions are checked equal to the real run).
_LEAN = r"""
import importlib.util, json, sys, time, types
def mem():
    v = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, rest = line.split(":", 1)
                v[k] = int(rest.split()[0]) * 1024
    return {"rss_mb": round(v["VmRSS"] / 1e6, 1), "hwm_mb": round(v["VmHWM"] / 1e6, 1)}
import graphdet
for name in ("graphdet.gnn", "graphdet.graph"):
    pkg = types.ModuleType(name)
    pkg.__path__ = list(importlib.util.find_spec(name).submodule_search_locations)
    sys.modules[name] = pkg
def ruleset_version(ruleset):
    import hashlib
    text = "\n".join(f"{r.id}:{r.description}:{r.category}:{r.severity}" for r in ruleset.rules)
    return "r-" + hashlib.sha256(text.encode()).hexdigest()[:12]
pipeline = types.ModuleType("graphdet.combiner.pipeline")
pipeline.ruleset_version = ruleset_version
sys.modules["graphdet.combiner.pipeline"] = pipeline
from serving import DecisionEngine
out = {"imports": mem()}
t = time.perf_counter()
engine = DecisionEngine.load(sys.argv[1])
out["loaded"] = {**mem(), "wall_s": round(time.perf_counter() - t, 2), "versions": engine.versions,
                 "degraded": list(engine.degraded)}
out["heavy_modules"] = [m for m in ("torch", "torch_geometric", "igraph", "leidenalg", "duckdb", "pandas", "sklearn",
                                    "scipy") if m in sys.modules]
print(json.dumps(out))
"""

# decide() one message at a time on the big tenant: the latency of a realistic large tenant,
# where first-seen senders are searched against ~18,000 internal names and hubs have thousands
# of correspondents (bench_serving.py measures the demo's small tenants)
_LATENCY = r"""
import dataclasses, json, sys, time
import pyarrow.parquet as pq
from graphdet.messagelog import table_to_messages
from graphdet.schema import Address, Direction
from serving import DecisionEngine
artifacts, stream, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
kept = list(table_to_messages(pq.read_table(stream).slice(0, 200 + n + 100)))
msgs, spare = kept[: 200 + n], kept[200 + n :]  # spare: messages not decided before the new names
warm = min(200, len(msgs) // 2)  # a short stream: half of it warms up
t = time.perf_counter()
engine = DecisionEngine.load(artifacts)
load_s = time.perf_counter() - t
cold = []  # the warm-up's own latencies: what the first decisions after a load pay
for m in msgs[:warm]:
    t = time.perf_counter()
    engine.decide(m)
    cold.append((time.perf_counter() - t) * 1e6)
lat, cpu = [], []
for m in msgs[warm:]:
    t, c = time.perf_counter(), time.thread_time()
    engine.decide(m)
    lat.append((time.perf_counter() - t) * 1e6)
    cpu.append((time.thread_time() - c) * 1e6)
# an internal sender with a display name never seen (a new hire), then an external message:
# the name tables change under the display-name search
renamed = []
inside = next((m for m in msgs if m.direction is Direction.INTERNAL), None)
outside = [m for m in spare if m.direction is Direction.INBOUND][:3] if inside is not None else []
for k, m in enumerate(outside):
    engine.decide(dataclasses.replace(inside, message_id=f"<new-name-{k}@bench>",
                                      from_=Address(inside.from_.addr, f"Bench Newhire{k} Example")))
    t = time.perf_counter()
    engine.decide(m)
    renamed.append(round((time.perf_counter() - t) * 1e6, 1))
lat.sort(); cpu.sort()
q = lambda xs, f: round(xs[min(int(len(xs) * f), len(xs) - 1)], 1)
print(json.dumps({"messages": len(lat), "p50_us": q(lat, 0.5), "p90_us": q(lat, 0.9), "p99_us": q(lat, 0.99),
                  "max_us": round(lat[-1], 1), "cpu_p50_us": q(cpu, 0.5), "cpu_p99_us": q(cpu, 0.99),
                  "load_s": round(load_s, 2), "first_decision_us": round(cold[0], 1) if cold else None,
                  "after_new_internal_name_us": renamed,
                  "warm_up_max_us": round(max(cold), 1) if cold else None}))
"""


def _child(code: str, *args: str) -> dict[str, Any]:
    res = subprocess.run(child_argv(code, *args), capture_output=True, text=True, env=child_env())
    if res.returncode != 0:
        raise SystemExit(f"child failed ({res.returncode}):\n{res.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    return result


# ------------------------------------------------------------------ the big tenant's addresses


def _ascii(s: str) -> str:
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().lower().replace(" ", "")


def _population(n_int: int, n_ext: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Addresses (internal first, then external), display names, departments / account blocks."""
    from graphdet.synth import vocab

    first, last = vocab.FIRST_NAMES, vocab.LAST_NAMES
    n = n_int + n_ext
    fi = rng.integers(0, len(first), n)
    la = rng.integers(0, len(last), n)
    mid = rng.integers(-10, 26, n)  # a middle initial for ~70%: ~190k distinct names
    names = [f"{first[f]} {chr(65 + m)}. {last[g]}" if m >= 0 else f"{first[f]} {last[g]}"
             for f, g, m in zip(fi, la, mid, strict=True)]
    # external domains: freemail, then Zipf-sized company domains
    n_dom = max(50, n_ext // 12)
    heads, tails, tlds = vocab.COMPANY_HEADS, vocab.COMPANY_TAILS, sorted(set(vocab.TLDS))
    companies = []
    for k in range(n_dom):
        h, t, d = heads[k % len(heads)], tails[(k // len(heads)) % len(tails)], k // (len(heads) * len(tails))
        companies.append(f"{h}{t}{d or ''}.{tlds[k % len(tlds)]}".lower())
    ext_domains = [*vocab.FREEMAIL, *companies]
    w = 1.0 / np.arange(1, n_dom + 1) ** 0.9
    w = np.concatenate([np.full(len(vocab.FREEMAIL), 0.15 / len(vocab.FREEMAIL)), 0.85 * w / w.sum()])
    ext_dom = rng.choice(len(ext_domains), n_ext, p=w / w.sum())
    int_dom = (rng.random(n_int) < 0.1).astype(np.int64)
    bulk = np.zeros(n, bool)
    bulk[n_int:] = rng.random(n_ext) < 0.02  # newsletters, notifications, ticket systems
    used: dict[str, int] = {}
    addrs = []
    for i in range(n):
        dom = DOMAINS[int_dom[i]] if i < n_int else ext_domains[ext_dom[i - n_int]]
        if bulk[i]:
            local = ("news", "noreply", "notifications", "billing", "support", "updates")[i % 6]
            names[i] = f"{dom.split('.')[0].capitalize()} {local.capitalize()}"
        else:
            local = f"{_ascii(first[fi[i]])}.{_ascii(last[la[i]])}"
        key = f"{local}@{dom}"
        k = used.get(key, 0)
        used[key] = k + 1
        addrs.append(f"{local}{k}@{dom}" if k else key)
    # departments: contiguous internal ranges of ~80 people; each has a block of external accounts
    sizes = np.maximum(5, rng.lognormal(np.log(70), 0.6, n_int // 40).astype(np.int64))
    bounds = np.minimum(np.concatenate([[0], np.cumsum(sizes)]), n_int)
    bounds = np.unique(np.append(bounds, n_int))
    dept = np.searchsorted(bounds, np.arange(n_int), side="right") - 1
    return {"addr": np.array(addrs, dtype=object), "name": np.array(names, dtype=object), "bulk": bulk,
            "dept": dept, "dept_start": bounds[:-1], "dept_size": np.diff(bounds)}


class _Sampler:
    """Recipient draws: department (or account block) locality + heavy-tailed popularity."""

    def __init__(self, pop: dict[str, np.ndarray], n_int: int, n_ext: int, rng: np.random.Generator) -> None:
        self.n_int, self.n_ext, self.rng = n_int, n_ext, rng
        self.dept, self.dstart, self.dsize = pop["dept"], pop["dept_start"], pop["dept_size"]
        self.n_dept = len(self.dstart)
        self.int_cum = np.cumsum(rng.pareto(1.2, n_int) + 1.0)
        self.ext_cum = np.cumsum(rng.pareto(1.2, n_ext) + 1.0)

    def _pop(self, cum: np.ndarray, k: int) -> np.ndarray:
        return np.minimum(np.searchsorted(cum, self.rng.random(k) * cum[-1]), len(cum) - 1)

    def internal_for(self, dept: np.ndarray, local: float) -> np.ndarray:
        k = len(dept)
        inside = self.dstart[dept] + (self.rng.random(k) * self.dsize[dept]).astype(np.int64)
        return np.where(self.rng.random(k) < local, inside, self._pop(self.int_cum, k))

    def external_for(self, dept: np.ndarray, local: float) -> np.ndarray:
        k = len(dept)
        block = self.n_ext / self.n_dept
        inside = ((dept + self.rng.random(k)) * block).astype(np.int64)
        return self.n_int + np.where(self.rng.random(k) < local, inside, self._pop(self.ext_cum, k))

    def dept_of_external(self, e: np.ndarray) -> np.ndarray:
        return np.minimum(((e - self.n_int) * self.n_dept) // self.n_ext, self.n_dept - 1)


def _edges(pop: dict[str, np.ndarray], sm: _Sampler, target: int,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``target`` distinct directed (src, dst) pairs: 40% internal -> internal, 25% internal ->
    external, 35% external -> internal, Pareto out-degrees, no self-loops."""
    n_int, n_ext = sm.n_int, sm.n_ext
    n = n_int + n_ext
    act = rng.pareto(1.5, n_int) + 1.0  # internal senders' activity
    ext_act = (rng.pareto(1.1, n_ext) + 1.0) * np.where(pop["bulk"][n_int:n], 30.0, 1.0)
    ie_act = act * rng.lognormal(0.0, 1.0, n_int)

    def degrees(w: np.ndarray, total: float, cap: int, floor: int) -> np.ndarray:
        d = w / w.sum() * total
        d = np.floor(d + rng.random(len(d))).astype(np.int64)
        return np.clip(d, floor, cap)

    def draw(scale: float) -> np.ndarray:
        s_ii = np.repeat(np.arange(n_int), degrees(act, 0.40 * target * scale, 3000, 1))
        d_ii = sm.internal_for(sm.dept[s_ii], 0.55)
        s_ie = np.repeat(np.arange(n_int), degrees(ie_act, 0.25 * target * scale, 3000, 0))
        d_ie = sm.external_for(sm.dept[s_ie], 0.5)
        s_ei = n_int + np.repeat(np.arange(n_ext), degrees(ext_act, 0.35 * target * scale, 5000, 1))
        d_ei = sm.internal_for(sm.dept_of_external(s_ei), 0.6)
        src = np.concatenate([s_ii, s_ie, s_ei])
        dst = np.concatenate([d_ii, d_ie, d_ei])
        keep = src != dst
        return np.unique(src[keep] * n + dst[keep])

    scale = 1.1
    for _ in range(4):
        keys = draw(scale)
        if len(keys) >= target:
            break
        scale *= target / len(keys) * 1.02
    if len(keys) > target:
        keys = np.sort(rng.choice(keys, target, replace=False))
    return keys // n, keys % n


def _table(pop: dict[str, np.ndarray], n_int: int, src: np.ndarray, msg: np.ndarray, dst: np.ndarray,
           times: np.ndarray, id_prefix: str, rng: np.random.Generator) -> pa.Table:
    """Message-log table from (message, recipient) pairs sorted by message; ``src`` and ``times``
    per message."""
    from graphdet.messagelog import ADDRESS_TYPE, ATTACHMENT_TYPE, MESSAGE_SCHEMA, URL_TYPE

    m = len(src)
    addr = pa.array(pop["addr"], pa.string())
    name = pa.array(pop["name"], pa.string())
    first = np.ones(len(msg), bool)
    first[1:] = msg[1:] != msg[:-1]
    is_to = first | (rng.random(len(msg)) < 0.7)

    def addr_list(mask: np.ndarray) -> pa.Array:
        counts = np.bincount(msg[mask], minlength=m)
        offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
        idx = pa.array(dst[mask])
        values = pa.StructArray.from_arrays([pc.take(addr, idx), pc.take(name, idx)], fields=list(ADDRESS_TYPE))
        return pa.ListArray.from_arrays(offsets, values, type=pa.list_(ADDRESS_TYPE))

    def empty_lists(t: pa.DataType) -> pa.Array:
        return pa.ListArray.from_arrays(pa.array(np.zeros(m + 1, np.int32)), pa.array([], t), type=pa.list_(t))

    sender_int = src < n_int
    any_ext = np.bincount(msg, weights=(dst >= n_int).astype(np.float64), minlength=m) > 0
    direction = np.where(~sender_int, "inbound", np.where(any_ext, "outbound", "internal"))
    sender = pa.array(src)
    from_addr = pc.take(addr, sender)
    domain = pa.array([a.split("@", 1)[1] for a in pop["addr"][src]], pa.string())
    n_subj, n_body = len(_SUBJECTS), len(_BODIES)
    first_names = [nm.split(" ")[0] for nm in pop["name"][dst[first]]]
    body = [_BODIES[k].format(name=fn, n=j) for k, fn, j in
            zip(rng.integers(0, n_body, m), first_names, rng.integers(100, 9999, m), strict=True)]
    subject = [_SUBJECTS[k].format(n=j) for k, j in zip(rng.integers(0, n_subj, m), rng.integers(100, 9999, m),
                                                         strict=True)]
    # one link in ~15% of inbound mail, to the sender's own domain
    has_url = (~sender_int) & (rng.random(m) < 0.15)
    url_vals = pa.array([f"https://www.{d}/account/{i}" for d, i in
                         zip(pc.filter(domain, pa.array(has_url)).to_pylist(), np.flatnonzero(has_url), strict=True)],
                        pa.string())
    urls = pa.ListArray.from_arrays(
        pa.array(np.concatenate([[0], np.cumsum(has_url)]).astype(np.int32)),
        pa.StructArray.from_arrays([url_vals, pa.array(["your account"] * len(url_vals), pa.string())],
                                   fields=list(URL_TYPE)),
        type=pa.list_(URL_TYPE),
    )
    u = rng.random(m)
    spf = np.where(sender_int | (u < 0.9), "pass", np.where(u < 0.96, "softfail", "none"))
    dkim = np.where(sender_int | (u < 0.85) | (u > 0.97), "pass", "none")
    dmarc = np.where((spf == "pass") & (dkim == "pass"), "pass", "none")
    cols = {
        "tenant": pa.array(np.full(m, TENANT, dtype=object), pa.string()),
        "message_id": pa.array([f"<{id_prefix}{i:x}@{d}>" for i, d in enumerate(domain.to_pylist())], pa.string()),
        "received_at": pa.array(times // 1_000_000 * 1_000_000, pa.timestamp("us", tz="UTC")),
        "from_addr": from_addr,
        "from_name": pc.take(name, sender),
        "to": addr_list(is_to),
        "cc": addr_list(~is_to),
        "reply_to_addr": pa.nulls(m, pa.string()),
        "reply_to_name": pa.nulls(m, pa.string()),
        "return_path": from_addr,
        "subject": pa.array(subject, pa.string()),
        "body": pa.array(body, pa.string()),
        "urls": urls,
        "attachments": empty_lists(ATTACHMENT_TYPE),
        "spf": pa.array(spf, pa.string()),
        "dkim": pa.array(dkim, pa.string()),
        "dmarc": pa.array(dmarc, pa.string()),
        "arc": pa.array(np.full(m, "none", dtype=object), pa.string()),
        "in_reply_to": pa.nulls(m, pa.string()),
        "references": empty_lists(pa.string()),
        "direction": pa.array(direction, pa.string()),
    }
    table = pa.Table.from_arrays([cols[f.name] for f in MESSAGE_SCHEMA], schema=MESSAGE_SCHEMA)
    return table.take(pa.array(np.argsort(times, kind="stable")))


_SUBJECTS = (
    "Re: Q{n} planning", "Weekly sync notes", "Draft agenda for Thursday", "Re: contract review #{n}",
    "Updated forecast", "Follow-up on our call", "Meeting notes {n}", "Re: project timeline",
    "Shipment {n} status", "Quarterly report draft", "Team offsite", "Re: proposal v{n}",
    "Support ticket {n} updated", "Your order {n}", "Monthly newsletter", "Invitation: review session",
    "Re: budget questions", "Onboarding checklist", "Re: pricing for {n} units", "Slides for tomorrow",
)
_BODIES = (
    "Hi {name},\n\nThanks for the notes from today. I have updated the tracker (item {n}) and moved the review "
    "to Thursday. Let me know if the new time works for you and the team.\n\nBest regards",
    "Hello {name},\n\nAttached summary below. The numbers for the last quarter look in line with the plan; "
    "the open question is the timeline for phase two. Could you confirm by Friday?\n\nThanks",
    "{name},\n\nQuick follow-up on our call: we agreed to ship {n} units next week and review the contract "
    "terms at the end of the month. I will circulate the draft before then.\n\nCheers",
    "Hi {name},\n\nHere is the agenda for the next meeting: status of open tickets, the hiring plan and "
    "the customer feedback from last week. Please add anything I missed.\n\nKind regards",
    "Dear {name},\n\nThis is a reminder that the quarterly review is scheduled for next Tuesday. Please "
    "send your slides by Monday noon so we can compile the deck (ref {n}).\n\nThank you",
    "Hi {name}, the build for release {n} passed and is ready for testing on staging. Known issues are "
    "listed in the tracker. Ping me if you see anything odd.",
)


def _times(m: int, t0_us: int, days: int, rng: np.random.Generator) -> np.ndarray:
    """Business days and hours (weekends light)."""
    weekday = (np.arange(days) + START.weekday()) % 7 < 5
    w = np.where(weekday, 1.0, 0.12)
    day = rng.choice(days, m, p=w / w.sum())
    hour = np.clip(rng.normal(12.5, 3.0, m), 0, 23.99)
    return t0_us + day * DAY_US + (hour * 3_600_000_000).astype(np.int64)


def _messages(sender: np.ndarray, dst: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray,
                                                                                     np.ndarray]:
    """Group (sender, recipient) pairs into messages of 1-n recipients: (src per message,
    message of each pair, recipient of each pair), without a recipient twice in a message."""
    order = np.lexsort((rng.random(len(sender)), sender))
    sender, dst = sender[order], dst[order]
    brk = rng.random(len(sender)) < 0.6
    brk[0] = True
    brk[1:] |= sender[1:] != sender[:-1]
    msg = np.cumsum(brk) - 1
    _, keep = np.unique(msg * (int(dst.max()) + 1) + dst, return_index=True)
    keep.sort()
    msg, dst = msg[keep], dst[keep]
    return sender[brk], msg, dst


def write_big_log(log: Path, *, edges: int, addresses: int, days: int, decide: int, seed: int) -> dict[str, object]:
    """Write the big tenant's log and its stream of ``decide`` later messages (stream.parquet)."""
    from graphdet.messagelog import MessageLogWriter

    rng = np.random.default_rng(seed)
    n_int = int(addresses * 0.16)
    n_new = max(1, decide // 20)  # external senders first seen in the stream
    n_ext = addresses - n_int
    pop = _population(n_int, n_ext + n_new, rng)  # the last n_new never appear in the log
    sm = _Sampler(pop, n_int, n_ext, rng)
    src, dst = _edges(pop, sm, edges, rng)
    n = n_int + n_ext + n_new
    mult = 1 + np.floor(np.exp(rng.normal(-0.2, 1.1, len(src)))).astype(np.int64)  # messages per edge
    senders, msg, rcpt = _messages(np.repeat(src, mult), np.repeat(dst, mult), rng)
    t0 = int(START.timestamp() * 1_000_000)
    times = _times(len(senders), t0, days, rng)
    table = _table(pop, n_int, senders, msg, rcpt, times, "b", rng)
    with MessageLogWriter(log, overwrite=True, created_by="bench/bench_serving_memory.py") as w:
        w.write_table(table)
        w.set_info(bench={"edges": edges, "addresses": addresses, "days": days, "decide": decide, "seed": seed})
    pairs, n_edges = len(rcpt), len(src)
    del table
    # the stream: the day after the log (= after the snapshot's as_of), 256 messages at a time
    as_of = START + timedelta(days=days)
    m = decide
    kind = rng.random(m)
    pick = rng.integers(0, len(src), m)  # an existing edge
    s = src[pick].copy()
    d = dst[pick].copy()
    new_pair = (kind >= 0.70) & (kind < 0.95)  # known sender, a recipient it never wrote to
    s_int = s < n_int
    dept = np.where(s_int, sm.dept[np.minimum(s, n_int - 1)], sm.dept_of_external(np.maximum(s, n_int)))
    d_int = sm.internal_for(dept, 0.3)
    d_ext = sm.external_for(dept, 0.3)
    d = np.where(new_pair, np.where(s_int & (rng.random(m) < 0.4), d_ext, d_int), d)
    new_sender = kind >= 0.95  # an external address never seen before
    s = np.where(new_sender, n_int + n_ext + rng.integers(0, n_new, m), s)
    d = np.where(new_sender, sm.internal_for(rng.integers(0, sm.n_dept, m), 0.0), d)
    # a second recipient for 30%, a third for 10%
    extra = rng.random(m)
    msg2 = np.concatenate([np.arange(m), np.flatnonzero(extra < 0.3), np.flatnonzero(extra < 0.1)])
    r2 = np.concatenate([d, sm.internal_for(dept[msg2[m:]], 0.6)])  # colleagues of the sender's department
    order = np.lexsort((np.arange(len(msg2)), msg2))
    msg2, r2 = msg2[order], r2[order]
    _, keep = np.unique(msg2 * n + r2, return_index=True)
    keep.sort()
    msg2, r2 = msg2[keep], r2[keep]
    stimes = np.sort(int(as_of.timestamp() * 1_000_000) + rng.integers(0, DAY_US, m))
    stream = _table(pop, n_int, s, msg2, r2, stimes, "s", rng)
    pq.write_table(stream, log / "stream.parquet", compression="zstd")
    return {"messages": len(senders), "message_recipients": pairs, "addresses": n_int + n_ext,
            "internal_addresses": n_int, "edges_written": n_edges, "stream_messages": m,
            "stream_new_sender_messages": int(new_sender.sum()), "stream_new_pair_messages": int(new_pair.sum())}


# ------------------------------------------------------------------ artifacts


def small_artifacts(work: Path) -> Path:
    """Train a small model once (cached under WORK/small)."""
    from graphdet.combiner.pipeline import load_train_config, train_pipeline
    from graphdet.synth import SynthConfig, generate, write_generated

    art = work / "small" / "artifacts"
    if (art / "artifacts.json").exists():
        return art
    shutil.rmtree(work / "small", ignore_errors=True)
    write_generated(generate(SynthConfig(seed=7, tenants=2, days=45)), work / "small" / "log")
    train_pipeline(work / "small" / "log", art, config=dataclasses.replace(load_train_config(), gnn_epochs=40))
    return art


def assemble(small: Path, big: Path, internal_execs: list[str]) -> None:
    """``big`` = the small artifacts without their snapshot, tenants.yaml + the big tenant."""
    import yaml

    big.mkdir(parents=True, exist_ok=True)
    for name in ("model", "rules", "policy"):
        if (small / name).is_dir():
            shutil.rmtree(big / name, ignore_errors=True)
            shutil.copytree(small / name, big / name)
    for name in ("reasons.yaml", "artifacts.json"):
        if (small / name).exists():
            shutil.copy2(small / name, big / name)
    tenants = {}
    if (small / "tenants.yaml").exists():
        tenants = (yaml.safe_load((small / "tenants.yaml").read_text()) or {}).get("tenants", {}) or {}
    tenants[TENANT] = {"domains": list(DOMAINS), "executives": internal_execs}
    (big / "tenants.yaml").write_text(yaml.safe_dump({"tenants": tenants}, sort_keys=False))


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artifacts", type=Path, default=None, help="small trained artifacts to reuse (model, rules)")
    ap.add_argument("--edges", type=int, default=1_000_000)
    ap.add_argument("--addresses", type=int, default=130_000)
    ap.add_argument("--days", type=int, default=75)
    ap.add_argument("--decide", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", type=Path, default=None, help="default OUT/serving_memory")
    ap.add_argument("--out", type=Path, default=root / "bench" / "out")
    ap.add_argument("--no-tracemalloc", action="store_true")
    ap.add_argument("--latency", type=int, default=2000,
                    help="decide() this many stream messages one at a time (after 200 warm-up) for p50/p99; 0: skip")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):  # children inherit it
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from graphdet.graph import RebuildConfig, rebuild
    from graphdet.graph.snapshot import load_snapshot

    work = args.work or args.out / "serving_memory"
    work.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    small = args.artifacts or small_artifacts(work)
    timings["small_model_s"] = round(time.perf_counter() - t, 1)

    log = work / "log"
    params = {"edges": args.edges, "addresses": args.addresses, "days": args.days, "decide": args.decide,
              "seed": args.seed}
    info_path = log / "log.json"
    log_info: dict[str, object]
    if info_path.exists() and json.loads(info_path.read_text()).get("bench") == params and \
            (log / "stream.parquet").exists() and (work / "log_facts.json").exists():
        log_info = {**json.loads((work / "log_facts.json").read_text()), "reused": True}
    else:
        t = time.perf_counter()
        log_info = write_big_log(log, **params)
        timings["generate_s"] = round(time.perf_counter() - t, 1)
        log_info["generate_s"] = timings["generate_s"]
        (work / "log_facts.json").write_text(json.dumps(log_info))
        print(f"wrote {log_info['messages']:,} messages in {timings['generate_s']} s", file=sys.stderr)

    big = work / "artifacts"
    small_snap = load_snapshot(small / "snapshot", verify=False)
    gnn_model = small_snap.path / "gnn" if (small_snap.path / "gnn" / "model.pt").exists() else None
    t = time.perf_counter()
    r = rebuild(log, big / "snapshot", keep=1, gnn_model=gnn_model,
                config=RebuildConfig(lookback_days=90, gnn=gnn_model is not None))
    timings["rebuild_s"] = round(time.perf_counter() - t, 1)
    snap = load_snapshot(big / "snapshot", verify=False)
    tinfo = snap.manifest["tenants"][TENANT]
    execs = [a for a in pq.read_table(snap.path / tinfo["folder"] / "nodes.parquet", columns=["addr", "is_internal"])
             .filter(pc.field("is_internal")).column("addr").to_pylist()[:5]]
    assemble(small, big, execs)
    print(f"snapshot {snap.version}: {tinfo['rows']['nodes']:,} nodes, {tinfo['rows']['edges']:,} edges "
          f"({timings['rebuild_s']} s)", file=sys.stderr)

    stream = str(log / "stream.parquet")
    imports = _child(_IMPORTS)
    baseline = _child(_MEASURE, str(small), stream, TENANT, "0", "0")
    measured = _child(_MEASURE, str(big), stream, TENANT, str(args.decide), "1")
    traced = None if args.no_tracemalloc else _child(_TRACE, str(big))
    lean = _child(_LEAN, str(big))
    latency = _child(_LATENCY, str(big), stream, str(args.latency)) if args.latency and args.decide > 1 else None
    if lean["loaded"]["versions"] != measured["loaded"]["versions"]:
        raise SystemExit(f"what-if run loaded other versions: {lean['loaded']['versions']}")

    mem_total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    peak = max(measured["decided"]["hwm_mb"], measured["loaded"]["hwm_mb"])
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores (pinned to one), {mem_total / 2**30:.0f} GiB RAM, "
                   f"Python {platform.python_version()}",
        "command": " ".join(["python bench/bench_serving_memory.py", *sys.argv[1:]]),
        "params": params,
        "log": log_info,
        "snapshot": {
            "version": snap.version,
            "rebuilt_now": r.published,
            "rebuild_timings": snap.manifest.get("timings"),
            "tenant": TENANT,
            "nodes": tinfo["rows"]["nodes"],
            "edges": tinfo["rows"]["edges"],
            "rows": tinfo["rows"],
            "gnn": snap.manifest.get("gnn") is not None,
            "gnn_applied_from": (snap.manifest.get("gnn") or {}).get("applied_from"),
            "disk_mb": round(_du(snap.path) / 1e6, 1),
            "tenant_disk_mb": round(_du(snap.path / tinfo["folder"]) / 1e6, 1),
        },
        "small_artifacts": str(small),
        "imports": imports,
        "baseline_small_artifacts": baseline,
        "big_tenant": measured,
        "tracemalloc_load": traced,
        "what_if_no_training_imports": lean,
        "big_tenant_decide_latency": latency,
        "peak_rss_mb": peak,
        "goal_rss_mb": 1000,
        "goal_met": peak <= 1000,
        "timings": timings,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serving_memory.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
