"""LightGBM's single-row fast path gives the booster's own numbers, also from many threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from graphdet.combiner import Combiner
from graphdet.combiner.fastpredict import PREDICT_CONTRIB, PREDICT_RAW_SCORE, RowPredictor
from graphdet.combiner.model import _Calibration

from .conftest import Rows


@pytest.fixture(scope="module")
def rows(data: Rows) -> np.ndarray:
    rng = np.random.default_rng(3)
    picked = data.x[rng.choice(len(data.x), 150, replace=False)].copy()
    picked[:, rng.random(picked.shape[1]) < 0.1] = np.nan  # missing values take the default branch
    attacks = data.x[data.category != "safe"][:50]
    return np.vstack([picked, attacks])


def test_row_paths_equal_the_batch_paths(fitted: Combiner, rows: np.ndarray) -> None:
    assert np.array_equal(np.array([fitted.score_row(r) for r in rows]), fitted.predict_proba(rows))
    assert [fitted.category_row(r) for r in rows] == list(fitted.predict_category(rows))
    assert np.array_equal(np.stack([fitted.contributions_row(r) for r in rows]), fitted.contributions(rows))


def test_a_non_contiguous_or_float32_row_is_accepted(fitted: Combiner, rows: np.ndarray) -> None:
    predictor = RowPredictor(fitted.booster_, PREDICT_RAW_SCORE)
    column_major = np.asfortranarray(rows)
    assert predictor(column_major[3])[0] == fitted.margin(rows[3:4])[0]
    assert predictor(rows[3].astype(np.float32))[0] == pytest.approx(fitted.margin(rows[3:4])[0], abs=1e-5)


def test_a_row_of_the_wrong_length_raises_instead_of_broadcasting(fitted: Combiner, rows: np.ndarray) -> None:
    assert fitted.score_row(rows[0][None, :]) == fitted.score_row(rows[0])
    for bad in (rows[0][:1], rows[0][:-1], np.concatenate([rows[0], [0.0]])):
        with pytest.raises(ValueError):
            fitted.score_row(bad)
        with pytest.raises(ValueError):
            fitted.contributions_row(bad)


def test_threads_each_get_their_own_fast_config(fitted: Combiner, rows: np.ndarray) -> None:
    predictor = RowPredictor(fitted.booster_, PREDICT_CONTRIB)
    expected = fitted.contributions(rows)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(predictor, list(rows) * 4))
    assert np.array_equal(np.stack(got), np.vstack([expected] * 4))


def test_a_loaded_combiner_uses_the_fast_path_too(fitted: Combiner, rows: np.ndarray, tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path)) / "model"
    fitted.save(folder)
    loaded = Combiner.load(folder)
    assert [loaded.score_row(r) for r in rows[:20]] == [fitted.score_row(r) for r in rows[:20]]


@given(st.floats(0.01, 20), st.floats(-50, 50),
       st.lists(st.one_of(st.floats(-1e6, 1e6), st.floats(-100, 100)), min_size=1, max_size=50))
def test_scalar_calibration_is_the_array_calibration_to_the_bit(a: float, b: float, margins: list[float]) -> None:
    cal = _Calibration(a, b)
    one = np.array([cal.one(m) for m in margins])
    assert np.array_equal(one.view(np.int64), cal(np.array(margins)).view(np.int64))
