"""End to end on a small slice of the real corpora (skipped with a reason when they are absent).

The slice: every fourth message of the linux-s390 year, the first 60 messages of phishing_pot
and of Nazario's first file, the SpamAssassin fixture, and the Enron graph; a small synthetic
log and a few GNN epochs, so the whole `graphdet evaluate-public` runs in well under a minute.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from graphdet.cli import app
from graphdet.ingest import iter_records
from graphdet.messagelog import read_labels, read_messages

pytestmark = pytest.mark.realdata

_ESCAPE = re.compile(rb"(?m)^(>*From )")


def _slice(src: Path, dst: Path, keep: Callable[[int], bool], limit: int | None = None) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with gzip.open(dst, "wb") as f:
        for i, rec in enumerate(iter_records(src, "mbox")):
            if rec.raw is None or not keep(i):
                continue
            when = rec.fallback_time or datetime(2024, 1, 1)
            f.write(b"From slice@graphdet.invalid " + when.strftime("%a %b %d %H:%M:%S %Y").encode() + b"\n")
            f.write(_ESCAPE.sub(rb">\1", rec.raw.rstrip(b"\n")) + b"\n\n")
            n += 1
            if limit is not None and n >= limit:
                break


@pytest.fixture(scope="module")
def run(real_file: Callable[[str], Path], data_dir: Path, files_dir: Path,
        tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, dict[str, Any]]:
    data = tmp_path_factory.mktemp("data")
    _slice(real_file("linux-s390/2024.mbox.gz"), data / "linux-s390" / "2024.mbox.gz", lambda i: i % 4 == 0)
    _slice(real_file("phishing-pot/phishing_pot_sample.mbox.gz"),
           data / "phishing-pot" / "phishing_pot_sample.mbox.gz", lambda i: True, 60)
    _slice(real_file("phishing-nazario/phishing0.mbox.gz"), data / "phishing-nazario" / "phishing0.mbox.gz",
           lambda i: True, 60)
    real_file("enron-graph/people.csv")
    (data / "enron-graph").symlink_to(data_dir / "enron-graph")
    out = tmp_path_factory.mktemp("eval")
    result = CliRunner().invoke(app, [
        "evaluate-public", "--data", str(data), "--out", str(out),
        "--spamassassin", str(files_dir / "spamassassin" / "npm"),
        "--max-per-source", "25", "--cases-per-kind", "6", "--enron-cases", "6", "--gnn-epochs", "2",
        "--synth-tenants", "1", "--synth-days", "40", "--synth-employees", "12",
    ])
    assert result.exit_code == 0, result.output
    return out, result, json.loads((out / "metrics.json").read_text())


def test_one_command_writes_the_per_label_tables(run: tuple[Path, Any, dict[str, Any]]) -> None:
    out, result, metrics = run
    assert metrics["tenant"] == "ibm.com"
    assert set(metrics["tables"]) == {"synthetic", "synthetic+real"}
    expected = {"tenant-inbound", "tenant-outbound", "phishing-pot", "phishing-nazario", "list-ham",
                "spamassassin-easy-ham", "spamassassin-hard-ham", "spamassassin-spam",
                "case-impersonation", "case-lookalike", "case-lateral"}
    for name, table in metrics["tables"].items():
        labels = table["labels"]
        assert set(labels) == expected, name
        assert labels["case-impersonation"]["n"] == 6 and labels["phishing-pot"]["class"] == "attack"
        assert labels["tenant-inbound"]["class"] == "safe" and "fpr_ci" in labels["tenant-inbound"]
        o = table["overall"]
        assert o["messages"] == sum(e["n"] for e in labels.values())
        assert o["attacks"] == sum(e["n"] for e in labels.values() if e["class"] == "attack")
        decisions = pq.read_table(out / f"decisions-{name.replace('+', '-')}.parquet")
        assert decisions.num_rows == o["messages"]
    report = (out / "report.md").read_text()
    assert "| phishing-pot | attack |" in report and "FP on" in report and "GNN time-split" in report
    assert "phishing-pot" in result.output and "report:" in result.output


def test_injected_mail_sits_in_the_test_window_and_never_in_training(run: tuple[Path, Any, dict[str, Any]]) -> None:
    out, _, metrics = run
    test_start = datetime.fromisoformat(metrics["split"]["test_start"])
    end = datetime.fromisoformat(metrics["split"]["end"])
    eval_log = out / "work" / "eval_log"
    labels = read_labels(eval_log)
    injected = labels.filter(pc.invert(pc.starts_with(labels.column("source"), "tenant-")))
    ids = set(injected.column("message_id").to_pylist())
    msgs = read_messages(eval_log, columns=["message_id", "received_at", "spf", "dkim", "return_path"])
    mine = msgs.filter(pc.is_in(msgs.column("message_id"), value_set=injected.column("message_id")))
    assert mine.num_rows == len(ids) > 0
    assert pc.min(mine.column("received_at")).as_py() >= test_start
    assert pc.max(mine.column("received_at")).as_py() < end
    assert set(msgs.column("dkim").to_pylist()) == {"none"} and msgs.column("return_path").null_count == msgs.num_rows
    train = read_messages(out / "work" / "train_log", columns=["tenant", "message_id", "received_at"])
    assert ids.isdisjoint(train.column("message_id").to_pylist())
    real = train.filter(pc.equal(train.column("tenant"), "ibm.com"))
    assert pc.max(real.column("received_at")).as_py() < test_start


def test_enron_part(run: tuple[Path, Any, dict[str, Any]]) -> None:
    _, _, metrics = run
    enron = metrics["enron"]
    assert enron["executives"] > 10 and enron["cases"] == 6
    for table in enron["tables"].values():
        assert table["labels"]["case-executive"]["n"] == 6
        assert table["labels"]["tenant-internal"]["class"] == "safe"
    assert 0.0 < enron["gnn"]["val_auc"] < 1.0 and "baseline_adamic_adar_auc" in enron["gnn"]

