"""Versioned snapshots: manifest, idempotence, pruning, crash safety and corruption."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from graphdet.exceptions import SnapshotError
from graphdet.graph import COLUMNS, TABLES, RebuildResult, current_version, load_snapshot, table_schema
from graphdet.graph import snapshot as snapshot_mod
from graphdet.graph.snapshot import SnapshotWriter, sha256_file

from .logs import write_log
from .strategies import AS_OF

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
Build = Callable[..., RebuildResult]

MSGS = [
    ("acme", "a@acme.com", ["b@acme.com"], ["c@ext.org"], AS_OF - 2 * DAY, "<1>", None, "outbound", "Ann"),
    ("acme", "c@ext.org", ["a@acme.com"], [], AS_OF - DAY, "<2>", "<1>", "inbound", "Cy"),
    ("acme", "b@acme.com", ["a@acme.com"], [], AS_OF - DAY / 2, "<3>", None, "internal"),
    ("Globex Inc", "x@globex.io", ["y@globex.io"], [], AS_OF - DAY, "<1>", None, "internal", "X"),
    ("Globex Inc", "y@globex.io", ["x@globex.io"], [], AS_OF - DAY / 3, "<2>", "<1>", "internal"),
]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return write_log(tmp_path / "log", MSGS)


def _files(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under a snapshot root with its sha256 and mtime."""
    return {str(p.relative_to(root)): (sha256_file(p), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def _versions(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir())


def test_manifest_lists_every_file_with_its_hash_rows_and_schema(log: Path, tmp_path: Path, build: Build) -> None:
    result = build(log, tmp_path / "out")
    assert result.published and (result.tenants, result.nodes, result.edges) == (2, 5, 6)
    snap = load_snapshot(tmp_path / "out")
    m = snap.manifest
    assert snap.version == result.version == current_version(tmp_path / "out")
    assert m["as_of"] == AS_OF.isoformat() and m["lookback_days"] == 3 and m["engine"] == "local"
    assert m["columns"] == COLUMNS
    on_disk = {str(p.relative_to(snap.path)) for p in snap.path.rglob("*") if p.is_file()}
    assert on_disk - {"manifest.json"} == set(m["files"])
    for relpath, meta in m["files"].items():
        assert sha256_file(snap.path / relpath) == meta["sha256"]
        assert pq.read_metadata(snap.path / relpath).num_rows == meta["rows"]
    assert snap.tenants == ["Globex Inc", "acme"]
    assert m["tenants"]["Globex Inc"]["folder"] != "tenants/Globex Inc"  # unsafe name: hashed
    for tenant in snap.tenants:
        info = m["tenants"][tenant]
        assert set(info["rows"]) == set(TABLES)
        for name in TABLES:
            table = snap.table(tenant, name)
            assert table.column_names == ["tenant", *COLUMNS[name]]
            assert table.schema.equals(table_schema(name))
            assert table.num_rows == info["rows"][name] == m["files"][f"{info['folder']}/{name}.parquet"]["rows"]
            assert set(table.column("tenant").to_pylist()) <= {tenant}
    assert m["tenants"]["acme"]["rows"]["nodes"] == 3


def test_same_inputs_give_the_same_version_and_touch_nothing(log: Path, tmp_path: Path, build: Build) -> None:
    out = tmp_path / "out"
    first = build(log, out)
    before = _files(out)
    again = build(log, out)
    assert (again.version, again.published, again.path) == (first.version, False, first.path)
    assert _files(out) == before
    forced = build(log, out, force=True)
    assert forced.published and forced.version == first.version
    assert _versions(out) == [first.version]
    snap = load_snapshot(out)
    for tenant in snap.tenants:  # rebuilt from scratch, byte for byte the same tables
        for name in TABLES:
            relpath = f"{snap.manifest['tenants'][tenant]['folder']}/{name}.parquet"
            assert _files(out)[f"{first.version}/{relpath}"][0] == before[f"{first.version}/{relpath}"][0]


def test_new_as_of_gives_a_new_version_and_keep_prunes_old_ones(log: Path, tmp_path: Path, build: Build) -> None:
    out = tmp_path / "out"
    versions = [build(log, out, as_of=AS_OF + i * HOUR, keep=2).version for i in range(4)]
    assert len(set(versions)) == 4
    assert current_version(out) == versions[-1]
    assert _versions(out) == sorted(versions[-2:])
    assert load_snapshot(out).manifest["as_of"] == (AS_OF + 3 * HOUR).isoformat()
    # an older as-of already published is re-pointed, not rebuilt
    again = build(log, out, as_of=AS_OF + 2 * HOUR, keep=2)
    assert not again.published and current_version(out) == versions[2]


def test_a_changed_log_gives_a_new_version(log: Path, tmp_path: Path, build: Build) -> None:
    out = tmp_path / "out"
    first = build(log, out)
    write_log(log, [*MSGS, ("acme", "d@acme.com", ["a@acme.com"], [], AS_OF - DAY, "<9>", None, "internal")])
    second = build(log, out)
    assert second.published and second.version != first.version
    assert load_snapshot(out).manifest["tenants"]["acme"]["rows"]["nodes"] == 4


def _crash(*_: Any, **__: Any) -> None:
    raise KeyboardInterrupt("killed")


@pytest.mark.parametrize("where", ["rename", "replace"])
def test_a_rebuild_killed_before_publish_keeps_the_previous_snapshot(
    log: Path, tmp_path: Path, build: Build, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    out = tmp_path / "out"
    first = build(log, out)
    # a SIGKILL runs no cleanup: make the rename (or the 'current' swap) fail and skip __exit__
    monkeypatch.setattr(snapshot_mod.os, where, _crash)
    monkeypatch.setattr(SnapshotWriter, "__exit__", lambda *a: None)
    with pytest.raises(KeyboardInterrupt):
        build(log, out, as_of=AS_OF + DAY)
    monkeypatch.undo()
    assert current_version(out) == first.version
    assert load_snapshot(out).version == first.version
    leftovers = list(out.glob(".tmp-*"))
    assert len(leftovers) == (1 if where == "rename" else 0)
    assert list(out.glob(".current-*")) == ([out / f".current-{os.getpid()}"] if where == "replace" else [])
    second = build(log, out, as_of=AS_OF + DAY)
    assert current_version(out) == second.version != first.version
    assert not list(out.glob(".tmp-*"))
    load_snapshot(out)


def test_an_error_during_the_build_cleans_up_its_temporary_folder(
    log: Path, tmp_path: Path, build: Build
) -> None:
    out = tmp_path / "out"
    first = build(log, out)

    def progress(stage: str, done: int, total: int) -> None:
        assert list(out.glob(".tmp-*")), "tables are written to a temporary folder"
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build(log, out, as_of=AS_OF + DAY, progress=progress)
    assert not list(out.glob(".tmp-*"))
    assert _versions(out) == [first.version] and load_snapshot(out).version == first.version


def _first_table(out: Path) -> tuple[Path, str]:
    snap = load_snapshot(out)
    relpath = sorted(snap.manifest["files"])[0]
    return snap.path, relpath


def test_a_flipped_byte_is_reported_with_the_file(log: Path, tmp_path: Path, build: Build) -> None:
    build(log, tmp_path / "out")
    path, relpath = _first_table(tmp_path / "out")
    data = bytearray((path / relpath).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (path / relpath).write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match=re.escape(relpath) + ".*corrupt"):
        load_snapshot(tmp_path / "out")
    with pytest.raises(SnapshotError, match="corrupt"):
        load_snapshot(path)  # a version folder directly
    assert load_snapshot(path, verify=False).version == path.name


def test_a_missing_file_is_reported_with_its_name(log: Path, tmp_path: Path, build: Build) -> None:
    build(log, tmp_path / "out")
    path, relpath = _first_table(tmp_path / "out")
    (path / relpath).unlink()
    with pytest.raises(SnapshotError, match=re.escape(relpath) + ".*missing"):
        load_snapshot(tmp_path / "out")


@pytest.mark.parametrize("text", ["{not json", "", '{"schema_version": 99, "files": {}}'])
def test_a_broken_manifest_is_an_error(log: Path, tmp_path: Path, build: Build, text: str) -> None:
    build(log, tmp_path / "out")
    path, _ = _first_table(tmp_path / "out")
    (path / "manifest.json").write_text(text)
    with pytest.raises(SnapshotError, match=r"manifest\.json"):
        load_snapshot(tmp_path / "out")


def test_no_snapshot_and_a_dangling_current_are_errors(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="no published snapshot"):
        load_snapshot(tmp_path)
    (tmp_path / "current").write_text("20260101T000000Z-gone\n")
    with pytest.raises(SnapshotError, match=r"manifest\.json is missing"):
        load_snapshot(tmp_path)


def test_rebuild_refuses_to_trust_a_corrupt_published_version(log: Path, tmp_path: Path, build: Build) -> None:
    out = tmp_path / "out"
    first = build(log, out)
    path, relpath = _first_table(out)
    (path / relpath).write_bytes(b"garbage")
    with pytest.raises(SnapshotError, match=re.escape(relpath)):
        build(log, out)
    assert build(log, out, force=True).version == first.version
    load_snapshot(out)


def test_manifest_json_is_stable_sorted_json(log: Path, tmp_path: Path, build: Build) -> None:
    result = build(log, tmp_path / "out")
    text = (result.path / "manifest.json").read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_a_log_rewritten_with_same_size_files_is_a_new_input(log: Path, tmp_path: Path, build: Build) -> None:
    # regression: the log identity was names + sizes only, so a log rewritten within the same
    # second with an address of the same length kept the old version (a stale graph)
    out = tmp_path / "out"
    first = build(log, out)
    renamed = [tuple(x.replace("b@acme", "d@acme") if isinstance(x, str)
                     else [y.replace("b@acme", "d@acme") for y in x] if isinstance(x, list) else x
                     for x in m) for m in MSGS]
    write_log(log, renamed)
    second = build(log, out)
    assert second.published and second.version != first.version
    assert "d@acme.com" in load_snapshot(out).table("acme", "nodes").column("addr").to_pylist()
