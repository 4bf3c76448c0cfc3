"""FeatureBuilder.rows (serving's batches, GNN vectorised) equals row() one message at a time."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from graphdet.features import FeatureRow

from .conftest import World


def test_batch_rows_equal_single_rows_to_the_bit(world: World) -> None:
    b = world.builder
    single_state = world.state()
    single = []
    for m in world.stream:
        single.append(b.row(m, single_state.tenant(m.tenant)))
        single_state.tenant(m.tenant).observe(m)
    batch_state = world.state()
    batched: list[FeatureRow | None] = []
    for i in range(0, len(world.stream), 97):  # odd batch size: batches cross tenants and senders
        batched += b.rows(world.stream[i : i + 97], batch_state)
    assert all(r is not None for r in batched)
    x1 = np.stack([r.values for r in single])
    x2 = np.stack([r.values for r in batched if r is not None])
    assert np.array_equal(x1, x2, equal_nan=True)
    assert [r.hits for r in single] == [r.hits for r in batched if r is not None]
    # the GNN columns were really computed (not NaN) for most rows
    col = b.schema.names.index("gnn_plausibility_min")
    assert np.mean(~np.isnan(x2[:, col])) > 0.5


def test_rows_without_learning_leave_the_state_alone(world: World) -> None:
    b = world.builder
    state = world.state()
    first = b.rows(world.stream[:200], state, learn=False)
    again = b.rows(world.stream[:200], state, learn=False)
    assert np.array_equal(np.stack([r.values for r in first if r]), np.stack([r.values for r in again if r]),
                          equal_nan=True)


def test_a_bad_message_in_a_batch_is_reported_and_the_rest_decided(world: World) -> None:
    b = world.builder
    good = world.stream[:20]
    bad = replace(good[5], received_at=None)  # type: ignore[arg-type]  # no time: its features fail
    batch = [*good[:5], bad, *good[5:]]
    errors: dict[int, str] = {}
    rows = b.rows(batch, world.state(), errors=errors)
    assert set(errors) == {5} and "Error" in errors[5]
    assert rows[5] is None and all(r is not None for i, r in enumerate(rows) if i != 5)
    reference = b.rows(good, world.state())
    got = [r for i, r in enumerate(rows) if i != 5]
    assert all(
        np.array_equal(a.values, c.values, equal_nan=True) for a, c in zip(got, reference, strict=True)
        if a is not None and c is not None
    )


def test_a_row_holds_its_signals_and_rule_hits_by_name(world: World) -> None:
    """Each column of a row is the named signal / rule hit (the row is assembled by position)."""
    b = world.builder
    schema = b.schema
    names = schema.names
    state = world.state()
    hit_count = 0
    for m in world.stream[:300]:
        row = b.one(m, state)
        values = dict(zip(names, row.values.tolist(), strict=True))
        assert [values[f"sig_{n}"] for n in schema.signal_names] == row.signals.row_values(schema.signal_names)
        assert {r for r in schema.rule_ids if values[f"rule_{r}"] == 1.0} == set(row.hits)
        assert all(values[f"rule_{r}"] == 0.0 for r in schema.rule_ids if r not in row.hits)
        hit_count += len(row.hits)
    assert hit_count > 0
