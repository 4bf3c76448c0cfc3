"""The Spark engine: the local engine's snapshot, tenant isolation, salting, the CLI.

One SparkSession (local[2]) serves the module. Without pyspark or Java the tests skip with
the reason, except in CI (CI=true), where a missing engine fails instead.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from graphdet.cli import app
from graphdet.exceptions import ConfigError
from graphdet.graph import TABLES, RebuildConfig, Snapshot, load_snapshot, resolve_engine
from graphdet.graph.snapshot import sha256_file
from graphdet.messagelog import MessageLogWriter, messages_to_table
from graphdet.synth import SynthConfig, generate

from .conftest import NO_GNN, run_rebuild
from .logs import to_message

AS_OF = datetime(2026, 1, 19, tzinfo=UTC)  # the synthetic log runs 2026-01-05 .. 2026-01-18
LOOKBACK = 10
START = AS_OF - timedelta(days=LOOKBACK)
KEYS = {"nodes": ["addr"], "edges": ["src", "dst"], "domains": ["domain"],
        "domain_edges": ["src_domain", "dst_domain"], "display_names": ["name_key", "addr"]}


def _missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install 'graphdet[spark]')"
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and (Path(java_home) / "bin" / "java").exists()):
        return "no Java runtime (no java on PATH, no JAVA_HOME)"
    return None


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI installs graphdet[spark] and Java 17, so the Spark tests must run: {reason}")
        pytest.skip(reason)
    from graphdet.graph.spark import create_session

    session = create_session("local[2]", app_name="graphdet-tests", log_level="error", conf={
        "spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2", "spark.driver.memory": "1g",
        # tiny data: no adaptive re-planning, and a JVM that compiles quickly rather than well
        "spark.sql.adaptive.enabled": "false", "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
    })
    yield session
    session.stop()


# ----------------------------------------------------------------------------- the logs

def _edge_cases() -> list[tuple[Any, ...]]:
    """Messages that exercise every clause of the aggregation (tuples as in tests/graph/logs)."""
    t, h, day = AS_OF - timedelta(days=5), timedelta(hours=1), timedelta(days=1)
    ini = "Initech Corp"  # a tenant name that needs a hashed folder
    msgs: list[tuple[Any, ...]] = [
        # duplicate recipients, an address in To and Cc (counts once, as To), mail to oneself
        (ini, "ann@initech.com", ["bob@initech.com", "bob@initech.com", "cy@ext.org"],
         ["bob@initech.com", "dee@ext.org"], t, "<e1>", None, "internal", "Ann  Lee"),
        (ini, "ann@initech.com", ["ann@initech.com"], [], t + h, "<e2>", None, "internal", "ann lee"),
        # replies: to a parent before the window (counts), to a message sent only after as_of
        # (does not), to another tenant's message id (does not)
        (ini, "bob@initech.com", ["ann@initech.com"], [], START - 20 * day, "<old>", None, "internal", "Bob"),
        (ini, "ann@initech.com", ["bob@initech.com"], [], t + 2 * h, "<e3>", "<old>", "internal", "Ann\tLee"),
        (ini, "cy@ext.org", ["ann@initech.com"], [], t + 3 * h, "<e4>", "<future>", "inbound", "CY\x0bZ"),
        (ini, "ann@initech.com", ["cy@ext.org"], [], AS_OF + day, "<future>", None, "outbound", ""),
        (ini, "dee@ext.org", ["ann@initech.com"], [], t + 4 * h, "<e5>", "<x1>", "inbound", "Dée Ünal"),
        # a sender without recipients (a node without edges), a blank display name
        (ini, "noreply@initech.com", [], [], t + 5 * h, "<e6>", None, "outbound", "   "),
        # odd addresses and names: case, no '@', two '@', non-ASCII, no-break space, tab only
        (ini, "Eve@Ext.ORG", ["noatsign", "x@y@Z.org"], [], t + 6 * h, "<e7>", None, "unknown", "Ève\u00a0Marie"),
        (ini, "jörg@bücher.de", ["ann@initech.com"], ["Eve@Ext.ORG"], t + 7 * h, "<e8>", None, "inbound", "JÖRG"),
        (ini, "jörg@bücher.de", ["ann@initech.com"], [], t + 8 * h, "<e9>", None, "inbound", "\t"),
        # the window's bounds: start is in, as_of is out
        (ini, "bob@initech.com", ["cy@ext.org"], [], START, "<e10>", None, "outbound", "Bob"),
        (ini, "bob@initech.com", ["cy@ext.org"], [], AS_OF - timedelta(microseconds=1), "<e11>", None, "outbound"),
        (ini, "bob@initech.com", ["dee@ext.org"], [], AS_OF, "<e12>", None, "outbound"),
        # one message id sent twice by different senders (ingest would quarantine the second),
        # and a reply to it: both engines join every distinct parent sender, as DuckDB's LEFT JOIN
        (ini, "cy@ext.org", ["fay@initech.com"], [], t + 9 * h, "<dup>", None, "inbound", "Cy"),
        (ini, "dee@ext.org", ["fay@initech.com"], [], t + 10 * h, "<dup>", None, "inbound", "Dee"),
        (ini, "fay@initech.com", ["cy@ext.org", "dee@ext.org"], [], t + 11 * h, "<e13>", "<dup>", "outbound"),
        # a tenant whose only message has no recipient: nodes, no edges at all
        ("lonely", "ann@initech.com", [], [], t, "<x1>", None, "outbound", "Ann"),
    ]
    # a hot pair over many days and several messages a day; two spellings tie on count
    for i in range(40):
        name = "Ann Lee" if i % 2 else "ANN LEE"
        msgs.append((ini, "ann@initech.com", ["bob@initech.com"], ["cy@ext.org"] if i % 3 else [],
                     START + (i // 4) * day + (i % 4) * h, f"<hot{i}>", None, "internal", name))
    return msgs


def _write(path: Path, synthetic: pa.Table, extra: list[tuple[Any, ...]]) -> Path:
    with MessageLogWriter(path, overwrite=True, created_by="tests/graph/test_spark_engine") as w:
        w.write_table(synthetic)
        if extra:
            w.write_table(messages_to_table(to_message(m) for m in extra))
    return path


@pytest.fixture(scope="module")
def synthetic() -> pa.Table:
    """Three synthetic tenants, two weeks (~3,500 messages)."""
    return generate(SynthConfig(seed=11, tenants=3, days=14, employees=12)).messages


@pytest.fixture(scope="module")
def log_a(tmp_path_factory: pytest.TempPathFactory, synthetic: pa.Table) -> Path:
    return _write(tmp_path_factory.mktemp("spark") / "log-a", synthetic, _edge_cases())


def _rebuild(log: Path, out: Path, engine: Any = None) -> Snapshot:
    """The graph-only rebuild of tests/graph/conftest.py (local engine unless one is given)."""
    kw = {"engine": engine} if engine is not None else {}
    run_rebuild(log, out, as_of=AS_OF, config=RebuildConfig(lookback_days=LOOKBACK, **NO_GNN), **kw)
    return load_snapshot(out)


@pytest.fixture(scope="module")
def local_snapshot(log_a: Path) -> Snapshot:
    return _rebuild(log_a, log_a.parent / "out-local")


@pytest.fixture(scope="module")
def spark_snapshot(log_a: Path, spark: Any) -> Snapshot:
    from graphdet.graph.spark import SparkEngine

    return _rebuild(log_a, log_a.parent / "out-spark", SparkEngine(spark=spark))


# ----------------------------------------------------------------------------- helpers

def _rows(snap: Snapshot, tenant: str, table: str) -> list[dict[str, Any]]:
    t = snap.table(tenant, table)
    return t.take(pc.sort_indices(t, sort_keys=[(k, "ascending") for k in KEYS[table]])).to_pylist()


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def _assert_same_tenant(a: Snapshot, b: Snapshot, tenant: str) -> None:
    """The tenant's files are byte-identical and its manifest entries equal."""
    for name in TABLES:
        assert _digest(a, tenant, name) == _digest(b, tenant, name), (tenant, name)
    assert a.manifest["tenants"][tenant] == b.manifest["tenants"][tenant]


def _digest(snap: Snapshot, tenant: str, table: str) -> str:
    return sha256_file(snap.path / snap.manifest["tenants"][tenant]["folder"] / f"{table}.parquet")


# ------------------------------------------------------------------------------- tests

def test_spark_snapshot_equals_the_local_snapshot(local_snapshot: Snapshot, spark_snapshot: Snapshot) -> None:
    local, spark = local_snapshot, spark_snapshot
    assert local.tenants == spark.tenants and len(local.tenants) == 5  # 3 synthetic, Initech, lonely
    for tenant in local.tenants:
        for table in TABLES:
            a, b = _rows(local, tenant, table), _rows(spark, tenant, table)
            assert len(a) == len(b), (tenant, table)
            if a:
                assert list(a[0]) == list(b[0]), (tenant, table)
            for ra, rb in zip(a, b, strict=True):
                bad = [c for c in ra if not _close(ra[c], rb[c])]
                assert not bad, (tenant, table, {c: (ra[c], rb[c]) for c in bad})
        for table in ("domains", "domain_edges", "display_names"):  # no floats: the very same file
            assert _digest(local, tenant, table) == _digest(spark, tenant, table), (tenant, table)
        info_a, info_b = local.manifest["tenants"][tenant], spark.manifest["tenants"][tenant]
        assert (info_a["folder"], info_a["rows"]) == (info_b["folder"], info_b["rows"])
        assert info_a["graph"].keys() == info_b["graph"].keys()
        assert all(_close(info_a["graph"][k], info_b["graph"][k]) for k in info_a["graph"])
    for key in ("version", "as_of", "window_start", "lookback_days", "config", "config_hash", "input", "columns"):
        assert local.manifest[key] == spark.manifest[key], key
    assert {f: m["rows"] for f, m in local.manifest["files"].items()} == \
        {f: m["rows"] for f, m in spark.manifest["files"].items()}
    assert (local.manifest["engine"], spark.manifest["engine"]) == ("local", "spark")
    assert "aggregate_and_statistics_s" in spark.manifest["timings"]


def test_the_edge_cases_are_counted_as_specified(spark_snapshot: Snapshot) -> None:
    # the same numbers the local engine is held to (tests/graph/test_oracle.py), spelled out
    edges = {(e["src"], e["dst"]): e for e in _rows(spark_snapshot, "Initech Corp", "edges")}
    hot = edges[("ann@initech.com", "bob@initech.com")]
    # 40 hot messages on 10 days, e1 (bob in To and Cc: once) and e3 (a reply to <old>)
    assert (hot["msgs"], hot["msgs_to"], hot["msgs_cc"], hot["active_days"], hot["replies"]) == (42, 42, 0, 10, 1)
    assert edges[("cy@ext.org", "ann@initech.com")]["replies"] == 0  # its parent is after as_of
    assert edges[("dee@ext.org", "ann@initech.com")]["replies"] == 0  # its parent is another tenant's
    assert ("bob@initech.com", "dee@ext.org") not in edges  # sent at as_of: outside
    assert edges[("bob@initech.com", "cy@ext.org")]["msgs"] == 2  # at the start and just before as_of
    nodes = {n["addr"]: n for n in _rows(spark_snapshot, "Initech Corp", "nodes")}
    assert nodes["noreply@initech.com"]["msgs_sent"] == 1 and nodes["noreply@initech.com"]["out_degree"] == 0
    assert nodes["noatsign"]["domain"] == "noatsign" and nodes["x@y@Z.org"]["domain"] == "z.org"
    names = {(d["name_key"], d["addr"]): d for d in _rows(spark_snapshot, "Initech Corp", "display_names")}
    assert names[("ann lee", "ann@initech.com")]["name"] == "ANN LEE"  # tie on count: smallest spelling
    assert ("cy\x0bz", "cy@ext.org") in names  # \v is no RE2 whitespace
    assert ("", "jörg@bücher.de") in names  # a tab-only name folds to ""
    lonely = _rows(spark_snapshot, "lonely", "nodes")
    assert [(n["addr"], n["community"]) for n in lonely] == [("ann@initech.com", -1)]
    assert _rows(spark_snapshot, "lonely", "edges") == []


def test_salted_rebuild_from_the_cli_gives_the_same_snapshot(
    log_a: Path, spark: Any, spark_snapshot: Snapshot, caplog: pytest.LogCaptureFixture
) -> None:
    # through `graphdet rebuild --engine spark` (it finds the module's session active and uses it)
    caplog.set_level(logging.INFO, logger="graphdet.graph.spark")
    out = log_a.parent / "out-salted"
    result = CliRunner().invoke(app, [
        "rebuild", "--engine", "spark", "--master", "local[2]", "--salt-buckets", "7",
        "--spark-conf", "spark.sql.shuffle.partitions=2", "--log", str(log_a), "--out", str(out),
        "--as-of", AS_OF.date().isoformat(), "--lookback-days", str(LOOKBACK), *(["--no-gnn"] if NO_GNN else []),
    ])
    assert result.exit_code == 0, result.output
    assert "salt buckets 7" in caplog.text
    salted = load_snapshot(out)
    assert salted.manifest["engine"] == "spark" and salted.tenants == spark_snapshot.tenants
    for tenant in salted.tenants:
        _assert_same_tenant(spark_snapshot, salted, tenant)


def test_a_tenant_is_untouched_by_other_tenants_traffic(
    log_a: Path, synthetic: pa.Table, spark: Any, spark_snapshot: Snapshot
) -> None:
    from graphdet.graph.spark import SparkEngine

    tenants = sorted(set(synthetic.column("tenant").to_pylist()))
    removed, kept, watched = tenants
    rows = synthetic.filter(pc.equal(synthetic["tenant"], watched)).slice(0, 200).to_pylist()
    # Initech gets mail from the watched tenant's addresses, replying to its message ids
    extra = [("Initech Corp", r["from_addr"], ["ann@initech.com"], [r["to"][0]["addr"]] if r["to"] else [],
              AS_OF - timedelta(hours=i + 1), f"<iso{i}>", r["message_id"], "inbound", r["from_name"])
             for i, r in enumerate(rows)]
    edge_cases = [m for m in _edge_cases() if m[0] != "lonely"]  # a tenant removed entirely
    log_b = _write(log_a.parent / "log-b", synthetic.filter(pc.not_equal(synthetic["tenant"], removed)),
                   edge_cases + extra)
    b = _rebuild(log_b, log_a.parent / "out-b", SparkEngine(spark=spark))
    assert removed not in b.tenants and "lonely" not in b.tenants
    assert _rows(b, "Initech Corp", "edges") != _rows(spark_snapshot, "Initech Corp", "edges")
    for tenant in (kept, watched):
        _assert_same_tenant(spark_snapshot, b, tenant)


@pytest.mark.parametrize("args, message", [
    (["--engine", "local", "--master", "local[2]"], "--engine spark"),
    (["--engine", "spark", "--spark-conf", "spark.driver.memory"], "KEY=VALUE"),
])
def test_cli_rejects_spark_options_it_cannot_use(tmp_path: Path, args: list[str], message: str) -> None:
    log = _write(tmp_path / "log", messages_to_table([]), _edge_cases()[:2])
    result = CliRunner().invoke(app, ["rebuild", "--log", str(log), "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 1, result.output
    assert message in "".join(result.output.splitlines())


def test_without_pyspark_the_spark_engine_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark -> ImportError
    with pytest.raises(ConfigError, match="pip install pyspark"):
        resolve_engine("spark")
    log = _write(tmp_path / "log", messages_to_table([]), _edge_cases()[:2])
    result = CliRunner().invoke(app, ["rebuild", "--engine", "spark", "--log", str(log), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "pip install pyspark" in "".join(result.output.splitlines())


def test_without_java_no_session_is_started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if importlib.util.find_spec("pyspark") is None:
        pytest.skip("pyspark is not installed")
    from graphdet.graph.spark import create_session

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ConfigError, match="Java 17"):
        create_session("local[1]")


def test_salt_buckets_below_one_are_refused(log_a: Path) -> None:
    if importlib.util.find_spec("pyspark") is None:
        pytest.skip("pyspark is not installed")
    from graphdet.graph.engine import Window
    from graphdet.graph.spark import SparkEngine

    with pytest.raises(ConfigError, match="salt_buckets must be at least 1, got 0"):
        SparkEngine(salt_buckets=0).build(log_a, Window(AS_OF, LOOKBACK))


def test_statistics_that_do_not_line_up_with_the_tables_are_refused() -> None:
    if importlib.util.find_spec("pyspark") is None:
        pytest.skip("pyspark is not installed")
    import pandas as pd

    from graphdet.exceptions import SnapshotError
    from graphdet.graph.spark import _attach

    nodes = pd.DataFrame({"tenant": ["acme", "acme"], "node": [0, 1]})
    edges = pd.DataFrame({"tenant": ["acme"], "src_node": [0], "dst_node": [1]})
    row = {c: 0 for c in ("out_degree", "in_degree", "out_strength", "in_strength", "community", "common_neighbors")}
    row |= {c: 0.0 for c in ("reciprocity", "pagerank", "clustering", "inbound_known_share", "adamic_adar")}
    stats = pa.Table.from_pylist([
        {"tenant": "acme", "part": "node", "node": 0, "dst_node": 0, **row, "summary": ""},
        {"tenant": "acme", "part": "node", "node": 2, "dst_node": 0, **row, "summary": ""},  # no node 2
        {"tenant": "acme", "part": "edge", "node": 0, "dst_node": 1, **row, "summary": ""},
        {"tenant": "acme", "part": "summary", "node": 0, "dst_node": 0, **row, "summary": "{}"},
    ])
    with pytest.raises(SnapshotError, match="do not match"):
        _attach(nodes, edges, stats)
    fixed = stats.set_column(stats.schema.get_field_index("node"), "node", pa.array([0, 1, 0, 0]))
    n, e, summaries = _attach(nodes, edges, fixed)
    assert list(n.columns[-9:]) == ["out_degree", "in_degree", "out_strength", "in_strength", "reciprocity",
                                    "pagerank", "community", "clustering", "inbound_known_share"]
    assert summaries == {"acme": {}} and list(e["adamic_adar"]) == [0.0]
