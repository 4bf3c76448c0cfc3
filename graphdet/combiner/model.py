"""The gradient-boosted combiner: LightGBM attack score, calibration, category, thresholds.

Two boosters: a binary one (attack vs safe) whose margin is calibrated to a probability by
Platt scaling fitted on a validation split, and a multiclass one over the attack
categories (trained on attacks only) that names the kind. Per category, the threshold on the
calibrated score is the lowest one that keeps validation precision at the target (default
99.5%); a lower ``suspicious`` threshold marks messages for review.

Attribution is exact: LightGBM's tree SHAP contributions (``pred_contrib``) of the binary
booster, which sum to its raw margin. Saved as the boosters' own text format plus JSON —
never pickle. Follows scikit-learn's estimator contract: ``__init__`` only stores options,
``fit`` learns attributes ending in ``_``, unfitted use raises :class:`NotFittedError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from graphdet.combiner.fastpredict import PREDICT_CONTRIB, PREDICT_NORMAL, PREDICT_RAW_SCORE, RowPredictor
from graphdet.exceptions import GraphdetError

__all__ = ["PREDICT_THREADS", "Combiner", "NotFittedError"]

PREDICT_THREADS = 1
"""LightGBM threads per predict call (see :meth:`Combiner.margin`)."""


class NotFittedError(GraphdetError):
    """A combiner was used before ``fit`` (or ``load``)."""


@dataclass(frozen=True)
class _Calibration:
    """Platt scaling: p = 1 / (1 + exp(-(a * margin + b))). Strictly increasing in the margin
    (isotonic regression's plateaus tie unrelated messages at the same score, so a threshold
    could not separate them)."""

    a: float
    b: float

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        z = np.clip(self.a * np.asarray(margin, dtype=np.float64) + self.b, -500, 500)
        out: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return out

    def one(self, margin: float) -> float:
        """``self(margin)`` of one margin, the same float to the bit (the same IEEE operations,
        and NumPy's ``exp`` of a float64 scalar runs the array loop) without array overhead."""
        z = min(max(self.a * margin + self.b, -500.0), 500.0)
        return float(1.0 / (1.0 + np.exp(np.float64(-z))))


class Combiner:
    """Attack probability, category and per-category thresholds from feature rows."""

    def __init__(
        self,
        *,
        num_boost_round: int = 150,
        learning_rate: float = 0.1,
        num_leaves: int = 15,
        max_depth: int = 6,
        category_rounds: int = 30,
        min_data_in_leaf: int = 20,
        feature_fraction: float = 0.9,
        target_precision: float = 0.995,
        suspicious_precision: float = 0.9,
        min_category_support: int = 30,
        alert_budget: float | None = None,
        seed: int = 0,
    ) -> None:
        self.num_boost_round = num_boost_round
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.category_rounds = category_rounds
        self.min_data_in_leaf = min_data_in_leaf
        self.feature_fraction = feature_fraction
        self.target_precision = target_precision
        self.suspicious_precision = suspicious_precision
        self.min_category_support = min_category_support
        self.alert_budget = alert_budget
        self.seed = seed

    # ----------------------------------------------------------------- fitting

    def _params(self, objective: str, **extra: Any) -> dict[str, Any]:
        return {
            "objective": objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_seed": self.seed,
            "feature_fraction_seed": self.seed,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": 1,
            "verbose": -1,
            **extra,
        }

    def fit(
        self,
        x: np.ndarray,
        category: np.ndarray,
        x_val: np.ndarray,
        category_val: np.ndarray,
        *,
        feature_names: list[str],
    ) -> Combiner:
        """Train on ``x`` (rows) with ``category`` labels ('safe' or an attack category);
        calibrate and choose thresholds on the validation split."""
        x = np.asarray(x, dtype=np.float64)
        x_val = np.asarray(x_val, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(feature_names) or x_val.shape[1:] != x.shape[1:]:
            raise ValueError(f"feature matrices {x.shape} / {x_val.shape} do not match {len(feature_names)} names")
        if len(category) != len(x) or len(category_val) != len(x_val):
            raise ValueError(
                f"labels do not match rows: {len(category)} labels for {len(x)} training rows, "
                f"{len(category_val)} for {len(x_val)} validation rows"
            )
        y = (np.asarray(category) != "safe").astype(np.float64)
        y_val = (np.asarray(category_val) != "safe").astype(np.float64)
        if y.sum() == 0 or y.sum() == len(y):
            raise ValueError("training rows need both safe and attack messages")
        self.feature_names_ = list(feature_names)
        self.booster_ = lgb.train(
            self._params("binary"), lgb.Dataset(x, y, feature_name=self.feature_names_, free_raw_data=True),
            num_boost_round=self.num_boost_round,
        )
        attacks = y == 1
        self.categories_ = sorted(set(np.asarray(category)[attacks].tolist()))
        code = {c: i for i, c in enumerate(self.categories_)}
        if len(self.categories_) > 1:
            self.category_booster_: lgb.Booster | None = lgb.train(
                self._params("multiclass", num_class=len(self.categories_)),
                lgb.Dataset(x[attacks], np.array([code[c] for c in np.asarray(category)[attacks]]),
                            feature_name=self.feature_names_),
                num_boost_round=self.category_rounds,
            )
        else:
            self.category_booster_ = None
        self._calibrate(self.margin(x_val), y_val)
        self._choose_thresholds(x_val, np.asarray(category_val), y_val)
        return self

    def _calibrate(self, margin: np.ndarray, y: np.ndarray) -> None:
        """Platt scaling fitted on the validation margins (scikit-learn's logistic regression,
        as ``CalibratedClassifierCV(method="sigmoid")`` does)."""
        from sklearn.linear_model import LogisticRegression

        if y.min() == y.max():
            raise ValueError("the validation split needs both safe and attack messages to calibrate")
        lr = LogisticRegression(C=1.0, solver="lbfgs", max_iter=1000)  # regularised: separable data must not saturate
        lr.fit(margin.reshape(-1, 1), y)
        self.calibration_ = _Calibration(float(lr.coef_[0, 0]), float(lr.intercept_[0]))

    def _threshold_for(self, score: np.ndarray, y: np.ndarray, target: float) -> float:
        """Lowest threshold whose flagged set has precision >= target (1.01: none does)."""
        order = np.argsort(-score, kind="mergesort")
        s, t = score[order], y[order]
        tp = np.cumsum(t)
        precision = tp / np.arange(1, len(t) + 1)
        # a threshold must not split tied scores: only positions where the score changes
        last_of_tie = np.r_[s[1:] != s[:-1], True]
        ok = np.flatnonzero((precision >= target) & last_of_tie & (t.cumsum() > 0))
        return float(s[ok[-1]]) if len(ok) else 1.01

    def _choose_thresholds(self, x_val: np.ndarray, category_val: np.ndarray, y_val: np.ndarray) -> None:
        """Per-category thresholds where validation has enough of the category, else pooled.

        A category with fewer than ``min_category_support`` validation attacks predicted as it
        gets the threshold chosen on all categories together, instead of one set by a handful
        of messages.
        """
        score = self.calibration_(self.margin(x_val))
        predicted = self._categories(x_val)
        pooled = self._threshold_for(score, y_val, self.target_precision)
        support = self.min_category_support
        self.thresholds_: dict[str, float] = {}
        self.threshold_source_: dict[str, str] = {}
        for c in self.categories_:
            mine = predicted == c
            if int(y_val[mine].sum()) >= support:
                self.thresholds_[c] = self._threshold_for(score[mine], y_val[mine], self.target_precision)
                self.threshold_source_[c] = "own"
            else:
                self.thresholds_[c] = pooled
                self.threshold_source_[c] = "pooled"
        self.suspicious_threshold_ = self._threshold_for(score, y_val, self.suspicious_precision)
        if self.alert_budget is not None:
            # an alert budget (share of messages flagged MALICIOUS) caps the thresholds from above:
            # raise every threshold to the validation score quantile that keeps within it
            if not 0.0 < self.alert_budget < 1.0:
                raise ValueError(f"alert_budget must be a share in (0, 1), got {self.alert_budget!r}")
            flagged = np.zeros(len(score), dtype=bool)
            for c, t in self.thresholds_.items():
                flagged |= (predicted == c) & (score >= t)
            if flagged.mean() > self.alert_budget:
                cap = float(np.quantile(score, 1.0 - self.alert_budget, method="higher"))
                cap = float(np.nextafter(cap, np.inf))  # strictly above the tied scores at the quantile
                self.thresholds_ = {c: max(t, cap) for c, t in self.thresholds_.items()}
                self.threshold_source_ = {c: self.threshold_source_[c] + "+budget" for c in self.thresholds_}

    # ----------------------------------------------------------------- predicting

    def _check(self) -> None:
        if not hasattr(self, "booster_"):
            raise NotFittedError("this Combiner is not fitted yet: call fit() or Combiner.load()")

    # One prediction thread (``PREDICT_THREADS``): a decision service gets its parallelism from
    # concurrent requests, and OpenMP teams inside each call oversubscribe the cores (on a busy
    # 2-core box one single-row predict took 10 ms instead of 0.08).

    def margin(self, x: np.ndarray) -> np.ndarray:
        self._check()
        return np.asarray(self.booster_.predict(np.asarray(x, dtype=np.float64), raw_score=True,
                                                num_threads=PREDICT_THREADS))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probability that each row is an attack."""
        self._check()
        return self.calibration_(self.margin(x))

    def category_proba(self, x: np.ndarray) -> np.ndarray:
        """(rows, categories_) probabilities of each attack category."""
        self._check()
        x = np.asarray(x, dtype=np.float64)
        if self.category_booster_ is None:
            return np.ones((len(x), 1))
        return np.asarray(self.category_booster_.predict(x, num_threads=PREDICT_THREADS))

    def _categories(self, x: np.ndarray) -> np.ndarray:
        self._check()
        out: np.ndarray = np.asarray(self.categories_)[self.category_proba(x).argmax(axis=1)]
        return out

    def predict_category(self, x: np.ndarray) -> np.ndarray:
        return self._categories(x)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Tree SHAP contributions (rows, features + 1); the last column is the base value.
        Each row sums to :meth:`margin`."""
        self._check()
        return np.asarray(self.booster_.predict(np.asarray(x, dtype=np.float64), pred_contrib=True,
                                                num_threads=PREDICT_THREADS))

    # -------------------------------------------------------- one row, fast path

    def _row_predictor(self, which: str) -> RowPredictor:
        """The fast single-row predictor of a booster (built on first use, per booster)."""
        booster = self.category_booster_ if which == "category" else self.booster_
        assert booster is not None  # category_row checks for a missing category booster
        key = (which, id(booster))
        cache: dict[tuple[str, int], RowPredictor] = self.__dict__.setdefault("_row_predictors", {})
        predictor = cache.get(key)
        if predictor is None:
            kind = {"margin": PREDICT_RAW_SCORE, "category": PREDICT_NORMAL, "contrib": PREDICT_CONTRIB}[which]
            predictor = cache[key] = RowPredictor(booster, kind)
        return predictor

    def score_row(self, row: np.ndarray) -> float:
        """:meth:`predict_proba` of one row through LightGBM's single-row fast path."""
        self._check()
        return self.calibration_.one(self._row_predictor("margin").first(row))

    def category_row(self, row: np.ndarray) -> str:
        """:meth:`predict_category` of one row (fast path)."""
        self._check()
        if self.category_booster_ is None:
            return str(self.categories_[0])
        return str(self.categories_[int(self._row_predictor("category")(row).argmax())])

    def contributions_row(self, row: np.ndarray) -> np.ndarray:
        """:meth:`contributions` of one row (fast path; tree SHAP itself dominates)."""
        self._check()
        return self._row_predictor("contrib")(row)

    # ----------------------------------------------------------------- persistence

    def save(self, folder: str | Path) -> None:
        self._check()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(folder / "binary.txt"))
        if self.category_booster_ is not None:
            self.category_booster_.save_model(str(folder / "category.txt"))
        else:  # never leave an older model's category booster behind
            (folder / "category.txt").unlink(missing_ok=True)
        meta = {
            "params": {k: getattr(self, k) for k in (
                "num_boost_round", "learning_rate", "num_leaves", "max_depth", "category_rounds", "min_data_in_leaf",
                "feature_fraction",
                "target_precision", "suspicious_precision", "min_category_support", "alert_budget", "seed")},
            "feature_names": self.feature_names_,
            "categories": self.categories_,
            "calibration": {"a": self.calibration_.a, "b": self.calibration_.b},
            "thresholds": self.thresholds_,
            "threshold_source": self.threshold_source_,
            "suspicious_threshold": self.suspicious_threshold_,
        }
        (folder / "combiner.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, folder: str | Path) -> Combiner:
        folder = Path(folder)
        try:
            meta = json.loads((folder / "combiner.json").read_text())
            booster = lgb.Booster(model_file=str(folder / "binary.txt"))
            cat_path = folder / "category.txt"
            category = lgb.Booster(model_file=str(cat_path)) if cat_path.exists() else None
        except FileNotFoundError as e:
            raise GraphdetError(f"combiner model in {folder} is incomplete: {e.filename} missing") from None
        except (json.JSONDecodeError, lgb.basic.LightGBMError, KeyError) as e:
            raise GraphdetError(f"combiner model in {folder} is unreadable: {e}") from None
        c = cls(**meta["params"])
        c.booster_ = booster
        c.category_booster_ = category
        c.feature_names_ = list(meta["feature_names"])
        c.categories_ = list(meta["categories"])
        c.calibration_ = _Calibration(float(meta["calibration"]["a"]), float(meta["calibration"]["b"]))
        c.thresholds_ = {k: float(v) for k, v in meta["thresholds"].items()}
        c.threshold_source_ = dict(meta.get("threshold_source", {}))
        c.suspicious_threshold_ = float(meta["suspicious_threshold"])
        if booster.feature_name() != c.feature_names_:
            raise GraphdetError(f"{folder}: binary.txt features differ from combiner.json's feature_names")
        return c
