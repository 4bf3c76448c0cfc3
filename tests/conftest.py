"""Shared fixtures: the golden-file folder, the real-data folder and a tenant config."""

from __future__ import annotations

import os

# one BLAS/OpenMP thread per test worker: pytest-xdist already runs one worker per core, and
# torch's thread pool spinning against a busy core is ~15x slower than a single thread
os.environ.setdefault("OMP_NUM_THREADS", "1")
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from graphdet.tenants import TenantConfig, TenantSpec

REPO = Path(__file__).resolve().parents[1]
FILES = Path(__file__).resolve().parent / "files"

# CI has two cores: keep property tests modest and free of wall-clock deadlines.
settings.register_profile(
    "graphdet", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# HYPOTHESIS_PROFILE=thorough for a longer local hunt (every test gets 20x its examples)
settings.register_profile(
    "thorough", max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "graphdet"))


@pytest.fixture(scope="session")
def files_dir() -> Path:
    return FILES


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``<repo>/../shared/data``, or ``$GRAPHDET_DATA``; skips when absent."""
    path = Path(os.environ.get("GRAPHDET_DATA") or REPO.parent / "shared" / "data")
    if not path.is_dir():
        pytest.skip(f"real data folder {path} is absent (set GRAPHDET_DATA to point at a copy)")
    return path


@pytest.fixture(scope="session")
def real_file(data_dir: Path) -> Callable[[str], Path]:
    """``real_file("linux-s390/2024.mbox.gz")``: the path, or a skip naming it when absent."""

    def find(rel: str) -> Path:
        path = data_dir / rel
        if not path.is_file():
            pytest.skip(f"real data file {path} is absent")
        return path

    return find


@pytest.fixture(scope="session")
def acme_config() -> TenantConfig:
    """Two tenants; acme.com covers its subdomains."""
    return TenantConfig(
        (
            TenantSpec("acme", ("acme.com", "acme-corp.com")),
            TenantSpec("globex", ("globex.io",)),
        )
    )
