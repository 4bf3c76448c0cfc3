"""The combiner: exact attributions, thresholds that keep their promise, the estimator contract."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

from graphdet.combiner import Combiner, NotFittedError
from graphdet.exceptions import GraphdetError

from .conftest import ROUNDS, Rows


def test_contributions_sum_to_the_margin(data: Rows, fitted: Combiner) -> None:
    x = data.x[data.val]
    contrib = fitted.contributions(x)
    assert contrib.shape == (len(x), len(data.names) + 1)
    assert np.allclose(contrib.sum(axis=1), fitted.margin(x), rtol=0, atol=1e-9)
    # NaN features (cold start) get attributions too, and they still sum to the margin
    masked = x.copy()
    masked[:, data.builder.schema.indices(("graph", "gnn"))] = np.nan
    assert np.allclose(fitted.contributions(masked).sum(axis=1), fitted.margin(masked), rtol=0, atol=1e-9)
    # calibration is strictly increasing in the margin
    order = np.argsort(fitted.margin(x))
    assert np.all(np.diff(fitted.predict_proba(x)[order]) >= 0)
    assert fitted.calibration_.a > 0


def _precision_above(score: np.ndarray, y: np.ndarray, threshold: float) -> float:
    flagged = score >= threshold
    return float(y[flagged].mean()) if flagged.any() else float("nan")


@pytest.mark.parametrize(("target", "support"), [(0.995, 1), (0.9, 1), (0.995, 30)])
def test_thresholds_reach_the_target_precision_on_validation(data: Rows, target: float, support: int) -> None:
    """A category's own threshold: validation rows predicted as the category with score >= it
    have precision >= target, and no lower validation score of that category would (it is the
    lowest such). A pooled threshold (fewer than ``min_category_support`` validation attacks of
    the category) does the same over all validation rows. 1.01 means "never"."""
    model = Combiner(num_boost_round=ROUNDS, target_precision=target, min_category_support=support, seed=0).fit(
        data.x[data.train], data.category[data.train], data.x[data.val], data.category[data.val],
        feature_names=data.names)
    x_val, y_val = data.x[data.val], (data.category[data.val] != "safe").astype(float)
    score = model.predict_proba(x_val)
    predicted = model.predict_category(x_val)
    assert set(model.thresholds_) == set(model.categories_) == set(model.threshold_source_)
    pooled = model._threshold_for(score, y_val, target)
    own = 0
    for c, threshold in model.thresholds_.items():
        mine = predicted == c
        if model.threshold_source_[c] == "pooled":
            assert y_val[mine].sum() < support and threshold == pooled, c
            s, y = score, y_val
        else:
            assert y_val[mine].sum() >= support, c
            own += 1
            s, y = score[mine], y_val[mine]
        if threshold == 1.01:
            continue
        assert _precision_above(s, y, threshold) >= target, c
        for lower in np.unique(s[s < threshold]):
            assert not _precision_above(s, y, lower) >= target, (c, lower)
    # measured on seed 7 / 80 rounds: support 1 -> all 6 categories use their own threshold
    # (credential_phishing 0.373 at 99.5%); support 30 -> only vendor_compromise (the class most
    # safe rows are assigned to) has its own, the other five get the pooled 0.9016
    assert own >= 1
    assert pooled < 1.01
    assert _precision_above(score, y_val, pooled) >= target
    assert _precision_above(score, y_val, model.suspicious_threshold_) >= model.suspicious_precision
    assert model.suspicious_threshold_ < 1.01


def test_threshold_for_hand_made_scores() -> None:
    c = Combiner()
    score = np.array([0.9, 0.8, 0.8, 0.7, 0.6, 0.5])
    y = np.array([1, 1, 0, 1, 1, 0], dtype=float)
    # precision at 0.9: 1/1; at 0.8 (tie kept whole): 2/3; at 0.7: 3/4; at 0.6: 4/5; at 0.5: 4/6
    assert c._threshold_for(score, y, 1.0) == 0.9
    assert c._threshold_for(score, y, 0.75) == 0.6
    assert c._threshold_for(score, y, 0.8) == 0.6
    assert c._threshold_for(score, y, 0.66) == 0.5
    assert c._threshold_for(np.array([0.4, 0.3]), np.array([0.0, 0.0]), 0.5) == 1.01  # no attack: never


# ---------------------------------------------------------------- estimator contract


def test_init_only_stores_its_arguments() -> None:
    params = {p for p in inspect.signature(Combiner.__init__).parameters if p != "self"}
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY
               for n, p in inspect.signature(Combiner.__init__).parameters.items() if n != "self")
    c = Combiner(num_boost_round=7, seed=3)
    assert set(vars(c)) == params
    assert not [k for k in vars(c) if k.endswith("_")]
    assert c.num_boost_round == 7 and c.seed == 3


def test_unfitted_use_raises(tmp_path: Path) -> None:
    c = Combiner()
    x = np.zeros((2, 3))
    for call in (c.margin, c.category_proba, c.contributions):
        with pytest.raises(NotFittedError, match="not fitted"):
            call(x)
    with pytest.raises(NotFittedError):
        c.save(tmp_path / "m")
    assert issubclass(NotFittedError, GraphdetError)


@pytest.mark.parametrize("method", ["predict_proba", "predict_category"])
def test_unfitted_predictions_raise_not_fitted(method: str) -> None:
    with pytest.raises(NotFittedError):
        getattr(Combiner(), method)(np.zeros((2, 3)))


def test_fit_twice_gives_identical_models(data: Rows, fitted: Combiner) -> None:
    again = Combiner(num_boost_round=ROUNDS, seed=0).fit(
        data.x[data.train], data.category[data.train], data.x[data.val], data.category[data.val],
        feature_names=data.names)
    x = data.x[data.val]
    assert np.array_equal(again.margin(x), fitted.margin(x))
    assert np.array_equal(again.category_proba(x), fitted.category_proba(x))
    assert again.thresholds_ == fitted.thresholds_
    assert again.suspicious_threshold_ == fitted.suspicious_threshold_
    assert again.booster_.model_to_string() == fitted.booster_.model_to_string()


def test_save_load_round_trip(data: Rows, fitted: Combiner, tmp_path: Path) -> None:
    fitted.save(tmp_path / "model")
    loaded = Combiner.load(tmp_path / "model")
    x = data.x[data.val]
    assert np.array_equal(loaded.margin(x), fitted.margin(x))
    assert np.array_equal(loaded.predict_proba(x), fitted.predict_proba(x))
    assert np.array_equal(loaded.predict_category(x), fitted.predict_category(x))
    assert np.array_equal(loaded.contributions(x), fitted.contributions(x))
    assert loaded.thresholds_ == fitted.thresholds_
    assert loaded.threshold_source_ == fitted.threshold_source_
    assert loaded.suspicious_threshold_ == fitted.suspicious_threshold_
    assert loaded.categories_ == fitted.categories_ and loaded.feature_names_ == fitted.feature_names_
    assert {k: getattr(loaded, k) for k in vars(Combiner())} == {k: getattr(fitted, k) for k in vars(Combiner())}


def test_load_names_what_is_missing_or_broken(fitted: Combiner, tmp_path: Path) -> None:
    fitted.save(tmp_path / "m")
    (tmp_path / "m" / "binary.txt").unlink()
    with pytest.raises(GraphdetError, match=r"binary\.txt"):
        Combiner.load(tmp_path / "m")
    fitted.save(tmp_path / "n")
    (tmp_path / "n" / "combiner.json").write_text("{not json")
    with pytest.raises(GraphdetError, match="unreadable"):
        Combiner.load(tmp_path / "n")


def _toy() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x, x_val = rng.normal(size=(300, 3)), rng.normal(size=(150, 3))
    cat = np.where(x[:, 0] > 0.8, "bec", "safe").astype(object)
    cat[x[:, 1] > 1.2] = "malware"
    cat_val = np.where(x_val[:, 0] > 0.8, "bec", "safe").astype(object)
    return x, cat, x_val, cat_val


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("x_1d", "do not match"),
        ("x_wrong_columns", "do not match"),
        ("x_val_wrong_columns", "do not match"),
        ("only_safe", "both safe and attack"),
        ("only_attacks", "both safe and attack"),
        ("validation_only_safe", "validation split needs both"),
    ],
)
def test_fit_rejects_bad_input(case: str, match: str) -> None:
    x, cat, x_val, cat_val = _toy()
    names = ["a", "b", "c"]
    if case == "x_1d":
        x = x[:, 0]
    elif case == "x_wrong_columns":
        x = x[:, :2]
    elif case == "x_val_wrong_columns":
        x_val = x_val[:, :2]
    elif case == "only_safe":
        cat = np.full(len(x), "safe")
    elif case == "only_attacks":
        cat = np.full(len(x), "bec")
    elif case == "validation_only_safe":
        cat_val = np.full(len(x_val), "safe")
    with pytest.raises(ValueError, match=match):
        Combiner(num_boost_round=5).fit(x, cat, x_val, cat_val, feature_names=names)


@pytest.mark.parametrize("which", ["train", "validation"])
def test_fit_rejects_labels_of_the_wrong_length(which: str) -> None:
    x, cat, x_val, cat_val = _toy()
    if which == "train":
        cat = cat[:-1]
    else:
        cat_val = cat_val[:-1]
    with pytest.raises(ValueError, match=r"label|categor"):
        Combiner(num_boost_round=5).fit(x, cat, x_val, cat_val, feature_names=["a", "b", "c"])


def test_single_attack_category_round_trips(tmp_path: Path) -> None:
    x, cat, x_val, cat_val = _toy()
    cat = np.where(cat == "safe", "safe", "bec")
    one = Combiner(num_boost_round=10).fit(x, cat, x_val, cat_val, feature_names=["a", "b", "c"])
    assert one.categories_ == ["bec"] and one.category_booster_ is None
    one.save(tmp_path / "m")
    loaded = Combiner.load(tmp_path / "m")
    assert list(loaded.predict_category(x_val)) == ["bec"] * len(x_val)


def test_saving_over_an_older_model_leaves_nothing_of_it(tmp_path: Path) -> None:
    x, cat, x_val, cat_val = _toy()
    Combiner(num_boost_round=10).fit(x, cat, x_val, cat_val, feature_names=["a", "b", "c"]).save(tmp_path / "m")
    one = Combiner(num_boost_round=10).fit(x, np.where(cat == "safe", "safe", "bec"), x_val, cat_val,
                                           feature_names=["a", "b", "c"])
    one.save(tmp_path / "m")
    loaded = Combiner.load(tmp_path / "m")
    assert loaded.category_booster_ is None
    assert np.array_equal(loaded.predict_category(x_val), one.predict_category(x_val))


def test_an_alert_budget_caps_the_share_of_validation_messages_flagged(data: Rows) -> None:
    from .conftest import ROUNDS

    x_val, c_val = data.x[data.val], data.category[data.val]
    free = Combiner(num_boost_round=ROUNDS, seed=0).fit(
        data.x[data.train], data.category[data.train], x_val, c_val, feature_names=data.names)

    def flagged_share(m: Combiner) -> float:
        score, cat = m.predict_proba(x_val), m.predict_category(x_val)
        return float(np.mean([s >= m.thresholds_[c] for s, c in zip(score, cat, strict=True)]))

    unbudgeted = flagged_share(free)
    budget = unbudgeted / 2  # half of what the precision target alone would flag
    capped = Combiner(num_boost_round=ROUNDS, seed=0, alert_budget=budget).fit(
        data.x[data.train], data.category[data.train], x_val, c_val, feature_names=data.names)
    assert unbudgeted > 0
    assert flagged_share(capped) <= budget
    assert all(capped.thresholds_[c] >= free.thresholds_[c] for c in free.thresholds_)
    assert all(src.endswith("+budget") for src in capped.threshold_source_.values())
    with pytest.raises(ValueError, match="alert_budget"):
        Combiner(num_boost_round=ROUNDS, alert_budget=1.5).fit(
            data.x[data.train], data.category[data.train], x_val, c_val, feature_names=data.names)
