"""Fixtures of the public-evaluation tests: the SpamAssassin-layout fixture folders."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sa_npm(files_dir: Path) -> Path:
    """The fixture in the npm package's layout (package/data/<part>/NNNNN.<md5>.txt + .json)."""
    return files_dir / "spamassassin" / "npm"


@pytest.fixture(scope="session")
def sa_tarball(files_dir: Path) -> Path:
    """The fixture in the original tarballs' layout (<part>/NNNNN.<md5> + cmds)."""
    return files_dir / "spamassassin" / "tarball"
