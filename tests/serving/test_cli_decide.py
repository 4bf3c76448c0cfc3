"""`graphdet decide` and `graphdet decisions query` on real trained artifacts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
from typer.testing import CliRunner

from graphdet.cli import app
from graphdet.messagelog import read_messages
from graphdet.synth import render_message

if TYPE_CHECKING:  # tests/serving has no __init__.py: conftest is not importable at run time
    from tests.serving.conftest import Trained

runner = CliRunner()
MARKUP_ID = "<[/x]abc[bold]@example.com>"  # rich markup in an attacker-chosen header


def _mail_folder(trained: Trained, folder: Path) -> list[str]:
    """Three real messages from after the cut (one with a markup Message-ID) and a non-email file."""
    from datetime import datetime

    table = read_messages(trained.log)
    cut = pa.scalar(datetime.fromisoformat(trained.cut), pa.timestamp("us", tz="UTC"))
    rows = table.filter(pc.greater_equal(table.column("received_at"), cut)).sort_by("received_at").slice(0, 3)
    folder.mkdir()
    ids = []
    for i, row in enumerate(rows.to_pylist()):
        raw = render_message(row).as_bytes()
        if i == 1:  # written into the header as is (the renderer would refuse it)
            assert raw.count(row["message_id"].encode()) == 1
            raw, row["message_id"] = raw.replace(row["message_id"].encode(), MARKUP_ID.encode()), MARKUP_ID
        (folder / f"m{i}.eml").write_bytes(raw)
        ids.append(row["message_id"])
    (folder / "notes.txt").write_bytes(b"\x00\x01 not mail")
    return ids


def test_decide_json_is_one_object_a_line_with_the_contract_fields(trained: Trained, tmp_path: Path) -> None:
    ids = _mail_folder(trained, tmp_path / "mail")
    result = runner.invoke(app, ["decide", str(tmp_path / "mail"), "--artifacts", str(trained.artifacts), "--json",
                                 "--chronicle", str(tmp_path / "chronicle")])
    assert result.exit_code == 0, result.output
    objects = [json.loads(line) for line in result.stdout.splitlines()]  # JSON Lines
    assert len(objects) == 4
    for o in objects:
        assert {"message_id", "verdict", "category", "score", "reasons", "degraded"} <= set(o)
    assert [o["message_id"] for o in objects[:3]] == ids
    assert objects[3]["degraded"] and objects[3]["verdict"] == "safe"  # the non-email file, failing open
    query = runner.invoke(app, ["decisions", "query", "SELECT message_id FROM decisions ORDER BY seq",
                                "--chronicle", str(tmp_path / "chronicle")])
    assert query.exit_code == 0, query.output
    assert MARKUP_ID in query.stdout  # printed as text, not parsed as markup
    assert "4 rows" in query.stdout


def test_decide_prints_mail_text_verbatim_and_fails_closed_on_request(trained: Trained, tmp_path: Path) -> None:
    _mail_folder(trained, tmp_path / "mail")
    result = runner.invoke(app, ["decide", str(tmp_path / "mail"), "--artifacts", str(trained.artifacts),
                                 "--fail-closed", "--no-learn"])
    assert result.exit_code == 0, result.output
    assert MARKUP_ID in result.stdout
    unparsed = [line for line in result.stdout.splitlines() if "<unparsed-" in line]
    assert len(unparsed) == 1 and unparsed[0].startswith("SUSPICIOUS")


def test_a_message_id_that_is_not_text_prints_as_escapes(trained: Trained, tmp_path: Path) -> None:
    """A message table may hold a JSON "\\ud800" escape (a lone surrogate, which no terminal
    encoding can write) or an ESC sequence (which would drive the operator's terminal): both
    print as escapes, in `decide` and in `decisions query`."""
    from datetime import datetime

    table = read_messages(trained.log)
    cut = pa.scalar(datetime.fromisoformat(trained.cut), pa.timestamp("us", tz="UTC"))
    (row,) = table.filter(pc.greater_equal(table.column("received_at"), cut)).slice(0, 1).to_pylist()
    row["received_at"] = row["received_at"].isoformat()
    row["message_id"] = "<\ud800x\x1b[31mred@example.com>"
    (tmp_path / "rows.jsonl").write_text(json.dumps(row) + "\n")  # ensure_ascii: the escapes as text
    result = runner.invoke(app, ["decide", str(tmp_path / "rows.jsonl"), "--artifacts", str(trained.artifacts),
                                 "--chronicle", str(tmp_path / "chronicle")])
    assert result.exit_code == 0, result.output
    assert "<\\ud800x\\x1b[31mred@example.com>" in result.stdout and "\x1b" not in result.stdout
    query = runner.invoke(app, ["decisions", "query", "SELECT message_id FROM decisions",
                                "--chronicle", str(tmp_path / "chronicle")])
    assert query.exit_code == 0, query.output
    assert "\\x1b[31mred" in query.stdout and "\x1b" not in query.stdout
