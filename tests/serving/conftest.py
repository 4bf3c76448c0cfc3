"""Shared serving fixtures: one small synthetic log and the artifacts trained on it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from graphdet.combiner.pipeline import load_train_config, train_pipeline
from graphdet.synth import SynthConfig, generate, write_generated


@dataclasses.dataclass(frozen=True)
class Trained:
    """``log``: the labelled message log; ``artifacts``: what training wrote (treat as read-only:
    copy it before changing anything); ``cut``: the train/test time cut (ISO 8601)."""

    log: Path
    artifacts: Path
    cut: str


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """Trained once per test session (~10 s): 2 tenants, 40 days, 25 employees, seed 3."""
    root = tmp_path_factory.mktemp("trained")
    write_generated(generate(SynthConfig(seed=3, tenants=2, days=40, employees=25)), root / "log")
    report = train_pipeline(root / "log", root / "art", config=dataclasses.replace(load_train_config(), gnn_epochs=20))
    return Trained(root / "log", root / "art", str(report["cut"]))
