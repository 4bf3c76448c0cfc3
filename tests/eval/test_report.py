"""`graphdet report`: every section, figures that agree with the library, graph views; bad input."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from graphdet.cli import app
from graphdet.eval import (
    ego_view,
    evaluation_set,
    evaluation_start,
    offline_metrics,
    plot_ego_view,
    stream_after,
)
from graphdet.graph.snapshot import load_snapshot
from tests.eval.helpers import Served

runner = CliRunner()


def test_report_writes_every_section_and_its_figures_agree(served: Served, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = runner.invoke(app, ["report", "--artifacts", str(served.artifacts), "--out", str(out), "--log",
                                 str(served.log), "--chronicle", str(served.chronicle), "--simulate-feedback",
                                 "--logged-vectors", "--top", "2"])
    assert result.exit_code == 0, result.output
    text = (out / "report.md").read_text()
    for section in ("## Offline metrics", "### Per tenant", "### Per day", "## Detectors on their own",
                    "## Online metrics", "## Ablation", "**Retrained**", "## Capability gaps", "## Detector health",
                    "## Graph views"):
        assert section in text, section
    for png in ("pr_curve.png", "health.png"):
        assert (out / png).stat().st_size > 10_000 and f"]({png})" in text
    assert list(out.glob("graph-*.png")), "graph views of the errors"
    summary = json.loads((out / "eval.json").read_text())
    # the window's figures equal the library's on the same chronicle and window
    since = evaluation_start(served.log, served.report)
    es = evaluation_set(served.decisions(), served.labels(), since=since)
    mine = offline_metrics(es)["overall"]
    theirs = summary["offline"]["overall"]
    assert [theirs[k] for k in ("tp", "fp", "fn", "tn")] == [mine[k] for k in ("tp", "fp", "fn", "tn")]
    printed = " ".join(result.output.split())
    assert f"{mine['messages']} decisions, {mine['attacks']} attacks: precision {mine['precision']:.2%}" in printed
    assert f"({mine['tp']} TP, {mine['fp']} FP, {mine['fn']} FN)" in printed
    m = re.search(r"replay reproduced (\d+) of (\d+) decisions exactly", printed)
    assert m is not None and int(m.group(2)) == served.decisions().num_rows
    assert summary["online"]["mature"]["flagged_labelled"] > 0
    assert str(out / "report.md") in printed


def test_report_on_bad_input_says_what_and_where(served: Served, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["report", "--artifacts", str(served.artifacts), "--out", str(tmp_path / "r"),
                                  "--log", str(served.log), "--chronicle", str(tmp_path / "nope")])
    assert missing.exit_code == 1
    text = " ".join(missing.output.split())
    assert "decision chronicle" in text and "nope" in text and "does not exist" in text
    no_art = runner.invoke(app, ["report", "--artifacts", str(tmp_path / "none"), "--out", str(tmp_path / "r")])
    assert no_art.exit_code == 1 and "artifacts folder" in " ".join(no_art.output.split())
    bad_since = runner.invoke(app, ["report", "--artifacts", str(served.artifacts), "--out", str(tmp_path / "r"),
                                    "--log", str(served.log), "--chronicle", str(served.chronicle), "--since", "soon"])
    assert bad_since.exit_code == 1 and "--since" in bad_since.output and "'soon'" in bad_since.output
    for r in (missing, no_art, bad_since):
        assert "Traceback" not in r.output


def test_graph_view_marks_the_decided_edge(served: Served, tmp_path: Path) -> None:
    snapshot = load_snapshot(served.artifacts / "snapshot")
    stream = stream_after(served.log, served.cut, served.cut.replace(hour=6))
    m = next(m for m in stream if m.tenant in snapshot.tenants and m.recipients)
    view = ego_view(snapshot, m.tenant, m.from_.addr, [r.addr for r in m.recipients])
    edges = snapshot.table(m.tenant, "edges", ["src_node", "dst_node", "msgs"]).to_pydict()
    addr = snapshot.table(m.tenant, "nodes", ["addr"]).column("addr").to_pylist()
    pair = {(addr[s], addr[d]): n for s, d, n in zip(edges["src_node"], edges["dst_node"], edges["msgs"], strict=True)}
    for r in m.recipients:
        assert view.earlier_messages[r.addr] == pair.get((m.from_.addr, r.addr), 0)
        assert r.addr in view.graph
    assert view.sender_known == (m.from_.addr in addr)
    assert plot_ego_view(view, tmp_path / "v.png", title="x").stat().st_size > 5_000
    stranger = ego_view(snapshot, m.tenant, "nobody@nowhere.example", [m.recipients[0].addr])
    assert not stranger.sender_known and stranger.earlier_messages[m.recipients[0].addr] == 0


@pytest.mark.parametrize("name", ["graphdet.eval", "graphdet.eval.data", "graphdet.eval.metrics",
                                  "graphdet.eval.online", "graphdet.eval.stack", "graphdet.eval.replay",
                                  "graphdet.eval.gaps", "graphdet.eval.health", "graphdet.eval.graphview",
                                  "graphdet.eval.run", "graphdet.eval.report", "graphdet.eval.cli"])
def test_public_api_is_exactly_all(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(module.__all__)
    assert all(hasattr(module, n) for n in exported)
    defined = {n for n, v in vars(module).items() if not n.startswith("_") and getattr(v, "__module__", None) == name}
    assert defined <= exported, defined - exported
