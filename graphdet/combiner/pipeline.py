"""`graphdet train`: rebuild on history, replay point in time, train, evaluate, write artifacts.

1. **Cut.** Messages before ``cut`` are history: the graph (and GNN) is rebuilt as of the cut.
2. **Replay.** Messages from the cut on are replayed in time order through OnlineState; each
   message's features are computed before the state learns from it (and before its label
   is recorded), exactly as serving would see it.
3. **Splits.** Whole campaign *template families* (one per attack category that has several)
   are held out of training and validation entirely; the rest is split by time into train,
   validation and test.
4. **Train** the combiner (calibration and thresholds on validation), with a share of the
   training rows copied with their graph features masked, so a cold-start tenant (graph
   features unknown) is decided on its message signals.
5. **Evaluate** on the later time split and on the held-out families: precision, recall, FNR
   per category with Wilson intervals, precision re-weighted to 1 attack in 1,000, a PR curve;
   and an ablation (message signals and rules / + graph statistics / + GNN) on the same splits.
6. **Artifacts**: everything serving loads (snapshot, model, rules, policy, reasons, tenants)
   plus the report.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from graphdet.combiner.decide import Decider
from graphdet.combiner.explain import ReasonBook
from graphdet.combiner.metrics import detection_table
from graphdet.combiner.model import Combiner
from graphdet.exceptions import ConfigError, GraphdetError
from graphdet.features import FeatureBuilder, OnlineState, replay
from graphdet.graph import RebuildConfig, rebuild
from graphdet.messagelog import read_labels, read_log_info, read_messages, table_to_messages
from graphdet.policy import load_policy
from graphdet.rules import RuleSet, load_rules
from graphdet.schema import Category, Verdict
from graphdet.tenants import load_tenant_config

__all__ = ["TrainConfig", "load_train_config", "train_pipeline"]

logger = logging.getLogger(__name__)

REPO_CONFIGS = Path(__file__).resolve().parents[2] / "configs"
ABLATION_CATEGORIES = ("bec", "vendor_fraud", "vendor_compromise", "lateral_phishing")


@dataclass(frozen=True)
class TrainConfig:
    lookback_days: int = 90
    history_share: float = 0.4
    min_history_days: float = 14.0
    target_precision: float = 0.995
    alert_budget: float | None = None
    suspicious_precision: float = 0.9
    ablation_precision: float = 0.999
    val_share: float = 0.2
    test_share: float = 0.3
    cold_start_augment: float = 0.15
    gnn_epochs: int = 120
    trees: int = 150
    learning_rate: float = 0.1
    num_leaves: int = 15
    max_depth: int = 6
    category_trees: int = 30
    seed: int = 0

    def combiner_options(self) -> dict[str, Any]:
        """The booster capacity options :class:`Combiner` takes."""
        return {"num_boost_round": self.trees, "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                "max_depth": self.max_depth, "category_rounds": self.category_trees, "seed": self.seed}


def load_train_config(path: str | Path | None = None) -> TrainConfig:
    path = Path(path) if path is not None else REPO_CONFIGS / "default.yaml"
    try:
        data = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("train", {})
    except (OSError, yaml.YAMLError, AttributeError) as e:
        raise ConfigError(f"pipeline config {path}: {e}") from None
    unknown = set(data) - set(TrainConfig.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"pipeline config {path}: unknown train options {sorted(unknown)}")
    return TrainConfig(**data)


def _default_cut(table: Any, share: float) -> datetime:
    times = table.column("received_at")
    t0, t1 = pc.min(times).as_py(), pc.max(times).as_py()
    cut = t0 + (t1 - t0) * share
    return datetime(cut.year, cut.month, cut.day, tzinfo=UTC) + timedelta(days=1)


def _holdout_families(log_dir: Path, seed: int) -> dict[str, str]:
    """campaign id -> template family, for the families held out (one per category)."""
    path = log_dir / "campaigns.parquet"
    if not path.exists():
        return {}
    camp = pq.read_table(path).to_pydict()
    by_cat: dict[str, set[str]] = {}
    for cat, fam in zip(camp["category"], camp["template_family"], strict=True):
        by_cat.setdefault(cat, set()).add(fam)
    held = set()
    for fams in by_cat.values():
        if len(fams) >= 2:
            ordered = sorted(fams)
            held.add(ordered[seed % len(ordered)])
    return {cid: fam for cid, fam in zip(camp["campaign_id"], camp["template_family"], strict=True) if fam in held}


def _flags(decider: Decider, messages: list[Any], rows: list[Any]) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    decisions = decider.decide(messages, rows)
    malicious = np.array([d.verdict is Verdict.MALICIOUS for d in decisions])
    score = np.array([d.score for d in decisions])
    return malicious, score, decisions


def _recall_at_precision(score: np.ndarray, category: np.ndarray, threshold: float) -> dict[str, Any]:
    flagged = score >= threshold
    table = detection_table(category, flagged)
    return {
        "threshold": threshold,
        "precision": table["precision"],
        "recall": table["recall"],
        "per_category": {c: table["per_category"].get(c, {}).get("recall") for c in ABLATION_CATEGORIES},
    }


def train_pipeline(
    log_dir: str | Path,
    out: str | Path,
    *,
    cut: datetime | None = None,
    config: TrainConfig | None = None,
    rules_dir: str | Path | None = None,
    policy_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the whole chain; returns the report dict (also written to ``out/report``)."""
    log_dir, out = Path(log_dir), Path(out)
    config = config or load_train_config()
    rules_dir = Path(rules_dir) if rules_dir is not None else REPO_CONFIGS / "rules"
    policy_dir = Path(policy_dir) if policy_dir is not None else REPO_CONFIGS / "policy"
    say = progress or (lambda _msg: None)
    timings: dict[str, float] = {}
    read_log_info(log_dir)
    table = read_messages(log_dir)
    labels = read_labels(log_dir)
    if labels.num_rows == 0:
        raise GraphdetError(f"{log_dir} has no labels.parquet: training needs labelled messages")
    cut = cut or _default_cut(table, config.history_share)
    tenants_yaml = log_dir / "tenants.yaml"
    tenant_cfg = load_tenant_config(tenants_yaml if tenants_yaml.exists() else None)
    executives = {t.name: t.executives for t in tenant_cfg.tenants}

    out.mkdir(parents=True, exist_ok=True)
    say(f"rebuilding the graph as of {cut:%Y-%m-%d} (history before it)")
    t = time.perf_counter()
    snap = rebuild(log_dir, out / "snapshot", as_of=cut,
                   config=RebuildConfig(lookback_days=config.lookback_days, gnn_epochs=config.gnn_epochs), force=True)
    timings["rebuild_s"] = time.perf_counter() - t

    ruleset = load_rules(rules_dir)
    builder = FeatureBuilder(ruleset, min_history_days=config.min_history_days)
    state = OnlineState.from_snapshot(out / "snapshot", executives=executives)
    stream_table = table.filter(pc.greater_equal(table.column("received_at"), cut))
    stream_table = stream_table.sort_by([("received_at", "ascending"), ("message_id", "ascending")])
    label_of = dict(zip(labels.column("message_id").to_pylist(), labels.column("category").to_pylist(), strict=True))
    campaign_of = dict(zip(labels.column("message_id").to_pylist(), labels.column("campaign_id").to_pylist(),
                           strict=True))
    say(f"replaying {stream_table.num_rows} messages after the cut through OnlineState")
    t = time.perf_counter()
    messages, rows = [], []
    for m, row in replay(table_to_messages(stream_table), state, builder):
        messages.append(m)
        rows.append(row)
        cat = label_of.get(m.message_id, "safe")
        if cat != "safe":  # feedback arrives after the decision: later messages may use it
            state.tenant(m.tenant).record_label(m, Category(cat))
    timings["replay_s"] = time.perf_counter() - t
    x = np.stack([r.values for r in rows])
    category = np.array([label_of.get(m.message_id, "safe") for m in messages])

    held = _holdout_families(log_dir, config.seed)
    in_holdout = np.array([campaign_of.get(m.message_id, "") in held for m in messages])
    rest = np.flatnonzero(~in_holdout)
    n = len(rest)
    n_train = int(n * (1 - config.val_share - config.test_share))
    n_val = int(n * config.val_share)
    train_i, val_i, test_i = rest[:n_train], rest[n_train : n_train + n_val], rest[n_train + n_val :]
    holdout_i = np.concatenate([np.flatnonzero(in_holdout), test_i[category[test_i] == "safe"]])

    rng = np.random.default_rng(config.seed)
    graph_cols = builder.schema.indices(("graph", "gnn"))
    graph_cols = [i for i in graph_cols if builder.schema.names[i] != "tenant_history_days"]
    aug = train_i[rng.random(len(train_i)) < config.cold_start_augment]
    x_aug = x[aug].copy()
    x_aug[:, graph_cols] = np.nan
    x_train = np.vstack([x[train_i], x_aug])
    c_train = np.concatenate([category[train_i], category[aug]])
    names = list(builder.schema.names)

    say(f"training the combiner on {len(x_train)} rows ({len(aug)} cold-start copies)")
    t = time.perf_counter()
    combiner = Combiner(target_precision=config.target_precision, suspicious_precision=config.suspicious_precision,
                        alert_budget=config.alert_budget, **config.combiner_options()).fit(
        x_train, c_train, x[val_i], category[val_i], feature_names=names)
    timings["train_s"] = time.perf_counter() - t
    policy = load_policy(policy_dir)
    reasons = ReasonBook.load(REPO_CONFIGS / "reasons.yaml", {r.id: r.description for r in ruleset.rules},
                              builder.schema)
    versions = (("snapshot", snap.version), ("features", builder.schema.version), ("rules", ruleset_version(ruleset)))
    decider = Decider(combiner, policy, reasons, ruleset, versions=versions)

    def evaluate(idx: np.ndarray) -> dict[str, Any]:
        flagged, score, _ = _flags(decider, [messages[i] for i in idx], [rows[i] for i in idx])
        table_ = detection_table(category[idx], flagged)
        table_["suspicious_or_worse"] = int((score >= combiner.suspicious_threshold_).sum())
        return table_

    say("evaluating on the later time split and the held-out campaign families")
    report: dict[str, Any] = {
        "log": str(log_dir),
        "cut": cut.isoformat(),
        "config": asdict(config),
        "splits": {"train": len(train_i), "cold_start_copies": len(aug), "validation": len(val_i),
                   "test": len(test_i), "holdout_attacks": int(in_holdout.sum())},
        "held_out_families": sorted(set(held.values())),
        "thresholds": combiner.thresholds_,
        "suspicious_threshold": combiner.suspicious_threshold_,
        "test": evaluate(test_i),
        "holdout_families": evaluate(holdout_i) if in_holdout.any() else None,
        "cold_start_test": _cold_start(decider, builder, messages, rows, test_i, category),
        "top_features": _top_features(combiner),
        "ablation": _ablation(x, category, train_i, val_i, test_i, holdout_i, builder, config),
        "timings": {k: round(v, 1) for k, v in timings.items()},
        "versions": dict(versions),
    }
    _write_artifacts(out, combiner, rules_dir, policy_dir, log_dir, report, builder)
    from graphdet.combiner.report import write_report

    score_test = combiner.predict_proba(x[test_i])
    score_hold = combiner.predict_proba(x[holdout_i]) if in_holdout.any() else None
    write_report(out / "report", report, (category[test_i], score_test),
                 (category[holdout_i], score_hold) if score_hold is not None else None)
    return report


def ruleset_version(ruleset: RuleSet) -> str:
    """The version a Decision records for ``ruleset`` (see :func:`graphdet.rules.folder_version`)."""
    return ruleset.version


def _cold_start(decider: Decider, builder: FeatureBuilder, messages: list[Any], rows: list[Any],
                test_i: np.ndarray, category: np.ndarray) -> dict[str, Any]:
    """The test split decided as if its tenant had no history (graph features unknown)."""
    from graphdet.features.build import FeatureRow

    cols = [i for i in builder.schema.indices(("graph", "gnn")) if builder.schema.names[i] != "tenant_history_days"]
    masked = []
    for i in test_i:
        v = rows[i].values.copy()
        v[cols] = np.nan
        v[builder.schema.names.index("tenant_history_days")] = 0.0
        masked.append(FeatureRow(v, rows[i].signals, rows[i].hits, False))
    flagged, _, _ = _flags(decider, [messages[i] for i in test_i], masked)
    return detection_table(category[test_i], flagged)


def _top_features(combiner: Combiner, k: int = 15) -> list[tuple[str, float]]:
    gain = combiner.booster_.feature_importance(importance_type="gain")
    order = np.argsort(-gain)[:k]
    total = gain.sum() or 1.0
    return [(combiner.feature_names_[i], round(float(gain[i] / total), 4)) for i in order]


def _ablation(x: np.ndarray, category: np.ndarray, train_i: np.ndarray, val_i: np.ndarray, test_i: np.ndarray,
              holdout_i: np.ndarray, builder: FeatureBuilder, config: TrainConfig) -> dict[str, Any]:
    """Recall at ``ablation_precision`` (threshold from validation) per feature set."""
    out: dict[str, Any] = {"precision_target": config.ablation_precision}
    for name, fams in (("message_and_rules", ("message",)), ("plus_graph", ("message", "graph")),
                       ("plus_gnn", ("message", "graph", "gnn"))):
        cols = builder.schema.indices(fams)
        model = Combiner(target_precision=config.ablation_precision, **config.combiner_options()).fit(
            x[train_i][:, cols], category[train_i], x[val_i][:, cols], category[val_i],
            feature_names=[builder.schema.names[i] for i in cols])
        val_score = model.predict_proba(x[val_i][:, cols])
        y_val = (category[val_i] != "safe").astype(float)
        threshold = model._threshold_for(val_score, y_val, config.ablation_precision)
        out[name] = {
            "features": len(cols),
            "test": _recall_at_precision(model.predict_proba(x[test_i][:, cols]), category[test_i], threshold),
            "holdout": _recall_at_precision(model.predict_proba(x[holdout_i][:, cols]), category[holdout_i],
                                            threshold) if len(holdout_i) else None,
        }
    return out


def _write_artifacts(out: Path, combiner: Combiner, rules_dir: Path, policy_dir: Path, log_dir: Path,
                     report: dict[str, Any], builder: FeatureBuilder) -> None:
    combiner.save(out / "model")
    schema = {"version": builder.schema.version, "names": list(builder.schema.names),
              "min_history_days": builder.min_history_days}
    (out / "model" / "features.json").write_text(json.dumps(schema, indent=2) + "\n")
    for src, dst in ((rules_dir, out / "rules"), (policy_dir, out / "policy")):
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)
    shutil.copy(REPO_CONFIGS / "reasons.yaml", out / "reasons.yaml")
    if (log_dir / "tenants.yaml").exists():
        shutil.copy(log_dir / "tenants.yaml", out / "tenants.yaml")
    (out / "artifacts.json").write_text(json.dumps({
        "kind": "graphdet-artifacts", "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": report["versions"], "snapshot": "snapshot", "model": "model", "rules": "rules",
        "policy": "policy", "reasons": "reasons.yaml",
    }, indent=2) + "\n")
