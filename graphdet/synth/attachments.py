"""Deterministic attachment bytes, so that the table's size and sha256 can be checked.

The bytes of an attachment are a pure function of its file name and size: a magic number
fitting the type (``%PDF``, ``PK``, ``MZ``, ``<html>``) followed by filler from a generator
seeded with the name. :func:`attachment_bytes` is used both when the table is generated (to
compute ``sha256``) and when a message is rendered to .eml/mbox, so the two always agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from graphdet.messagelog import ATTACHMENT_TYPE

__all__ = ["attachment_bytes", "attachment_pool", "content_type"]

_TYPES: dict[str, tuple[str, bytes]] = {
    "pdf": ("application/pdf", b"%PDF-1.7\n"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", b"PK\x03\x04"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK\x03\x04"),
    "docm": ("application/vnd.ms-word.document.macroEnabled.12", b"PK\x03\x04"),
    "xlsm": ("application/vnd.ms-excel.sheet.macroEnabled.12", b"PK\x03\x04"),
    "zip": ("application/zip", b"PK\x03\x04"),
    "html": ("text/html", b"<html><head><title>"),
    "htm": ("text/html", b"<html><head><title>"),
    "exe": ("application/x-msdownload", b"MZ\x90\x00"),
    "iso": ("application/x-iso9660-image", b"\x00CD001"),
    "js": ("application/javascript", b"var _0x"),
    "png": ("image/png", b"\x89PNG\r\n\x1a\n"),
    "jpg": ("image/jpeg", b"\xff\xd8\xff\xe0"),
    "ics": ("text/calendar", b"BEGIN:VCALENDAR\r\n"),
    "csv": ("text/csv", b"date,amount,reference\n"),
}


def content_type(name: str) -> str:
    """The MIME type of a file name by its last extension (``invoice.pdf.exe`` is an exe)."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return _TYPES.get(ext, ("application/octet-stream", b""))[0]


def attachment_bytes(name: str, size: int) -> bytes:
    """The content of attachment ``name`` of ``size`` bytes (deterministic)."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    magic = _TYPES.get(ext, ("", b""))[1][:size]
    digest = hashlib.sha256(f"{name}\0{size}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    return magic + rng.integers(0, 256, size - len(magic), dtype=np.uint8).tobytes()


def attachment_pool(names: Sequence[str], sizes: Sequence[int]) -> pa.StructArray:
    """Attachment records (name, content_type, size, sha256) for each name/size pair."""
    rows = []
    for name, size in zip(names, sizes, strict=False):
        data = attachment_bytes(name, int(size))
        rows.append(
            {
                "name": name,
                "content_type": content_type(name),
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    return pa.array(rows, type=ATTACHMENT_TYPE)
