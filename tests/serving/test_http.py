"""The HTTP service: a real `serve()` process on loopback, driven by a real httpx client."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from graphdet.messagelog import read_messages
from graphdet.synth import render_message
from serving.http import serve

if TYPE_CHECKING:  # tests/serving has no __init__.py: conftest is not importable at run time
    from tests.serving.conftest import Trained

REPO = Path(__file__).resolve().parents[2]
FIELDS = {"message_id", "tenant", "verdict", "category", "score", "reasons", "attribution", "rule_hits",
          "degraded", "degraded_reason", "versions"}


@dataclasses.dataclass
class Server:
    client: httpx.Client
    proc: subprocess.Popen[bytes]
    port: int
    artifacts: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(artifacts: Path, log: Path, *, reload_seconds: float) -> tuple[subprocess.Popen[bytes], int]:
    """``serve()`` in a subprocess, host left at its default."""
    port = _free_port()
    code = (f"from pathlib import Path; from serving.http import serve; "
            f"serve(Path({str(artifacts)!r}), port={port}, reload_seconds={reload_seconds})")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, port


def _wait(client: httpx.Client, proc: subprocess.Popen[bytes], log: Path, path: str, status: int) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            r = client.get(path)
            if r.status_code == status:
                return r
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{path} did not answer {status} within 60 s:\n{log.read_text(errors='replace')}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclasses.dataclass
class Broken:
    """A server whose artifacts folder cannot load (started alongside the good one: startup is slow)."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path


@pytest.fixture(scope="module")
def servers(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Broken]]:
    root = tmp_path_factory.mktemp("http")
    artifacts = root / "art"  # a copy: the reload test touches it
    shutil.copytree(trained.artifacts, artifacts, symlinks=True)
    (root / "broken").mkdir()  # no rules, no model: the engine cannot load
    log, broken_log = root / "server.log", root / "broken.log"
    proc, port = _start(artifacts, log, reload_seconds=0.5)
    broken_proc, broken_port = _start(root / "broken", broken_log, reload_seconds=30)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        _wait(client, proc, log, "/readyz", 200)
        yield Server(client, proc, port, artifacts, log), Broken(broken_proc, broken_port, broken_log)
    finally:
        client.close()
        _stop(proc)
        _stop(broken_proc)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text


@pytest.fixture(scope="module")
def server(servers: tuple[Server, Broken]) -> Server:
    return servers[0]


@pytest.fixture(scope="module")
def rows(trained: Trained) -> list[dict[str, Any]]:
    """Real message-log rows from after the training cut, as JSON-ready dicts."""
    table = read_messages(trained.log)
    cut = pa.scalar(datetime.fromisoformat(trained.cut), pa.timestamp("us", tz="UTC"))
    table = table.filter(pc.greater_equal(table.column("received_at"), cut)).sort_by("received_at")
    out = table.slice(0, 60).to_pylist()
    for row in out:
        row["received_at"] = row["received_at"].isoformat()
    return out


def _decide(server: Server, payload: Any) -> httpx.Response:
    return server.client.post("/v1/decide", json=payload)


def _metrics(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = server.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(r.text) for s in fam.samples}


# ---------------------------------------------------------------------------- liveness, binding


def test_healthz_and_readyz(server: Server) -> None:
    assert server.client.get("/healthz").json() == {"alive": True}
    ready = server.client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True
    assert set(body["versions"]) == {"snapshot", "model", "rules", "features", "policy", "reasons"}
    assert body["versions"]["model"] != "none"
    assert body["degraded"] == []


def test_binds_to_loopback_by_default(server: Server) -> None:
    assert inspect.signature(serve).parameters["host"].default == "127.0.0.1"
    tcp, tcp6 = Path("/proc/net/tcp"), Path("/proc/net/tcp6")
    if not tcp.exists():
        pytest.skip("no /proc/net/tcp to read the listening address from")

    def listening(table: Path) -> list[str]:
        if not table.exists():
            return []
        out = []
        for line in table.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, port = local.rsplit(":", 1)
            if int(port, 16) == server.port and state == "0A":  # 0A: LISTEN
                out.append(addr)
        return out

    assert listening(tcp) == ["0100007F"]  # 127.0.0.1, little-endian hex
    assert listening(tcp6) == []


def test_not_ready_while_the_engine_cannot_load(servers: tuple[Server, Broken]) -> None:
    broken = servers[1]
    with httpx.Client(base_url=f"http://127.0.0.1:{broken.port}", timeout=30) as client:
        r = _wait(client, broken.proc, broken.log, "/readyz", 503)
        assert r.json()["ready"] is False
        assert "engine failed to load" in r.json()["reasons"][0]
        assert client.get("/healthz").status_code == 200
        d = client.post("/v1/decide", json={"message_id": "x"})
        assert d.status_code == 503
        assert d.json()["error"].startswith("not ready: engine failed to load")


# ---------------------------------------------------------------------------- deciding


def test_decide_one_json_message(server: Server, rows: list[dict[str, Any]]) -> None:
    row = rows[0]
    r = _decide(server, row)
    assert r.status_code == 200, r.text
    [d] = r.json()["decisions"]
    assert set(d) >= FIELDS
    assert (d["message_id"], d["tenant"]) == (row["message_id"], row["tenant"])
    assert d["verdict"] in {"safe", "suspicious", "malicious"}
    assert isinstance(d["score"], float) and 0.0 <= d["score"] <= 1.0
    assert d["degraded"] is False and d["degraded_reason"] == ""
    assert d["versions"] == server.client.get("/readyz").json()["versions"]
    assert all(set(a) == {"feature", "contribution"} for a in d["attribution"])


def test_decide_a_batch_of_20(server: Server, rows: list[dict[str, Any]]) -> None:
    batch = rows[1:21]
    r = _decide(server, {"messages": batch})
    assert r.status_code == 200, r.text
    decisions = r.json()["decisions"]
    assert [d["message_id"] for d in decisions] == [row["message_id"] for row in batch]
    assert all(set(d) >= FIELDS and not d["degraded"] for d in decisions)


@pytest.mark.parametrize("content_type", ["message/rfc822", "application/octet-stream"])
def test_decide_raw_rfc822(server: Server, rows: list[dict[str, Any]], content_type: str) -> None:
    row = rows[30 if content_type == "message/rfc822" else 31]
    raw = render_message({**row, "received_at": datetime.fromisoformat(row["received_at"])}).as_bytes()
    r = server.client.post("/v1/decide", content=raw, headers={"content-type": content_type})
    assert r.status_code == 200, r.text
    decisions = r.json()["decisions"]
    assert [d["message_id"] for d in decisions] == [row["message_id"]]
    assert decisions[0]["tenant"] == row["tenant"]
    assert decisions[0]["degraded"] is False


# ---------------------------------------------------------------------------- bad input


def _bad(rows: list[dict[str, Any]]) -> list[tuple[str, Any, str]]:
    row = rows[40]
    without_id = {k: v for k, v in row.items() if k != "message_id"}
    return [
        ("missing message_id", without_id, "message_id is missing"),
        ("bad received_at", {**row, "received_at": "yesterday"}, "received_at 'yesterday' is not an ISO 8601 time"),
        ("wrong type for to", {**row, "to": 5}, "to: expected a list of addresses, got int"),
        ("number as message_id", {**row, "message_id": 7}, "message_id must be a string, got int"),
        ("unknown column", {**row, "form_addr": "a@b.c"}, "unknown column(s) ['form_addr']"),
        ("not an object", [row], "expected a JSON object"),
        ("bad row in a batch", {"messages": [row, {**row, "to": 5}]}, "messages[1]: to: expected a list"),
        ("empty batch", {"messages": []}, "messages must be a non-empty list"),
    ]


def test_bad_json_payloads_are_400_naming_the_fault(server: Server, rows: list[dict[str, Any]]) -> None:
    for name, payload, expected in _bad(rows):
        r = _decide(server, payload)
        assert r.status_code == 400, (name, r.text)
        assert expected in r.json()["error"], (name, r.json())


@pytest.mark.parametrize(
    ("body", "content_type", "status", "expected"),
    [
        (b"{not json", "application/json", 400, "body is not valid JSON"),
        (b"", "application/json", 400, "body is empty"),
        (b"", "message/rfc822", 400, "body is empty"),
        (b"\xff\xfe{", "application/json; charset=utf-8", 400, "body is not valid JSON"),
        (b"hello", "text/plain", 415, "unsupported Content-Type 'text/plain'"),
        (b"hello", None, 415, "unsupported Content-Type '(none)'"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "nested too deeply"),
        (b'{"messages": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", "application/json", 400, "nested too deeply"),
        (b'{"message_id": "\\ud800abc", "tenant": "x"}', "application/json", 400,
         "body.message_id: a string holds an unpaired UTF-16 surrogate"),
    ],
)
def test_bad_bodies(server: Server, body: bytes, content_type: str | None, status: int, expected: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    r = server.client.post("/v1/decide", content=body, headers=headers)
    assert r.status_code == status, r.text
    assert expected in r.json()["error"]


# ---------------------------------------------------------------------------- metrics, reload


def test_metrics_count_what_was_served(server: Server, rows: list[dict[str, Any]]) -> None:
    before = _metrics(server)
    verdicts: list[str] = []
    verdicts += [d["verdict"] for d in _decide(server, rows[50]).json()["decisions"]]
    verdicts += [d["verdict"] for d in _decide(server, {"messages": rows[51:56]}).json()["decisions"]]
    raw = render_message({**rows[56], "received_at": datetime.fromisoformat(rows[56]["received_at"])}).as_bytes()
    verdicts += [d["verdict"] for d in server.client.post(
        "/v1/decide", content=raw, headers={"content-type": "message/rfc822"}).json()["decisions"]]
    assert _decide(server, {**rows[57], "to": 5}).status_code == 400
    assert server.client.post("/v1/decide", content=b"{", headers={"content-type": "application/json"}).status_code \
        == 400
    assert server.client.post("/v1/decide", content=b"x", headers={"content-type": "text/plain"}).status_code == 415
    after = _metrics(server)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        assert key in after, f"{key} not in /metrics"
        return after[key] - before.get(key, 0.0)

    assert len(verdicts) == 7
    for v in ("safe", "suspicious", "malicious"):
        assert delta("graphdet_decisions_total", verdict=v) == verdicts.count(v)
    assert delta("graphdet_degraded_decisions_total") == 0
    assert delta("graphdet_decide_seconds_count", kind="json") == 2
    assert delta("graphdet_decide_seconds_count", kind="raw") == 1
    assert delta("graphdet_decide_seconds_sum", kind="json") > 0
    assert delta("graphdet_errors_total", kind="bad_request") == 2
    assert delta("graphdet_errors_total", kind="unsupported_media_type") == 1
    assert delta("graphdet_errors_total", kind="internal") == 0
    for gauge in ("graphdet_reloads_refused", "graphdet_chronicle_failures", "graphdet_chronicle_quarantined"):
        assert after[(gauge, ())] == 0


def test_feedback_is_recorded_and_bad_feedback_is_400(server: Server, rows: list[dict[str, Any]]) -> None:
    before = _metrics(server)
    post = server.client.post
    ok = post("/v1/feedback", json={"message": rows[2], "category": "bec"})
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"recorded": 1}
    assert post("/v1/feedback", json={"message": rows[3], "category": "safe"}).json() == {"recorded": 0}
    bad = [
        ({"message": rows[2], "category": "nonsense"}, "category: 'nonsense' is not one of"),
        ({"message": rows[2]}, 'feedback is {"message": {...}, "category": "..."}'),
        ({"message": {**rows[2], "to": 5}, "category": "bec"}, "message: to: expected a list of addresses"),
        ([rows[2]], "got list"),
    ]
    for payload, expected in bad:
        r = post("/v1/feedback", json=payload)
        assert r.status_code == 400 and expected in r.json()["error"], (payload, r.text)
    assert post("/v1/feedback", content=b"x", headers={"content-type": "text/plain"}).status_code == 415
    after = _metrics(server)
    assert after[("graphdet_feedback_total", (("category", "bec"),))] - \
        before.get(("graphdet_feedback_total", (("category", "bec"),)), 0.0) == 1


def test_background_reload_hot_swaps(server: Server, rows: list[dict[str, Any]]) -> None:
    before = _metrics(server)[("graphdet_reloads_total", ())]
    reasons = server.artifacts / "reasons.yaml"
    st = reasons.stat()
    os.utime(reasons, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # the engine's fingerprint changes
    deadline = time.monotonic() + 20
    while _metrics(server)[("graphdet_reloads_total", ())] == before:
        assert time.monotonic() < deadline, "the background task did not reload within 20 s"
        time.sleep(0.2)
    r = _decide(server, rows[58])
    assert r.status_code == 200 and not r.json()["decisions"][0]["degraded"]
    assert json.loads(server.client.get("/readyz").text)["ready"] is True


def test_a_loader_that_raises_anything_is_a_not_ready_reason_not_a_dead_service() -> None:
    """serve()'s background loader keeps any load failure as the /readyz reason (and retries):
    before, an exception other than GraphdetError/OSError ended the loader for good."""
    from serving.http import _Metrics, _Service

    def loader() -> Any:
        raise KeyError("params")

    service = _Service(loader=loader, engine=None, owns_engine=True, reload_seconds=1.0, metrics=_Metrics(),
                       decide_threads=1)
    service.load()
    assert service.engine is None
    assert service.unready() == "engine failed to load: KeyError: 'params'"


def test_metrics_show_refused_reloads_and_chronicle_trouble(trained: Trained, tmp_path: Path,
                                                            rows: list[dict[str, Any]]) -> None:
    """What an operator must see without reading logs: a publish the engine would not take,
    decisions the chronicle could not take, and chronicle lines set aside."""
    import asyncio

    from serving import DecisionEngine, ServingConfig
    from serving.http import create_app

    artifacts = tmp_path / "art"
    shutil.copytree(trained.artifacts, artifacts, symlinks=True)
    chronicle = tmp_path / "chronicle"
    chronicle.mkdir()
    (chronicle / "wal-20250101T000000000000Z-1-0.jsonl").write_text("no header\n")  # a dead writer's garbage
    engine = DecisionEngine.load(artifacts, config=ServingConfig(chronicle=chronicle))
    binary = artifacts / "model" / "binary.txt"
    binary.write_bytes(binary.read_bytes()[:500])  # a half-written publish
    assert engine.reload() is False

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    engine.chronicle.append = refuse

    async def scrape() -> str:  # the app in process (no lifespan needed: the engine is given)
        transport = httpx.ASGITransport(app=create_app(engine))
        async with httpx.AsyncClient(transport=transport, base_url="http://graphdet") as client:
            assert (await client.post("/v1/decide", json=rows[0])).status_code == 200
            return (await client.get("/metrics")).text

    metrics = {s.name: s.value for fam in text_string_to_metric_families(asyncio.run(scrape()))
               for s in fam.samples if not s.labels}
    assert metrics["graphdet_reloads_refused"] == 1
    assert metrics["graphdet_chronicle_failures"] == 1
    assert metrics["graphdet_chronicle_quarantined"] == 1
