"""Versioned snapshots: written under a temporary name, published by atomic rename.

Layout of a snapshot root (``--out``)::

    OUT/current                      the published version's name (replaced atomically)
    OUT/<version>/manifest.json      schema version, as-of, config hash, row counts, sha256s
    OUT/<version>/tenants/<t>/<table>.parquet    one folder per tenant: tenant isolation

A version is built in ``OUT/.tmp-<version>-<pid>`` and renamed into place only when
complete, then ``current`` is replaced with ``os.replace``; a job killed before that leaves the
previous ``current`` untouched (the stale temporary folder is removed by the next run).
:func:`load_snapshot` verifies every file's sha256 and names the corrupt one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from graphdet.exceptions import SnapshotError

__all__ = [
    "SNAPSHOT_SCHEMA_VERSION",
    "Snapshot",
    "SnapshotWriter",
    "current_version",
    "load_snapshot",
    "sha256_file",
    "tenant_folder",
]

logger = logging.getLogger(__name__)

SNAPSHOT_SCHEMA_VERSION = 1
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tenant_folder(tenant: str) -> str:
    """A file-system-safe folder name for a tenant (the name itself when it is safe)."""
    if _SAFE.match(tenant) and tenant not in (".", ".."):
        return tenant
    return "t-" + hashlib.sha256(tenant.encode()).hexdigest()[:16]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SnapshotWriter:
    """Build one version in a temporary folder; :meth:`publish` makes it current."""

    def __init__(self, root: str | Path, version: str) -> None:
        self.root = Path(root)
        self.version = version
        self.tmp = self.root / f".tmp-{version}-{os.getpid()}"
        self.files: dict[str, dict[str, Any]] = {}

    def __enter__(self) -> SnapshotWriter:
        self.root.mkdir(parents=True, exist_ok=True)
        for stale in self.root.glob(".tmp-*"):
            logger.warning("removing unfinished snapshot %s from an earlier run", stale)
            shutil.rmtree(stale, ignore_errors=True)
        self.tmp.mkdir()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self.tmp.exists():  # not published: an error, or the caller gave up
            shutil.rmtree(self.tmp, ignore_errors=True)

    def write_table(self, relpath: str, table: pa.Table) -> None:
        path = self.tmp / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, compression="zstd")
        self.files[relpath] = {"rows": table.num_rows}

    def write_bytes(self, relpath: str, data: bytes) -> None:
        path = self.tmp / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files[relpath] = {"bytes": len(data)}

    def publish(self, manifest: dict[str, Any], *, keep: int = 3) -> Path:
        """Hash every file, write the manifest, rename into place, point ``current`` at it."""
        for relpath, meta in self.files.items():
            meta["sha256"] = sha256_file(self.tmp / relpath)
        manifest = {
            "schema_version": SNAPSHOT_SCHEMA_VERSION,
            "version": self.version,
            **manifest,
            "files": dict(sorted(self.files.items())),
        }
        (self.tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        for path in self.tmp.rglob("*"):
            if path.is_file():
                with path.open("rb") as f:
                    os.fsync(f.fileno())
        final = self.root / self.version
        if final.exists():
            shutil.rmtree(final)  # same version rebuilt (e.g. --force): replace it whole
        os.rename(self.tmp, final)
        pointer = self.root / f".current-{os.getpid()}"
        pointer.write_text(self.version + "\n")
        os.replace(pointer, self.root / "current")
        _fsync_dir(self.root)
        logger.info("published snapshot %s", final)
        _prune(self.root, keep)
        return final


def _versions(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "manifest.json").exists())


def _prune(root: Path, keep: int) -> None:
    current = current_version(root)
    versions = [p for p in _versions(root) if p.name != current]
    versions.sort(key=lambda p: p.stat().st_mtime)
    for old in versions[: max(0, len(versions) - (keep - 1))]:
        logger.info("removing old snapshot %s (keeping the last %d)", old, keep)
        shutil.rmtree(old, ignore_errors=True)


def current_version(root: str | Path) -> str | None:
    """The name in ``root/current``, or None when nothing was published yet."""
    pointer = Path(root) / "current"
    if not pointer.exists():
        return None
    return pointer.read_text().strip() or None


@dataclass
class Snapshot:
    """A verified snapshot on disk. Tables are read lazily with :meth:`table`."""

    path: Path
    manifest: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def tenants(self) -> list[str]:
        return sorted(self.manifest["tenants"])

    def table(self, tenant: str, name: str, columns: Iterable[str] | None = None) -> pa.Table:
        info = self.manifest["tenants"].get(tenant)
        if info is None:
            raise SnapshotError(f"snapshot {self.path} has no tenant {tenant!r}; it has {self.tenants}")
        return pq.read_table(self.path / info["folder"] / f"{name}.parquet",
                             columns=list(columns) if columns is not None else None)


def load_snapshot(root_or_version: str | Path, *, verify: bool = True) -> Snapshot:
    """Open the current snapshot of a root (or one version folder) and verify its files.

    Raises :class:`SnapshotError` naming the missing or corrupt file.
    """
    path = Path(root_or_version)
    if not (path / "manifest.json").exists():
        version = current_version(path)
        if version is None:
            raise SnapshotError(f"{path} holds no published snapshot (no 'current' and no manifest.json)")
        path = path / version
    manifest_path = path / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise SnapshotError(f"snapshot {path}: manifest.json is missing") from None
    except json.JSONDecodeError as e:
        raise SnapshotError(f"{manifest_path}: not valid JSON ({e})") from None
    if manifest.get("schema_version") != SNAPSHOT_SCHEMA_VERSION:
        raise SnapshotError(
            f"{manifest_path}: schema_version {manifest.get('schema_version')!r}, "
            f"this graphdet reads {SNAPSHOT_SCHEMA_VERSION}"
        )
    if verify:
        for relpath, meta in manifest["files"].items():
            f = path / relpath
            if not f.exists():
                raise SnapshotError(f"snapshot {path}: {relpath} is listed in the manifest but missing")
            digest = sha256_file(f)
            if digest != meta["sha256"]:
                raise SnapshotError(
                    f"snapshot {path}: {relpath} is corrupt (sha256 {digest[:12]}..., "
                    f"manifest says {meta['sha256'][:12]}...)"
                )
    return Snapshot(path, manifest)
