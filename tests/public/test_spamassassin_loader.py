"""The SpamAssassin corpus layouts as ordinary ingest inputs (tiny hand-written fixture)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from graphdet.cli import app
from graphdet.exceptions import IngestError
from graphdet.ingest import iter_spamassassin, list_inputs, spamassassin_parts
from graphdet.messagelog import read_labels, read_messages


def test_npm_layout_parts_and_kinds(sa_npm: Path) -> None:
    parts = spamassassin_parts(sa_npm)  # found under package/data
    assert [(p.name, p.kind, len(p.files())) for p in parts] == [
        ("easy-ham-1", "ham", 2), ("hard-ham-1", "ham", 1), ("spam-1", "spam", 3)]
    assert all(f.suffix == ".txt" for p in parts for f in p.files())  # never the .json copies
    assert spamassassin_parts(sa_npm / "package" / "data") == parts
    assert [p.name for p in spamassassin_parts(sa_npm / "package" / "data" / "spam-1")] == ["spam-1"]


def test_tarball_layout_skips_cmds(sa_tarball: Path) -> None:
    parts = spamassassin_parts(sa_tarball)
    assert [(p.name, p.kind) for p in parts] == [("easy_ham", "ham"), ("spam_2", "spam")]
    assert [f.name for p in parts for f in p.files()] == [
        "00001.936b1a45992e7e56cb190ee0801919c4", "00001.2e46a0a973d021c93db15d2bcc2c8f65"]


def test_list_inputs_lists_only_messages_as_eml(sa_npm: Path, sa_tarball: Path) -> None:
    inputs = list_inputs([sa_npm, sa_tarball])
    assert len(inputs) == 6 + 2
    assert {fmt for _, fmt in inputs} == {"eml"}
    assert not any(p.suffix == ".json" or p.name == "cmds" for p, _ in inputs)


def test_iter_spamassassin_yields_raw_records_with_their_part(sa_npm: Path) -> None:
    got = [(part.kind, rec.raw is not None and rec.raw[:5]) for part, rec in iter_spamassassin(sa_npm)]
    assert [k for k, _ in got] == ["ham", "ham", "ham", "spam", "spam", "spam"]


def test_not_a_corpus_names_the_folder(tmp_path: Path) -> None:
    (tmp_path / "mail").mkdir()
    with pytest.raises(IngestError, match=str(tmp_path)):
        list(iter_spamassassin(tmp_path))
    assert spamassassin_parts(tmp_path) == []


def test_a_folder_named_spam_without_corpus_files_is_an_ordinary_folder(tmp_path: Path, files_dir: Path) -> None:
    spam = tmp_path / "spam"
    spam.mkdir()
    (spam / "one.eml").write_bytes((files_dir / "ingest" / "attachments.eml").read_bytes())
    assert spamassassin_parts(spam) == []
    assert list_inputs([spam]) == [(spam / "one.eml", "eml")]


def test_ingest_a_part_with_a_label(sa_npm: Path, tmp_path: Path) -> None:
    part = sa_npm / "package" / "data" / "spam-1"
    result = CliRunner().invoke(app, ["ingest", str(part), "--out", str(tmp_path / "log"), "--label", "spam",
                                      "--label-source", "spamassassin-spam"])
    assert result.exit_code == 0, result.output
    assert "in 3: parsed 2, quarantined 1" in result.output  # one fixture message has no sender
    assert read_messages(tmp_path / "log").num_rows == 2
    labels = read_labels(tmp_path / "log").to_pylist()
    assert {(lb["category"], lb["source"]) for lb in labels} == {("spam", "spamassassin-spam")}
