"""LightGBM's single-row fast path, for deciding one message at a time.

``Booster.predict`` on one row spends ~50-100 us in Python and in setting up the prediction
config and OpenMP team before it walks a tree. LightGBM's C API has a fast path for exactly
this case: ``LGBM_BoosterPredictForMatSingleRowFastInit`` prepares the config once and
``LGBM_BoosterPredictForMatSingleRowFast`` then scores a row with nothing else in the way.
The ``lightgbm`` Python package loads that library (``lightgbm.basic._LIB``) but does not wrap
the fast path, so :class:`RowPredictor` calls it through ``ctypes``.

The results are the booster's own predictions (tested equal to ``Booster.predict``); one
thread, as a single row cannot use more. Thread-safe: each thread gets its own config and
output buffer (a fast config must not be shared by concurrent calls).
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import lightgbm as lgb
import numpy as np
from lightgbm.basic import _LIB, _safe_call  # type: ignore[attr-defined]

__all__ = ["PREDICT_CONTRIB", "PREDICT_NORMAL", "PREDICT_RAW_SCORE", "RowPredictor"]

PREDICT_NORMAL = 0  # C_API_PREDICT_NORMAL: probabilities (binary: sigmoid; multiclass: softmax)
PREDICT_RAW_SCORE = 1  # C_API_PREDICT_RAW_SCORE: the margin
PREDICT_CONTRIB = 3  # C_API_PREDICT_CONTRIB: tree SHAP, features + 1 (base value) per class
_DTYPE_FLOAT64 = 1  # C_API_DTYPE_FLOAT64

_LIB.LGBM_BoosterPredictForMatSingleRowFast.argtypes = [
    ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_double),
]
_LIB.LGBM_FastConfigFree.argtypes = [ctypes.c_void_p]


class _Fast:
    """One thread's fast config and output buffer."""

    __slots__ = ("config", "out", "out_len", "out_len_ref", "out_ptr", "row", "row_ptr")

    def __init__(self, booster: lgb.Booster, predict_type: int, ncol: int, out_size: int) -> None:
        self.config = ctypes.c_void_p()
        _safe_call(_LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
            booster._handle,  # the package's own handle (no public accessor)
            ctypes.c_int(predict_type),
            ctypes.c_int(0),  # start iteration
            ctypes.c_int(-1),  # all iterations (the saved best)
            ctypes.c_int(_DTYPE_FLOAT64),
            ctypes.c_int32(ncol),
            ctypes.c_char_p(b"num_threads=1"),
            ctypes.byref(self.config),
        ))
        self.out = np.empty(out_size, dtype=np.float64)
        self.out_len = ctypes.c_int64(0)
        self.out_len_ref = ctypes.byref(self.out_len)
        self.out_ptr = self.out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        # the input row is copied into a buffer of this thread's (``ndarray.ctypes`` of each
        # caller's row would cost more than the copy)
        self.row = np.empty(ncol, dtype=np.float64)
        self.row_ptr = ctypes.c_void_p(self.row.ctypes.data)

    def __del__(self) -> None:
        if self.config:
            _LIB.LGBM_FastConfigFree(self.config)
            self.config = ctypes.c_void_p()


class RowPredictor:
    """``predictor(row) -> np.ndarray``: one float64 row through ``booster``'s fast path.

    ``predict_type`` is :data:`PREDICT_RAW_SCORE`, :data:`PREDICT_NORMAL` or
    :data:`PREDICT_CONTRIB`. The booster must outlive the predictor (the combiner holds both).
    """

    def __init__(self, booster: lgb.Booster, predict_type: int) -> None:
        self.booster = booster
        self.predict_type = predict_type
        self.ncol = booster.num_feature()
        classes = booster.num_model_per_iteration()
        self.out_size = classes * (self.ncol + 1) if predict_type == PREDICT_CONTRIB else classes
        self._local = threading.local()

    def _predict(self, row: np.ndarray) -> _Fast:
        fast: _Fast | None = getattr(self._local, "fast", None)
        if fast is None:
            fast = self._local.fast = _Fast(self.booster, self.predict_type, self.ncol, self.out_size)
        if row.shape != fast.row.shape:  # no broadcasting of a short row: (1, n) is fine, (m,) raises
            row = np.asarray(row).reshape(self.ncol)
        fast.row[:] = row  # casts to float64
        _safe_call(_LIB.LGBM_BoosterPredictForMatSingleRowFast(fast.config, fast.row_ptr, fast.out_len_ref,
                                                               fast.out_ptr))
        return fast

    def __call__(self, row: np.ndarray) -> np.ndarray:
        fast = self._predict(row)
        return fast.out[: fast.out_len.value].copy()

    def first(self, row: np.ndarray) -> float:
        """``self(row)[0]``: the one output of a binary booster's margin or probability."""
        return float(self._predict(row).out[0])

    def __getstate__(self) -> Any:  # ctypes handles cannot be copied; never pickled anyway
        raise TypeError("RowPredictor holds native handles and cannot be pickled")
