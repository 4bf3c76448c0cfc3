"""One evaluation of a decision chronicle: everything the report shows, computed once.

:func:`evaluate_chronicle` joins the chronicle with the labels, computes the offline metrics
of the evaluation window, the detector table (with each rule's sole catches by replay),
decision-time ablations, capability gaps, detector health over the whole chronicle, online
metrics when there is feedback, and the replay fidelity; :mod:`graphdet.eval.report`
renders the result.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from graphdet.eval.data import EvalError, EvalSet, evaluation_set
from graphdet.eval.gaps import CapabilityGap, capability_gaps
from graphdet.eval.health import HealthConfig, detector_health, fire_rates
from graphdet.eval.metrics import detector_matrix, detector_metrics, offline_metrics
from graphdet.eval.online import OnlineConfig, online_metrics
from graphdet.eval.replay import Change, fidelity, metric_deltas, replay_change, sole_catches
from graphdet.eval.stack import DecisionStack, ReplayRows, logged_rows, rerun_rows

__all__ = ["ABLATIONS", "Evaluation", "evaluate_chronicle"]

logger = logging.getLogger(__name__)

#: decision-time ablations: (name, feature families made unknown)
ABLATIONS = (("without GNN", ("gnn",)), ("without graph statistics", ("graph",)),
             ("without graph + GNN", ("graph", "gnn")), ("without rule hits", ("rules",)))


@dataclass
class Evaluation:
    """What :func:`evaluate_chronicle` found; ``summary`` holds the JSON-ready numbers."""

    es: EvalSet  # the evaluation window
    summary: dict[str, Any]
    detectors: list[dict[str, Any]]
    gaps: list[CapabilityGap]
    health: pd.DataFrame
    rows: ReplayRows
    window_rows: np.ndarray  # positions in ``rows`` of the window's decisions
    extra: dict[str, Any] = field(default_factory=dict)


def _window_rows(rows: ReplayRows, window: np.ndarray) -> np.ndarray:
    where = {int(p): k for k, p in enumerate(rows.index)}
    return np.array([where[int(p)] for p in window if int(p) in where], dtype=np.int64)


def evaluate_chronicle(
    decisions: pa.Table,
    stack: DecisionStack,
    labels: pa.Table | None,
    *,
    log_dir: Path | None = None,
    since: datetime | None = None,
    feedback: pa.Table | None = None,
    rerun: bool | None = None,
    health_config: HealthConfig | None = None,
    online_config: OnlineConfig | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Evaluation:
    """Evaluate ``decisions`` (a chronicle table) decided by ``stack`` against ``labels``.

    ``since`` starts the evaluation window (metrics, gaps, ablations); health and online
    metrics use the whole chronicle. With a ``log_dir`` the feature vectors are re-computed
    exactly from the log (see :mod:`graphdet.eval.stack`) unless ``rerun`` is False; when the
    chronicle cannot be re-run (not one stream from the artifacts' snapshot) the logged vectors
    are used, with a warning, unless ``rerun`` is True (then it raises).
    """
    say = progress or (lambda _step, _done, _total: None)
    es_all = evaluation_set(decisions, labels, feature_names=stack.feature_names,
                            feature_version=stack.feature_version)
    say("replaying the chronicle", 0, len(es_all))
    rows = None
    if rerun and log_dir is None:
        raise EvalError("re-running the features needs the message log (log_dir)")
    if rerun is not False and log_dir is not None:
        try:
            rows = rerun_rows(decisions, stack, log_dir, progress=lambda d, t: say("re-running features", d, t))
        except EvalError as e:
            if rerun:
                raise
            logger.warning("replaying the logged vectors instead: %s", e)
    if rows is None:
        rows = logged_rows(decisions, stack)
    base = replay_change(stack, rows, Change())
    fid = fidelity(base, decisions)
    fid["not_replayable"] = decisions.num_rows - len(rows.index)
    # re-run vectors (equal to the logged ones where both exist) fill decisions logged without one
    x = es_all.x.copy()
    x[rows.index] = rows.x
    has_x = es_all.has_x.copy()
    has_x[rows.index] = True
    es_all = dataclasses.replace(es_all, x=x, has_x=has_x)
    in_window = np.ones(len(es_all), dtype=bool) if since is None else \
        (es_all.frame["received_at"] >= pd.Timestamp(since)).to_numpy()
    es = es_all.subset(in_window)
    if not len(es) and since is not None:
        raise EvalError(f"none of the {len(es_all)} chronicled decisions was received since {since:%Y-%m-%d %H:%M} "
                        "(the evaluation window): pass another --since")
    say("metrics", 0, 1)
    offline = offline_metrics(es)
    wr = _window_rows(rows, np.flatnonzero(in_window))
    w_rows = rows.take(wr)
    w_before = [base.before[i] for i in wr]
    attack_w = np.array([t != "safe" for t in es_all.frame["truth"].to_numpy()[w_rows.index]], dtype=bool)
    dm = detector_matrix(es, stack.ruleset.ids)
    detectors = detector_metrics(es, dm)
    say("sole catches per rule", 0, 1)
    sole = sole_catches(stack, w_rows, w_before, attack_w)
    for d in detectors:
        if d["family"] == "rule":
            d["sole_catches"] = sole.get(d["detector"])
    ablation = {}
    for name, mask in ABLATIONS:
        say(f"ablation: {name}", 0, 1)
        ablation[name] = metric_deltas(replay_change(stack, w_rows, Change(mask=mask), before=w_before), attack_w)
    say("capability gaps", 0, 1)
    gaps = capability_gaps(es, stack.combiner, reasons=stack.reasons,
                           hard_rules=frozenset(r.id for r in stack.ruleset.rules if r.hard))
    say("detector health", 0, 1)
    labelled = labels is not None and labels.num_rows > 0
    health = detector_health(fire_rates(es_all, detector_matrix(es_all, stack.ruleset.ids)), health_config,
                             labels_known=labelled)
    online = online_metrics(decisions, feedback, online_config) if feedback is not None else None
    flagged_health = health[health["verdict"] != ""]
    summary = {
        "chronicle": {"decisions": len(es_all), "first": str(es_all.frame["received_at"].min()),
                      "last": str(es_all.frame["received_at"].max()), "versions": dict(stack.versions)},
        "window": {"since": since.isoformat() if since else None, "decisions": len(es)},
        "offline": offline,
        "online": online,
        "replay_fidelity": fid,
        "ablation_decision_time": ablation,
        "gaps": [dataclasses.asdict(g) | {"rows": None} for g in gaps],
        "health_flags": flagged_health.drop(columns=["low", "high"]).to_dict("records"),
    }
    return Evaluation(es, summary, detectors, gaps, health, rows, wr)
