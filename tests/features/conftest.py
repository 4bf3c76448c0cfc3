"""A small synthetic log, its snapshot as of a cut, and the messages after the cut."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.compute as pc
import pytest

from graphdet.features import FeatureBuilder, OnlineState
from graphdet.graph import RebuildConfig, rebuild
from graphdet.messagelog import read_messages, table_to_messages
from graphdet.rules import DEFAULT_RULES_DIR, load_rules
from graphdet.schema import Message
from graphdet.synth import SynthConfig, generate, write_generated

CUT = datetime(2026, 1, 25, tzinfo=UTC)  # 20 days after the synth start (2026-01-05): mature tenants
STREAM = 1500  # messages after the cut used by the tests


@dataclass(frozen=True)
class World:
    log: Path
    snap: Path
    stream: list[Message]
    builder: FeatureBuilder

    def state(self) -> OnlineState:
        return OnlineState.from_snapshot(self.snap)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("features")
    write_generated(generate(SynthConfig(seed=5, tenants=2, days=40, employees=25)), root / "log")
    rebuild(root / "log", root / "snap", as_of=CUT, config=RebuildConfig(gnn_epochs=20))
    table = read_messages(root / "log")
    after = table.filter(pc.greater_equal(table.column("received_at"), CUT))
    after = after.sort_by([("received_at", "ascending"), ("message_id", "ascending")])
    stream = list(table_to_messages(after.slice(0, STREAM)))
    assert stream[0].received_at >= CUT and stream[-1].received_at < CUT + timedelta(days=20)
    return World(root / "log", root / "snap", stream, FeatureBuilder(load_rules(DEFAULT_RULES_DIR)))
