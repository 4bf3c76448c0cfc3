"""Online precision / FNR from the chronicle and late feedback; feedback files that are wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from graphdet.cli import app
from graphdet.eval import EvalError, OnlineConfig, online_metrics, read_feedback
from graphdet.eval.online import FEEDBACK_SCHEMA
from tests.eval.helpers import DAY1, Row, chronicle

DAY5 = datetime(2026, 3, 5, 10, 0, tzinfo=UTC)
AS_OF = datetime(2026, 3, 10, tzinfo=UTC)
D = timedelta(days=1)

DECISIONS = [
    Row("A", "t1", DAY1, "malicious", "bec"),  # analyst confirms: a true positive
    Row("B", "t1", DAY1, "malicious", "spam"),  # user says spam, then the analyst says safe: analyst wins
    Row("C", "t1", DAY1, "malicious", "bec"),  # never labelled
    Row("D", "t1", DAY1, "safe", "safe"),  # a user reports a miss within the window
    Row("E", "t1", DAY1, "safe", "safe"),  # reported after 8 days: late, never counted
    Row("F", "t1", DAY1, "safe", "safe"),  # analyst says safe
    Row("G", "t2", DAY1, "safe", "safe"),  # a label without a tenant counts for every tenant
    Row("H", "t1", DAY5, "malicious", "vendor_fraud"),  # its label arrives after as_of
    Row("I", "t1", DAY5, "safe", "safe"),  # its day is still provisional
]
FEEDBACK = [
    ("A", "t1", "bec", "analyst", DAY1 + D),
    ("B", "t1", "spam", "user_report", DAY1 + D / 2),
    ("B", "t1", "safe", "analyst", DAY1 + 2 * D),
    ("D", "t1", "credential_phishing", "user_report", DAY1 + 3 * D),
    ("E", "t1", "malware", "user_report", DAY1 + 8 * D),
    ("F", "t1", "safe", "analyst", DAY1 + D),
    ("G", "", "bec", "user_report", DAY1 + D),
    ("H", "t1", "vendor_fraud", "analyst", AS_OF + D),
]


def feedback_table() -> pa.Table:
    cols = list(zip(*FEEDBACK, strict=True))
    return pa.table({n: pa.array(list(c), FEEDBACK_SCHEMA.field(n).type) for n, c in
                     zip(FEEDBACK_SCHEMA.names, cols, strict=True)}, schema=FEEDBACK_SCHEMA)


def test_online_precision_and_fnr_with_late_labels(tmp_path: Path) -> None:
    table = chronicle(tmp_path / "chron", DECISIONS)
    m = online_metrics(table, feedback_table(), OnlineConfig(maturity_days=7, as_of=AS_OF))
    o = m["overall"]
    assert (o["flagged"], o["flagged_labelled"], o["precision"], o["coverage"]) == (4, 2, 0.5, 0.5)
    assert (o["labelled_attacks"], o["missed_reported"]) == (3, 2)  # A, D, G; missed D and G
    assert o["fnr"] == pytest.approx(2 / 3)
    assert (m["late_labels"], m["not_yet_arrived"]) == (1, 1)
    mature = m["mature"]  # without day 5 (H, I): its 7-day window is still open on as_of
    assert (mature["decisions"], mature["flagged"], mature["flagged_labelled"]) == (7, 3, 2)
    assert m["per_day"]["2026-03-05"]["provisional"] and not m["per_day"]["2026-03-01"]["provisional"]
    # a longer window counts E's late report: one more missed attack
    longer = online_metrics(table, feedback_table(), OnlineConfig(maturity_days=10, as_of=AS_OF))
    assert (longer["overall"]["labelled_attacks"], longer["late_labels"]) == (4, 0)


def test_feedback_files_round_trip_and_errors_name_the_row(tmp_path: Path) -> None:
    path = tmp_path / "fb.parquet"
    pq.write_table(feedback_table(), path)
    assert read_feedback(path).num_rows == len(FEEDBACK)
    csv = tmp_path / "fb.csv"
    csv.write_text("message_id,label,source,reported_at\nA,bec,analyst,2026-03-02T10:00:00+00:00\n")
    assert read_feedback(csv).column("tenant").to_pylist() == [""]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"message_id": "A", "label": "bec", "source": "analyst",
                               "reported_at": "2026-03-02T10:00:00Z"}) + "\n" +
                   json.dumps({"message_id": "B", "label": "phish", "source": "analyst",
                               "reported_at": "2026-03-02T10:00:00Z"}) + "\n")
    with pytest.raises(EvalError, match=r"bad.jsonl: row 2: label 'phish' is not one of safe, bec"):
        read_feedback(bad)
    naive = tmp_path / "naive.csv"
    naive.write_text("message_id,label,source,reported_at\nA,bec,analyst,2026-03-02 10:00\n")
    with pytest.raises(EvalError, match=r"row 1: reported_at .* needs a time zone"):
        read_feedback(naive)
    short = tmp_path / "short.csv"
    short.write_text("message_id,label\nA,bec\n")
    with pytest.raises(EvalError, match=r"short.csv: missing columns \['source', 'reported_at'\]"):
        read_feedback(short)
    with pytest.raises(EvalError, match=r"unknown format '\.txt'"):
        (tmp_path / "fb.txt").write_text("x")
        read_feedback(tmp_path / "fb.txt")
    with pytest.raises(EvalError, match="does not exist"):
        read_feedback(tmp_path / "nope.csv")


def test_report_with_a_bad_feedback_file_names_it(tmp_path: Path) -> None:
    art = tmp_path / "art"
    (art / "model").mkdir(parents=True)
    bad = tmp_path / "bad.csv"
    bad.write_text("message_id\n")
    result = CliRunner().invoke(app, ["report", "--artifacts", str(art), "--out", str(tmp_path / "r"),
                                      "--feedback", str(bad)])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "bad.csv" in text and "missing columns ['label', 'source', 'reported_at']" in text
    assert "Traceback" not in text
