"""The decision stack of an artifacts folder, and the feature rows a replay re-decides.

:func:`load_stack` loads rules, feature builder, combiner, policy and reasons the way
``serving.DecisionEngine`` does (same files, same defaults), so re-deciding a row with
:meth:`DecisionStack.decider` runs exactly the code that decided it in serving.

Rows come from one of two places:

- :func:`logged_rows`: the chronicle's own feature vectors, stored as the float64 values the
  booster saw, so a no-change replay reproduces every logged decision exactly. Fast and
  needs nothing else (a replay still reports how many it reproduced).
- :func:`rerun_rows`: the messages of the log re-run, in the chronicle's decision order,
  through OnlineState from the artifacts' snapshot and the same FeatureBuilder, as the
  engine did (checked equal to the logged vectors): needed for changes the logged vectors
  cannot show, e.g. another rule set or feature code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphdet.combiner import Combiner, Decider, ReasonBook
from graphdet.combiner.pipeline import ruleset_version
from graphdet.eval.data import EvalError, feature_matrix
from graphdet.features import FeatureBuilder, FeatureRow, OnlineState, replay
from graphdet.graph.snapshot import current_version
from graphdet.messagelog import read_messages, table_to_messages
from graphdet.policy import Policy, load_policy
from graphdet.rules import RuleSet, Signals, load_rules
from graphdet.schema import Address, Message
from graphdet.tenants import TenantConfig, load_tenant_config
from graphdet.versions import artifact_versions

__all__ = ["DecisionStack", "ReplayRows", "feature_rows", "load_stack", "logged_rows", "rerun_rows"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecisionStack:
    """Everything serving decides with, from one artifacts folder."""

    root: Path
    ruleset: RuleSet
    builder: FeatureBuilder
    combiner: Combiner
    policy: Policy
    reasons: ReasonBook
    tenants: TenantConfig
    versions: tuple[tuple[str, str], ...]

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.builder.schema.names

    @property
    def feature_version(self) -> str:
        return self.builder.schema.version

    def decider(self, combiner: Combiner | None = None, ruleset: RuleSet | None = None) -> Decider:
        return Decider(combiner or self.combiner, self.policy, self.reasons, ruleset or self.ruleset,
                       versions=self.versions)


def load_stack(artifacts: str | Path) -> DecisionStack:
    """Load an artifacts folder (what ``graphdet train`` wrote); raises naming what is missing."""
    root = Path(artifacts)
    if not root.is_dir():
        raise EvalError(f"artifacts folder {root} does not exist")
    tenants = load_tenant_config(root / "tenants.yaml" if (root / "tenants.yaml").exists() else None)
    ruleset = load_rules(root / "rules")
    builder = FeatureBuilder.for_model(ruleset, root / "model")  # as the engine builds it
    combiner = Combiner.load(root / "model")
    if tuple(combiner.feature_names_) != builder.schema.names:
        raise EvalError(f"{root}: the model's {len(combiner.feature_names_)} features do not match the rules' "
                        f"feature schema {builder.schema.version} ({len(builder.schema.names)})")
    reasons = ReasonBook.load(root / "reasons.yaml", {r.id: r.description for r in ruleset.rules}, builder.schema)
    policy = load_policy(root / "policy" if (root / "policy").is_dir() else None)
    versions = artifact_versions(root, snapshot=current_version(root / "snapshot") or "", model_loaded=True,
                                 rules=ruleset_version(ruleset), features=builder.schema.version)
    return DecisionStack(root, ruleset, builder, combiner, policy, reasons, tenants, versions)


@dataclass(frozen=True)
class ReplayRows:
    """Re-decidable rows: ``index`` (positions in the decision table), their ``messages`` (from
    the log, or stand-ins with id, tenant and time only), ``x`` (float64, the stack's feature
    order) and the rule ``hits``; ``source`` says where the vectors came from."""

    index: np.ndarray
    messages: list[Message]
    x: np.ndarray
    hits: list[tuple[str, ...]]
    source: str
    has_text: bool

    def take(self, positions: np.ndarray) -> ReplayRows:
        return ReplayRows(self.index[positions], [self.messages[i] for i in positions], self.x[positions],
                          [self.hits[i] for i in positions], self.source, self.has_text)


_NOBODY = Address("")


def _stand_in(message_id: str, tenant: str, received_at: datetime) -> Message:
    return Message(tenant=tenant, message_id=message_id, received_at=received_at, from_=_NOBODY)


def feature_rows(rows: ReplayRows, x: np.ndarray | None = None,
                 hits: list[tuple[str, ...]] | None = None) -> list[FeatureRow]:
    """FeatureRows for the Decider (which reads only the values and the rule hits)."""
    x = rows.x if x is None else x
    hits = rows.hits if hits is None else hits
    return [FeatureRow(x[i], Signals({}, m), hits[i], True) for i, m in enumerate(rows.messages)]


def logged_rows(decisions: pa.Table, stack: DecisionStack,
                messages: dict[tuple[str, str], Message] | None = None) -> ReplayRows:
    """The chronicle's vectors of ``stack``'s feature schema (other rows are left out, and logged)."""
    x, ok = feature_matrix(decisions, stack.feature_names, stack.feature_version)
    index = np.flatnonzero(ok)
    if len(index) < decisions.num_rows:
        logger.warning("%d of %d decisions have no vector of schema %s and cannot be replayed",
                       decisions.num_rows - len(index), decisions.num_rows, stack.feature_version)
    ids = decisions.column("message_id").to_pylist()
    tenants = decisions.column("tenant").to_pylist()
    times = decisions.column("received_at").to_pylist()
    hits = decisions.column("rule_hits").to_pylist()
    msgs = []
    for i in index:
        m = messages.get((ids[i], tenants[i])) if messages is not None else None
        msgs.append(m if m is not None else _stand_in(ids[i], tenants[i], times[i]))
    if messages is None and _has_lists(stack.policy):
        logger.warning("the policy has allow/block lists but the chronicle holds no senders: pass the message "
                       "log so the replay sees them")
    return ReplayRows(index, msgs, x[index], [tuple(hits[i]) for i in index], "logged vectors",
                      messages is not None)


def _has_lists(policy: Policy) -> bool:
    lists = [policy.default, *policy.tenants.values()]
    return any(p.allow_senders or p.allow_domains or p.block_senders or p.block_domains for p in lists)


def rerun_rows(decisions: pa.Table, stack: DecisionStack, log_dir: str | Path, *,
               progress: Callable[[int, int], None] | None = None) -> ReplayRows:
    """Re-run the chronicle's messages from the log through the feature path (exact vectors).

    Every decision must have been made by this stack's snapshot, rules and feature schema, in
    one stream (one serving process from the snapshot on): that is checked by comparing each
    re-computed vector with the logged one.
    """
    mine = dict(stack.versions)
    for name in ("snapshot", "rules", "features"):
        found = set()
        for vs in decisions.column("versions").to_pylist():
            found.add(dict((v["name"], v["version"]) for v in vs).get(name, "?"))
        if found - {mine[name]}:
            raise EvalError(f"re-run needs decisions of one {name} version ({mine[name]} in {stack.root}), the "
                            f"chronicle has {sorted(found)}: replay the logged vectors instead")
    order = np.lexsort((decisions.column("seq").to_numpy(), np.asarray(decisions.column("wal").to_pylist())))
    decisions = decisions.take(pa.array(order))
    ids = decisions.column("message_id").to_pylist()
    tenants = decisions.column("tenant").to_pylist()
    table = read_messages(log_dir, filter=pc.field("message_id").isin(pa.array(sorted(set(ids)), pa.string())))
    by_key = {(m.message_id, m.tenant): m for m in table_to_messages(table)}
    missing = [(i, t) for i, t in zip(ids, tenants, strict=True) if (i, t) not in by_key]
    if missing:
        raise EvalError(f"{log_dir}: {len(missing)} chronicled messages are not in the log (first: {missing[0]})")
    stream = [by_key[k] for k in zip(ids, tenants, strict=True)]
    state = OnlineState.from_snapshot(stack.root / "snapshot",
                                      executives={t.name: t.executives for t in stack.tenants.tenants})
    x = np.empty((len(stream), len(stack.feature_names)))
    hits: list[tuple[str, ...]] = []
    for i, (_, row) in enumerate(replay(stream, state, stack.builder)):
        x[i] = row.values
        hits.append(row.hits)
        if progress is not None and (i + 1) % 1000 == 0:
            progress(i + 1, len(stream))
    logged, ok = feature_matrix(decisions, stack.feature_names, stack.feature_version)
    same = np.all((x == logged) | (np.isnan(x) & np.isnan(logged)), axis=1)
    bad = np.flatnonzero(ok & ~same)
    if len(bad):
        raise EvalError(f"re-running the log does not reproduce the logged features of {len(bad)} decisions "
                        f"(first: {ids[bad[0]]}): the chronicle was not decided in one stream from snapshot "
                        f"{mine['snapshot']} by this feature code; replay the logged vectors instead")
    keep = np.flatnonzero(ok)
    return ReplayRows(order[keep], [stream[i] for i in keep], x[keep], [hits[i] for i in keep],
                      "re-run from the message log (float64)", True)
