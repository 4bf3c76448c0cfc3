"""What evaluation reads: decisions (a chronicle table), labels, messages and feature vectors.

The decision chronicle lives in ``serving.chronicle``; graphdet does not import serving (arrows
point down), so every function here takes the chronicle as the Arrow table that
``serving.chronicle.read_decisions`` returns (``DECISION_SCHEMA``). The command line reads it.

An :class:`EvalSet` is the chronicle joined with ground truth: one row per decision with its
verdict, predicted category, score and true category, plus the feature matrix in the model's
column order. A message without a label counts as safe, as in training. "Flagged" means a
MALICIOUS verdict, the same definition the training report uses; SUSPICIOUS is kept apart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from graphdet.exceptions import GraphdetError
from graphdet.messagelog import read_labels, read_messages, table_to_messages
from graphdet.schema import Message

__all__ = [
    "EvalError",
    "EvalSet",
    "evaluation_set",
    "evaluation_start",
    "feature_matrix",
    "load_labels",
    "load_messages",
    "stream_after",
]

logger = logging.getLogger(__name__)

_TS = pa.timestamp("us", tz="UTC")


class EvalError(GraphdetError):
    """Evaluation input is missing or malformed (chronicle, labels, feedback, change spec); names what and where."""


def _at(when: datetime) -> pa.Scalar:
    return pa.scalar(when, _TS)


def load_labels(log_dir: str | Path) -> pa.Table:
    """``message_id, category, campaign_id, kind`` of a labelled log (``kind``: the synthetic
    generator's message kind from ``kinds.parquet``, "" where unknown)."""
    log_dir = Path(log_dir)
    labels = read_labels(log_dir).select(["message_id", "category", "campaign_id"])
    kinds_path = log_dir / "kinds.parquet"
    if kinds_path.exists():
        kinds = pq.read_table(kinds_path, columns=["message_id", "kind"])
        labels = labels.join(kinds, "message_id", join_type="left outer")
        labels = labels.set_column(labels.schema.get_field_index("kind"), "kind",
                                   pc.fill_null(labels.column("kind"), ""))
    else:
        labels = labels.append_column("kind", pa.array([""] * labels.num_rows, pa.string()))
    return labels


def stream_after(log_dir: str | Path, since: datetime, until: datetime | None = None) -> list[Message]:
    """The messages of a log received in ``[since, until)``, in decision order (time, then id)."""
    table = read_messages(log_dir)
    keep = pc.greater_equal(table.column("received_at"), _at(since))
    if until is not None:
        keep = pc.and_(keep, pc.less(table.column("received_at"), _at(until)))
    table = table.filter(keep).sort_by([("received_at", "ascending"), ("message_id", "ascending")])
    return list(table_to_messages(table))


def load_messages(log_dir: str | Path, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Message]:
    """The messages of a log with the given ``(message_id, tenant)`` keys."""
    if not keys:
        return {}
    ids = pa.array(sorted({k[0] for k in keys}), pa.string())
    table = read_messages(log_dir, filter=pc.field("message_id").isin(ids))
    return {(m.message_id, m.tenant): m for m in table_to_messages(table) if (m.message_id, m.tenant) in keys}


def evaluation_start(log_dir: str | Path, train_report: dict[str, Any]) -> datetime:
    """When the training run's later time split (its test set) starts.

    ``graphdet train`` sorts the messages after its cut by (time, id), sets the held-out
    campaign families apart and splits the rest into train / validation / test by position;
    the test set starts at position ``train + validation`` of that rest. Decisions from then on
    were never trained or calibrated on.
    """
    try:
        cut = datetime.fromisoformat(str(train_report["cut"]))
        skip = int(train_report["splits"]["train"]) + int(train_report["splits"]["validation"])
        held = set(train_report.get("held_out_families") or ())
    except (KeyError, TypeError, ValueError) as e:
        raise EvalError(f"the training report has no usable cut/splits ({e!r}): pass --since") from None
    log_dir = Path(log_dir)
    table = read_messages(log_dir, columns=["message_id", "received_at"],
                          filter=pc.field("received_at") >= _at(cut))
    table = table.sort_by([("received_at", "ascending"), ("message_id", "ascending")])
    if held and (log_dir / "campaigns.parquet").exists():
        camps = pq.read_table(log_dir / "campaigns.parquet", columns=["campaign_id", "template_family"])
        held_ids = [c for c, f in zip(camps.column("campaign_id").to_pylist(),
                                      camps.column("template_family").to_pylist(), strict=True) if f in held]
        labels = read_labels(log_dir)
        held_msgs = labels.filter(pc.is_in(labels.column("campaign_id"), pa.array(held_ids, pa.string())))
        table = table.filter(pc.invert(pc.is_in(table.column("message_id"), held_msgs.column("message_id"))))
    if skip >= table.num_rows:
        raise EvalError(f"{log_dir}: only {table.num_rows} messages after the cut {cut:%Y-%m-%d}, the training "
                        f"report's train + validation splits hold {skip}: is this the log it was trained on?")
    start: datetime = table.column("received_at")[skip].as_py()
    return start


def feature_matrix(decisions: pa.Table, names: tuple[str, ...], version: str) -> tuple[np.ndarray, np.ndarray]:
    """The logged vectors as float64 ``(rows, len(names))`` and a mask of the rows that have one.

    A row without a vector (a degraded decision) or of another feature schema than ``version``
    (decided before a rules change) gets NaNs and ``False`` in the mask.
    """
    n = decisions.num_rows
    x = np.full((n, len(names)), np.nan)
    if n == 0:
        return x, np.zeros(0, dtype=bool)
    schema = np.asarray(decisions.column("feature_schema").to_pylist(), dtype=object)
    features = decisions.column("features").combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(features), -1).to_numpy(zero_copy_only=False)
    ok = (schema == version) & (lengths == len(names))
    other = int(((schema != version) & (lengths >= 0)).sum())
    if other:
        logger.warning("%d decisions have another feature schema than %s; they are left out of "
                       "feature-based analyses", other, version)
    if ok.any():
        flat = pc.list_flatten(features.filter(pa.array(ok))).to_numpy(zero_copy_only=False)
        x[ok] = np.asarray(flat, dtype=np.float64).reshape(-1, len(names))
    return x, ok


@dataclass(frozen=True)
class EvalSet:
    """Decisions joined with truth. ``frame`` columns: message_id, tenant, received_at, day,
    verdict, category (predicted), score, flagged (MALICIOUS), truth ('safe' or the attack
    category), kind, campaign_id, rule_hits (tuples), degraded. ``x``: the feature vectors
    (float64, NaN rows where ``has_x`` is False) in ``feature_names`` order."""

    frame: pd.DataFrame
    x: np.ndarray
    has_x: np.ndarray
    feature_names: tuple[str, ...]
    feature_version: str
    decisions: pa.Table

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def attack(self) -> np.ndarray:
        out: np.ndarray = (self.frame["truth"] != "safe").to_numpy()
        return out

    @property
    def flagged(self) -> np.ndarray:
        out: np.ndarray = self.frame["flagged"].to_numpy(dtype=bool)
        return out

    def subset(self, mask: np.ndarray) -> EvalSet:
        idx = np.flatnonzero(mask)
        return EvalSet(self.frame.iloc[idx].reset_index(drop=True), self.x[idx], self.has_x[idx],
                       self.feature_names, self.feature_version, self.decisions.take(pa.array(idx)))


def evaluation_set(
    decisions: pa.Table,
    labels: pa.Table | None,
    *,
    feature_names: tuple[str, ...] = (),
    feature_version: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> EvalSet:
    """Join a chronicle table with labels (``message_id, category[, kind, campaign_id]``),
    keeping the decisions received in ``[since, until)``."""
    missing = [c for c in ("message_id", "tenant", "received_at", "verdict", "category", "score", "rule_hits",
                           "features", "feature_schema") if c not in decisions.column_names]
    if missing:
        raise EvalError(f"decision table lacks columns {missing}: is it a decision chronicle?")
    keep = pa.array(np.ones(decisions.num_rows, dtype=bool))
    if since is not None:
        keep = pc.and_(keep, pc.greater_equal(decisions.column("received_at"), _at(since)))
    if until is not None:
        keep = pc.and_(keep, pc.less(decisions.column("received_at"), _at(until)))
    decisions = decisions.filter(keep)
    frame = pd.DataFrame({
        "message_id": decisions.column("message_id").to_pylist(),
        "tenant": decisions.column("tenant").to_pylist(),
        "received_at": decisions.column("received_at").to_pandas(),
        "verdict": decisions.column("verdict").to_pylist(),
        "category": decisions.column("category").to_pylist(),
        "score": decisions.column("score").to_numpy(zero_copy_only=False),
        "degraded": decisions.column("degraded").to_numpy(zero_copy_only=False),
        "rule_hits": [tuple(h) for h in decisions.column("rule_hits").to_pylist()],
    })
    frame["day"] = frame["received_at"].dt.strftime("%Y-%m-%d")
    frame["flagged"] = frame["verdict"] == "malicious"
    # label column -> EvalSet column, and the value of an unlabelled message
    columns = {"category": ("truth", "safe"), "kind": ("kind", ""), "campaign_id": ("campaign_id", "")}
    lab = None
    if labels is not None and labels.num_rows:
        if "message_id" not in labels.column_names or "category" not in labels.column_names:
            raise EvalError(f"label table needs message_id and category columns, has {labels.column_names}")
        lab = labels.to_pandas().drop_duplicates("message_id", keep="last").set_index("message_id")
    for src, (dst, default) in columns.items():
        if lab is not None and src in lab:
            frame[dst] = frame["message_id"].map(lab[src]).fillna(default).astype(str)
        else:
            frame[dst] = default
    if feature_names:
        x, has_x = feature_matrix(decisions, feature_names, feature_version)
    else:
        x, has_x = np.zeros((len(frame), 0)), np.zeros(len(frame), dtype=bool)
    return EvalSet(frame, x, has_x, feature_names, feature_version, decisions)
