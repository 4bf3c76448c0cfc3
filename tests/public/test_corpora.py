"""Corpus loading, de-duplication and the deterministic, disjoint train/test split."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from graphdet.exceptions import ConfigError, GraphdetError
from graphdet.ingest import RawRecord
from graphdet.public.corpora import (
    check_disjoint,
    find_spamassassin,
    load_records,
    load_spamassassin,
    missing_corpora,
    split_corpus,
)
from graphdet.schema import Category

from .test_inject import PHISH, PHISH_NAZARIO


def _records() -> list[RawRecord]:
    other = PHISH.replace(b"<CAM8x7Y=abc@", b"<other@")  # same body, another Message-ID
    return [RawRecord("a:0", raw=PHISH), RawRecord("a:1", raw=PHISH_NAZARIO), RawRecord("a:2", raw=other),
            RawRecord("a:3", raw=PHISH_NAZARIO), RawRecord("a:4", raw=b"Subject: x\n\nno sender"),
            RawRecord("a:5", error="unreadable input: truncated")]


def test_load_records_drops_duplicates_and_says_why() -> None:
    messages, skipped = load_records(_records(), "test")
    assert [m.origin for m in messages] == ["a:0", "a:1"]
    assert dict(skipped) == {"duplicate (Message-ID or content)": 2, "no sender address": 1,
                             "unreadable input: truncated": 1}
    assert messages[1].sent_at.year == 2005


def test_split_is_deterministic_and_disjoint(sa_npm: Path) -> None:
    parts = load_spamassassin(sa_npm)
    assert {s: (c, len(m)) for s, (c, m, _) in parts.items()} == {
        "spamassassin-easy-ham": (Category.SAFE, 2), "spamassassin-hard-ham": (Category.SAFE, 1),
        "spamassassin-spam": (Category.SPAM, 2)}
    msgs = [m for _, ms, _ in parts.values() for m in ms]
    train, test = split_corpus(msgs, 0.5, seed=0)
    assert (train, test) == split_corpus(msgs, 0.5, seed=0)
    assert sorted(m.key for m in train + test) == sorted(m.key for m in msgs)
    assert {m.key for m in train}.isdisjoint({m.key for m in test})
    with pytest.raises(ConfigError, match="test share"):
        split_corpus(msgs, 1.0, seed=0)


def test_check_disjoint_catches_a_shared_message() -> None:
    messages, _ = load_records(_records(), "test")
    with pytest.raises(GraphdetError, match="Message-ID"):
        check_disjoint(messages, messages[:1])
    moved = replace(messages[0], message_id="<renamed@x>")
    with pytest.raises(GraphdetError, match="content"):
        check_disjoint([moved], messages[:1])


def test_find_spamassassin(sa_npm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("GRAPHDET_SPAMASSASSIN", raising=False)
    assert find_spamassassin(tmp_path) is None
    assert find_spamassassin(tmp_path, sa_npm) == sa_npm
    monkeypatch.setenv("GRAPHDET_SPAMASSASSIN", str(sa_npm))
    assert find_spamassassin(tmp_path) == sa_npm
    with pytest.raises(ConfigError, match=str(tmp_path / "nope")):
        find_spamassassin(tmp_path, tmp_path / "nope")


def test_missing_corpora_names_what_is_absent(tmp_path: Path) -> None:
    assert missing_corpora(tmp_path / "none") == [f"data folder {tmp_path / 'none'} does not exist"]
    reasons = missing_corpora(tmp_path)
    assert any("linux-s390/2024.mbox.gz" in r for r in reasons) and any("phishing" in r for r in reasons)
