"""Ingest of the real corpora under ../shared/data (skipped with a reason when absent)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pytest

from graphdet.ingest import IngestStats, ingest
from graphdet.messagelog import read_messages, table_to_messages
from graphdet.schema import Address, AuthResult, AuthResults, Direction
from graphdet.tenants import TenantConfig

pytestmark = pytest.mark.realdata

DUPLICATE = "duplicate message id"


def _run(paths: list[Path], out: Path) -> IngestStats:
    stats = ingest(paths, out, TenantConfig())
    assert stats.records_in == stats.parsed + stats.quarantined
    entries = (out / "quarantine.jsonl").read_text().splitlines()
    assert len(entries) == stats.quarantined
    for line in entries:
        assert (out / json.loads(line)["raw_file"]).is_file()
    assert read_messages(out, columns=["message_id"]).num_rows == stats.rows_written == stats.parsed
    return stats


@pytest.fixture(scope="module")
def s390(
    real_file: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[IngestStats, Path]:
    out = tmp_path_factory.mktemp("s390")
    return _run([real_file("linux-s390/2024.mbox.gz")], out), out


def test_linux_s390_counts(s390: tuple[IngestStats, Path]) -> None:
    stats, out = s390
    assert (stats.records_in, stats.parsed, stats.quarantined) == (7146, 7133, 13)
    assert dict(stats.reasons) == {DUPLICATE: 13}
    for line in (out / "quarantine.jsonl").read_text().splitlines():
        assert json.loads(line)["reason"].startswith(f"{DUPLICATE}: <")


def test_linux_s390_known_message(s390: tuple[IngestStats, Path]) -> None:
    _, out = s390
    mid = "<20241022120601.167009-12-imbrenda@linux.ibm.com>"
    (m,) = table_to_messages(read_messages(out, filter=pc.field("message_id") == mid))
    assert m.from_ == Address("imbrenda@linux.ibm.com", "Claudio Imbrenda")
    assert m.subject == "[PATCH v4 11/11] s390/mm: Convert to LOCK_MM_AND_FIND_VMA"
    assert m.received_at == datetime(2024, 10, 22, 12, 8, 57, tzinfo=UTC)
    assert m.to == (Address("linux-kernel@vger.kernel.org", ""),)
    assert m.cc[:3] == (
        Address("borntraeger@de.ibm.com", ""),
        Address("nsg@linux.ibm.com", ""),
        Address("nrb@linux.ibm.com", ""),
    )
    assert m.in_reply_to == "<20241022120601.167009-1-imbrenda@linux.ibm.com>"
    assert m.references == ("<20241022120601.167009-1-imbrenda@linux.ibm.com>",)
    assert m.return_path == "linux-s390+bounces-6681-lists+linux-s390=lfdr.de@vger.kernel.org"
    assert m.auth == AuthResults(dkim=AuthResult.PASS)
    assert m.body.startswith("From: Heiko Carstens <hca@linux.ibm.com>\n\nWith the gmap code gone s390")
    assert (m.tenant, m.direction, m.reply_to, m.attachments) == ("default", Direction.UNKNOWN, None, ())


def test_nazario(real_file: Callable[[str], Path], tmp_path: Path) -> None:
    paths = [real_file("phishing-nazario/phishing0.mbox.gz"), real_file("phishing-nazario/phishing1.mbox.gz")]
    stats = _run(paths, tmp_path / "out")
    assert (stats.records_in, stats.parsed, stats.quarantined) == (870, 856, 14)
    assert dict(stats.reasons) == {DUPLICATE: 14}


def test_phishing_pot(real_file: Callable[[str], Path], tmp_path: Path) -> None:
    stats = _run([real_file("phishing-pot/phishing_pot_sample.mbox.gz")], tmp_path / "out")
    assert (stats.records_in, stats.parsed, stats.quarantined) == (1500, 1492, 8)
    assert dict(stats.reasons) == {
        "no sender address (From, Sender and Return-Path all missing or empty)": 5,
        DUPLICATE: 3,
    }
