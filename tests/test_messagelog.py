import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from graphdet.exceptions import MessageLogError
from graphdet.messagelog import (
    LABEL_SCHEMA,
    MESSAGE_SCHEMA,
    SCHEMA_VERSION,
    MessageLogWriter,
    messages_to_table,
    read_labels,
    read_log_info,
    read_messages,
    table_to_labels,
    table_to_messages,
)
from graphdet.schema import (
    Address,
    Attachment,
    AuthResult,
    AuthResults,
    Category,
    Direction,
    Label,
    Message,
    Url,
)


def _message(i: int) -> Message:
    return Message(
        tenant="acme",
        message_id=f"<m{i}@x.com>",
        received_at=datetime(2026, 1, 5, 9, i, tzinfo=UTC),
        from_=Address("jürgen@x.com", "Jürgen Müller"),
        to=(Address("a@acme.com", "A"), Address("b@acme.com")),
        cc=(),
        reply_to=Address("pay@y.com", "") if i % 2 else None,
        return_path="bounce@x.com" if i % 2 else None,
        subject=f"Rechnung {i}",
        body="Bitte zahlen ✓",
        urls=(Url("https://x.com/a", "click"),),
        attachments=(Attachment("a.pdf", "application/pdf", 10, "0" * 64),),
        auth=AuthResults(spf=AuthResult.PASS, dkim=AuthResult.FAIL),
        in_reply_to="<p@x.com>" if i % 2 else None,
        references=("<p@x.com>",) if i % 2 else (),
        direction=Direction.INBOUND,
    )


def test_messages_round_trip_through_arrow() -> None:
    messages = [_message(i) for i in range(5)]
    table = messages_to_table(messages)
    assert table.schema.equals(MESSAGE_SCHEMA)
    assert list(table_to_messages(table)) == messages


def test_writer_and_readers_round_trip(tmp_path: Path) -> None:
    messages = [_message(i) for i in range(5)]
    labels = [Label("<m1@x.com>", Category.BEC, "bec-1", "synth")]
    with MessageLogWriter(tmp_path / "log", created_by="test") as w:
        w.write_messages(messages)
        w.write_labels(labels)
        w.set_info(note="hello")
    info = read_log_info(tmp_path / "log")
    assert (info["schema_version"], info["messages"], info["labels"], info["note"]) == (SCHEMA_VERSION, 5, 1, "hello")
    assert list(table_to_messages(read_messages(tmp_path / "log"))) == messages
    assert table_to_labels(read_labels(tmp_path / "log")) == labels


def test_labels_default_to_an_empty_table(tmp_path: Path) -> None:
    with MessageLogWriter(tmp_path / "log") as w:
        w.write_messages([_message(0)])
    assert read_labels(tmp_path / "log").schema.equals(LABEL_SCHEMA)
    assert read_labels(tmp_path / "log").num_rows == 0


def test_existing_log_needs_overwrite(tmp_path: Path) -> None:
    with MessageLogWriter(tmp_path / "log") as w:
        w.write_messages([_message(0), _message(1)])
    with pytest.raises(MessageLogError, match="already holds a message log"):
        with MessageLogWriter(tmp_path / "log"):
            pass
    with MessageLogWriter(tmp_path / "log", overwrite=True) as w:
        w.write_messages([_message(2)])
    assert read_messages(tmp_path / "log").column("message_id").to_pylist() == ["<m2@x.com>"]


def test_unfinished_log_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with MessageLogWriter(tmp_path / "log") as w:
            w.write_messages([_message(0)])
            raise RuntimeError("crash mid-write")
    with pytest.raises(MessageLogError, match="not a finished message log"):
        read_messages(tmp_path / "log")


def test_other_schema_version_is_refused(tmp_path: Path) -> None:
    with MessageLogWriter(tmp_path / "log") as w:
        w.write_messages([_message(0)])
    info = json.loads((tmp_path / "log" / "log.json").read_text())
    info["schema_version"] = SCHEMA_VERSION + 1
    (tmp_path / "log" / "log.json").write_text(json.dumps(info))
    with pytest.raises(MessageLogError, match=f"schema_version {SCHEMA_VERSION + 1}"):
        read_messages(tmp_path / "log")


def test_table_with_wrong_schema_is_refused(tmp_path: Path) -> None:
    with MessageLogWriter(tmp_path / "log") as w:
        with pytest.raises(MessageLogError, match="does not have the message-log schema"):
            w.write_table(pa.table({"tenant": ["a"]}))
