"""Rendering generated rows as RFC 5322 mail that the stdlib parser reads back."""

from __future__ import annotations

import email
import hashlib
import mailbox
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from graphdet.synth import SynthConfig, generate, write_eml_dir, write_mbox


@pytest.fixture(scope="module")
def sample() -> pa.Table:
    m = generate(SynthConfig(seed=5, tenants=1, days=7, employees=20, attack_share=0.1)).messages
    pick = [
        pc.greater(pc.list_value_length(m["attachments"]), 0),
        pc.greater(pc.list_value_length(m["urls"]), 0),
        pc.greater(pc.list_value_length(m["references"]), 1),
        pc.is_valid(m["reply_to_addr"]),
        pc.match_substring_regex(m["from_name"], "[^ -~]"),
        pc.greater(pc.list_value_length(m["cc"]), 0),
    ]
    parts = [m.filter(p).slice(0, 4) for p in pick]
    t = pa.concat_tables(parts)
    assert t.num_rows >= 20
    # a body line starting with "From " must survive mbox escaping
    body = t["body"].to_pylist()
    body[0] = "From the desk of the CEO\n>From quoted\n" + body[0]
    return t.set_column(t.schema.get_field_index("body"), "body", pa.array(body))


def _check(msg: EmailMessage, row: dict) -> None:
    assert msg["Message-ID"] == row["message_id"]
    assert str(msg["Subject"]) == row["subject"]
    assert getaddresses([str(msg["From"])])[0] == (row["from_name"], row["from_addr"])
    assert [a for _, a in getaddresses([str(msg["To"])])] == [a["addr"] for a in row["to"]]
    assert [n for n, _ in getaddresses([str(msg["To"])])] == [a["name"] for a in row["to"]]
    if row["cc"]:
        assert [a for _, a in getaddresses([str(msg["Cc"])])] == [a["addr"] for a in row["cc"]]
    if row["reply_to_addr"]:
        assert getaddresses([str(msg["Reply-To"])])[0][1] == row["reply_to_addr"]
    assert parsedate_to_datetime(str(msg["Date"])) == row["received_at"].replace(microsecond=0)
    assert msg["In-Reply-To"] == row["in_reply_to"]
    assert str(msg["References"] or "").split() == row["references"]
    ar = str(msg["Authentication-Results"])
    for k in ("spf", "dkim", "dmarc", "arc"):
        assert f"{k}={row[k]}" in ar
    assert msg.get_body(("plain",)).get_content() == row["body"] + "\n"
    html = msg.get_body(("html",)).get_content()
    for u in row["urls"]:
        assert f'href="{u["url"]}"' in html
    atts = list(msg.iter_attachments())
    assert [a.get_filename() for a in atts] == [a["name"] for a in row["attachments"]]
    for part, a in zip(atts, row["attachments"], strict=False):
        data = part.get_payload(decode=True)
        assert len(data) == a["size"] and hashlib.sha256(data).hexdigest() == a["sha256"]


def test_eml_round_trip(sample: pa.Table, tmp_path: Path) -> None:
    paths = write_eml_dir(sample, tmp_path / "eml")
    assert len(paths) == sample.num_rows
    for p, row in zip(paths, sample.to_pylist(), strict=False):
        msg = email.message_from_bytes(p.read_bytes(), policy=policy.default)
        _check(msg, row)  # type: ignore[arg-type]
    again = write_eml_dir(sample, tmp_path / "eml2", limit=3)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths[:3]]


def test_mbox_round_trip(sample: pa.Table, tmp_path: Path) -> None:
    path = tmp_path / "x.mbox"
    assert write_mbox(sample, path) == sample.num_rows
    raw = path.read_bytes()
    assert raw.startswith(b"From ") and b"\n>From the desk" in raw and b"\n>>From quoted" in raw
    box = mailbox.mbox(path)
    messages = [m.as_bytes() for m in box]
    box.close()
    rows = sample.to_pylist()
    assert len(messages) == len(rows)
    for m, row in zip(messages, rows, strict=False):
        msg = email.message_from_bytes(m, policy=policy.default)
        if row is rows[0]:  # mboxrd: un-escape one level, as a mboxrd reader does
            body = msg.get_body(("plain",)).get_content()
            assert body.startswith(">From the desk of the CEO\n>>From quoted\n")
            continue
        _check(msg, row)  # type: ignore[arg-type]
    assert write_mbox(sample, tmp_path / "y.mbox", limit=2) == 2
