"""Evaluation and analysis on the decision chronicle.

::

    chronicle table (serving.chronicle.read_decisions) + labels (load_labels) --evaluation_set--> EvalSet
    EvalSet --offline_metrics / detector_metrics--> precision, recall, FNR, FPR with Wilson intervals
    chronicle + feedback --online_metrics--> online precision and FNR (late labels counted by a rule)
    load_stack(artifacts) + logged_rows / rerun_rows --replay_change(Change)--> decision diff, metric deltas
    EvalSet + combiner --capability_gaps--> named FP/FN groups
    EvalSet --fire_rates / detector_health--> spikes and drops of every rule and signal
    snapshot --ego_view / plot_ego_view--> the graph around one decision
    evaluate_chronicle --write_report--> report.md, eval.json, PNGs

graphdet does not import serving: the command line (graphdet.eval.cli) reads the chronicle
and hands the library Arrow tables. Names load lazily (PEP 562), so importing the command line
(a submodule) does not import the model stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graphdet.eval.data import (
        EvalError,
        EvalSet,
        evaluation_set,
        evaluation_start,
        feature_matrix,
        load_labels,
        load_messages,
        stream_after,
    )
    from graphdet.eval.gaps import CapabilityGap, GapConfig, capability_gaps
    from graphdet.eval.graphview import EgoView, ego_view, plot_ego_view
    from graphdet.eval.health import HealthConfig, detector_health, fire_rates, plot_health
    from graphdet.eval.metrics import (
        DetectorMatrix,
        detector_matrix,
        detector_metrics,
        difference_interval,
        offline_metrics,
        paired_difference,
    )
    from graphdet.eval.online import (
        FEEDBACK_SCHEMA,
        OnlineConfig,
        online_metrics,
        read_feedback,
        simulate_feedback,
        validate_feedback,
    )
    from graphdet.eval.replay import MASKS, Change, ReplayResult, decision_diff, fidelity, metric_deltas, replay_change
    from graphdet.eval.report import headline, write_report
    from graphdet.eval.run import Evaluation, evaluate_chronicle
    from graphdet.eval.stack import DecisionStack, ReplayRows, load_stack, logged_rows, rerun_rows

_WHERE = {
    "EvalError": "data",
    "EvalSet": "data",
    "evaluation_set": "data",
    "evaluation_start": "data",
    "feature_matrix": "data",
    "load_labels": "data",
    "load_messages": "data",
    "stream_after": "data",
    "CapabilityGap": "gaps",
    "GapConfig": "gaps",
    "capability_gaps": "gaps",
    "EgoView": "graphview",
    "ego_view": "graphview",
    "plot_ego_view": "graphview",
    "HealthConfig": "health",
    "detector_health": "health",
    "fire_rates": "health",
    "plot_health": "health",
    "DetectorMatrix": "metrics",
    "detector_matrix": "metrics",
    "detector_metrics": "metrics",
    "difference_interval": "metrics",
    "offline_metrics": "metrics",
    "paired_difference": "metrics",
    "FEEDBACK_SCHEMA": "online",
    "OnlineConfig": "online",
    "online_metrics": "online",
    "read_feedback": "online",
    "simulate_feedback": "online",
    "validate_feedback": "online",
    "Change": "replay",
    "MASKS": "replay",
    "ReplayResult": "replay",
    "decision_diff": "replay",
    "fidelity": "replay",
    "metric_deltas": "replay",
    "replay_change": "replay",
    "headline": "report",
    "write_report": "report",
    "Evaluation": "run",
    "evaluate_chronicle": "run",
    "DecisionStack": "stack",
    "ReplayRows": "stack",
    "load_stack": "stack",
    "logged_rows": "stack",
    "rerun_rows": "stack",
}

__all__ = [
    "FEEDBACK_SCHEMA",
    "MASKS",
    "CapabilityGap",
    "Change",
    "DecisionStack",
    "DetectorMatrix",
    "EgoView",
    "EvalError",
    "EvalSet",
    "Evaluation",
    "GapConfig",
    "HealthConfig",
    "OnlineConfig",
    "ReplayResult",
    "ReplayRows",
    "capability_gaps",
    "decision_diff",
    "detector_health",
    "detector_matrix",
    "detector_metrics",
    "difference_interval",
    "ego_view",
    "evaluate_chronicle",
    "evaluation_set",
    "evaluation_start",
    "feature_matrix",
    "fidelity",
    "fire_rates",
    "headline",
    "load_labels",
    "load_messages",
    "load_stack",
    "logged_rows",
    "metric_deltas",
    "offline_metrics",
    "online_metrics",
    "paired_difference",
    "plot_ego_view",
    "plot_health",
    "read_feedback",
    "replay_change",
    "rerun_rows",
    "simulate_feedback",
    "stream_after",
    "validate_feedback",
    "write_report",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'graphdet.eval' has no attribute {name!r}")
    return getattr(importlib.import_module(f"graphdet.eval.{module}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
