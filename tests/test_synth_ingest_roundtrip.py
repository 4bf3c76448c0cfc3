"""Synthetic mail rendered as RFC 5322 and ingested back gives the generated messages exactly."""

from pathlib import Path

from graphdet.ingest import ingest
from graphdet.messagelog import read_messages, table_to_messages
from graphdet.synth import SynthConfig, generate, write_eml_dir, write_mbox
from graphdet.tenants import TenantConfig


def test_rendered_mbox_ingests_back_to_identical_messages(tmp_path: Path) -> None:
    log = generate(SynthConfig(seed=3, tenants=2, days=5, employees=20))
    write_mbox(log.messages, tmp_path / "raw.mbox.gz", limit=800)
    stats = ingest([tmp_path / "raw.mbox.gz"], tmp_path / "log", TenantConfig(tuple(log.tenants)))
    assert (stats.records_in, stats.parsed, stats.quarantined) == (800, 800, 0)
    expected = list(table_to_messages(log.messages.slice(0, 800)))
    got = {(m.tenant, m.message_id): m for m in table_to_messages(read_messages(tmp_path / "log"))}
    assert [got[(m.tenant, m.message_id)] for m in expected] == expected


def test_rendered_eml_folder_ingests_back_with_attachments(tmp_path: Path) -> None:
    log = generate(SynthConfig(seed=4, tenants=1, days=5, employees=20))
    with_attachments = log.messages.filter(
        [len(a) > 0 for a in log.messages.column("attachments").to_pylist()]
    ).slice(0, 40)
    assert with_attachments.num_rows > 0
    write_eml_dir(with_attachments, tmp_path / "eml")
    stats = ingest([tmp_path / "eml"], tmp_path / "log", TenantConfig(tuple(log.tenants)))
    assert stats.quarantined == 0
    got = sorted(table_to_messages(read_messages(tmp_path / "log")), key=lambda m: m.message_id)
    want = sorted(table_to_messages(with_attachments), key=lambda m: m.message_id)
    assert got == want
