"""A small trained deployment and the chronicle of its serving the later traffic (once per session)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from graphdet.combiner.pipeline import load_train_config, train_pipeline
from graphdet.eval import stream_after
from graphdet.eval.cli import serve_stream
from graphdet.synth import SynthConfig, generate, write_generated
from tests.eval.helpers import Served


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    """2 tenants x 40 days x 25 employees (seed 3): trained (~10 s), then served after the cut."""
    root = tmp_path_factory.mktemp("served")
    write_generated(generate(SynthConfig(seed=3, tenants=2, days=40, employees=25)), root / "log")
    report = train_pipeline(root / "log", root / "art", config=dataclasses.replace(load_train_config(), gnn_epochs=20))
    cut = datetime.fromisoformat(str(report["cut"]))
    serve_stream(root / "art", stream_after(root / "log", cut), root / "chronicle")
    return Served(root / "log", root / "art", root / "chronicle", report)
