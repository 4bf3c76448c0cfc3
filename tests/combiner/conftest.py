"""Real feature rows (a synthetic log replayed after a cut) and a combiner fitted once on them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from graphdet.combiner import Combiner
from graphdet.features import FeatureBuilder, FeatureRow, OnlineState, replay
from graphdet.graph import RebuildConfig, rebuild
from graphdet.messagelog import read_labels, read_messages, table_to_messages
from graphdet.rules import DEFAULT_RULES_DIR, load_rules
from graphdet.schema import Category, Message
from graphdet.synth import SynthConfig, generate, write_generated

CUT = datetime(2026, 1, 25, tzinfo=UTC)
ROUNDS = 80  # boosting rounds for the unit tests (the pipeline uses the default 300)


@dataclass(frozen=True)
class Rows:
    builder: FeatureBuilder
    messages: list[Message]
    rows: list[FeatureRow]
    x: np.ndarray
    category: np.ndarray
    train: np.ndarray  # indices, time-ordered: train before validation
    val: np.ndarray

    @property
    def names(self) -> list[str]:
        return list(self.builder.schema.names)


@pytest.fixture(scope="session")
def data(tmp_path_factory: pytest.TempPathFactory) -> Rows:
    root: Path = tmp_path_factory.mktemp("combiner")
    write_generated(generate(SynthConfig(seed=7, tenants=2, days=40, employees=25)), root / "log")
    rebuild(root / "log", root / "snap", as_of=CUT, config=RebuildConfig(gnn_epochs=20))
    table = read_messages(root / "log")
    table = table.filter(pc.greater_equal(table.column("received_at"), CUT))
    table = table.sort_by([("received_at", "ascending"), ("message_id", "ascending")])
    labels = read_labels(root / "log")
    label_of = dict(zip(labels.column("message_id").to_pylist(), labels.column("category").to_pylist(), strict=True))
    builder = FeatureBuilder(load_rules(DEFAULT_RULES_DIR))
    state = OnlineState.from_snapshot(root / "snap")
    messages, rows = [], []
    for m, row in replay(table_to_messages(table), state, builder):
        messages.append(m)
        rows.append(row)
        if label_of.get(m.message_id, "safe") != "safe":
            state.tenant(m.tenant).record_label(m, Category(label_of[m.message_id]))
    x = np.stack([r.values for r in rows])
    category = np.array([label_of.get(m.message_id, "safe") for m in messages])
    idx = np.arange(len(x))
    n_train = int(0.6 * len(x))
    return Rows(builder, messages, rows, x, category, idx[:n_train], idx[n_train:])


@pytest.fixture(scope="session")
def fitted(data: Rows) -> Combiner:
    return Combiner(num_boost_round=ROUNDS, seed=0).fit(
        data.x[data.train], data.category[data.train], data.x[data.val], data.category[data.val],
        feature_names=data.names)
