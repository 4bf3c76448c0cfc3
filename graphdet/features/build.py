"""Feature vectors: one code path for training replay, single decisions and batches.

:meth:`FeatureBuilder.row` computes one message's vector from the tenant state as it is *now*
(the message itself not yet observed); :func:`replay` walks a time-ordered stream and calls
``row`` then ``observe`` for each message, which is exactly what serving does, so training
features and serving features are the same numbers (a test proves it).

Cold start: while a tenant has less than ``min_history_days`` of history every ``graph`` and
``gnn`` feature is NaN ("unknown"), the value the combiner was also trained with on rows
masked the same way, so a new tenant is decided on its message signals instead of looking
like one long stream of first contacts.
"""

from __future__ import annotations

import json
import logging
import math
import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from graphdet.exceptions import GraphdetError
from graphdet.features.schema import BEHAVIOUR_FEATURES, FeatureSchema
from graphdet.features.state import OnlineState, TenantState
from graphdet.gnn.signals import GNNIndex
from graphdet.rules import RuleSet, Signals, extract, signal_names
from graphdet.rules.context import fold_name
from graphdet.schema import Direction, Message

__all__ = ["FeatureBuilder", "FeatureRow", "replay"]

logger = logging.getLogger(__name__)

_NAN = float("nan")
_DEFAULT_MIN_HISTORY = 14.0  # days; what `graphdet train` uses unless configured otherwise
_US_PER_DAY = 86_400_000_000
_BEHAVIOUR = tuple(BEHAVIOUR_FEATURES)
_GRAPH_COLUMNS = [i for i, n in enumerate(_BEHAVIOUR) if BEHAVIOUR_FEATURES[n][0] in ("graph", "gnn")
                  and n != "tenant_history_days"]
_BEHAVIOUR_VALUES = operator.itemgetter(*_BEHAVIOUR)  # dict -> its values in BEHAVIOUR_FEATURES order


@dataclass(frozen=True, slots=True)
class FeatureRow:
    values: np.ndarray  # float64, FeatureSchema order
    signals: Signals
    hits: tuple[str, ...]
    mature: bool


def _log1p(x: float) -> float:
    return math.log1p(x) if x == x else _NAN


_GNN_COLUMNS = tuple(_BEHAVIOUR.index(n) for n in ("gnn_plausibility_min", "gnn_plausibility_mean",
                                                    "gnn_similarity_mean"))


@dataclass(slots=True)
class _GNNRequest:
    """The GNN signals one message still needs: its sender row and recipient nodes."""

    index: GNNIndex
    sender_row: int
    targets: list[int]

    def fill(self, values: list[float]) -> None:
        self.fill_all([self], [values])

    @staticmethod
    def fill_all(requests: list[_GNNRequest], values: list[list[float]]) -> None:
        by_index: dict[int, list[int]] = {}
        for i, r in enumerate(requests):
            by_index.setdefault(id(r.index), []).append(i)
        for members in by_index.values():
            index = requests[members[0]].index
            out = index.message_features([(requests[i].sender_row, requests[i].targets) for i in members])
            for i, triple in zip(members, out, strict=True):
                for column, v in zip(_GNN_COLUMNS, triple, strict=True):
                    values[i][column] = v


@dataclass(slots=True)
class _Partial:
    values: list[float]
    signals: Signals
    hits: tuple[str, ...]
    mature: bool
    gnn: _GNNRequest | None

    def row(self) -> FeatureRow:
        return FeatureRow(np.array(self.values, dtype=np.float64), self.signals, self.hits, self.mature)


class FeatureBuilder:
    """Computes feature rows for a rule set (``min_history_days``: the cold-start cut)."""

    def __init__(self, ruleset: RuleSet, *, min_history_days: float = _DEFAULT_MIN_HISTORY) -> None:
        self.ruleset = ruleset
        self.min_history_days = min_history_days
        self.schema = FeatureSchema(signal_names(ruleset.lexicon), tuple(r.id for r in ruleset.rules))
        self._signal_values = operator.itemgetter(*self.schema.signal_names)
        self._rule_column = {r: i for i, r in enumerate(self.schema.rule_ids)}

    def row(self, m: Message, st: TenantState) -> FeatureRow:
        """The features of ``m`` from ``st`` as it is now (``m`` must not be observed yet)."""
        partial = self._partial(m, st)
        if partial.gnn is not None:
            partial.gnn.fill(partial.values)
        return partial.row()

    @classmethod
    def for_model(cls, ruleset: RuleSet, model_dir: str | Path) -> FeatureBuilder:
        """The builder a trained model expects: its ``features.json`` (written by ``graphdet
        train``) holds the cold-start cut the model was trained with. Without the file (a model
        from elsewhere) the default cut is used; a file that cannot be read is an error."""
        path = Path(model_dir) / "features.json"
        if not path.exists():
            logger.warning("%s not found: the default cold-start cut (%g days) is used", path, _DEFAULT_MIN_HISTORY)
            return cls(ruleset)
        try:
            settings = json.loads(path.read_text(encoding="utf-8"))
            days = float(settings.get("min_history_days", _DEFAULT_MIN_HISTORY))
        except (OSError, ValueError, TypeError, AttributeError) as e:
            raise GraphdetError(f"{path}: unreadable feature settings ({e})") from None
        if not math.isfinite(days) or days < 0:
            raise GraphdetError(f"{path}: min_history_days must be a number of days >= 0, got {days!r}")
        return cls(ruleset, min_history_days=days)

    def one(self, m: Message, state: OnlineState, *, learn: bool = True) -> FeatureRow:
        """:meth:`rows` of one message (the same numbers, without the batch bookkeeping)."""
        st = state.tenant(m.tenant)
        partial = self._partial(m, st)
        if learn:
            st.observe(m)
        if partial.gnn is not None:
            partial.gnn.fill(partial.values)
        return partial.row()

    def rows(
        self, messages: Sequence[Message], state: OnlineState, *, learn: bool = True,
        errors: dict[int, str] | None = None,
    ) -> list[FeatureRow | None]:
        """:meth:`row` of each message in order, each before the state learns from it (as
        :func:`replay`), with the GNN signals of the whole batch computed in one vectorised
        pass per tenant: the same numbers as one :meth:`row` at a time.

        With ``errors``, a message whose features cannot be computed gets ``None`` and its
        position -> reason in ``errors`` (the rest of the batch goes on); without, it raises.
        """
        partials: list[_Partial | None] = []
        for i, m in enumerate(messages):
            try:
                st = state.tenant(m.tenant)
                partials.append(self._partial(m, st))
                if learn:
                    st.observe(m)
            except Exception as e:
                if errors is None:
                    raise
                logger.exception("cannot build features of %s", m.message_id)
                errors[i] = f"{type(e).__name__}: {e}"
                if len(partials) == i + 1:
                    partials[i] = None
                else:
                    partials.append(None)
        pending = [p for p in partials if p is not None and p.gnn is not None]
        _GNNRequest.fill_all([p.gnn for p in pending if p.gnn is not None], [p.values for p in pending])
        return [p.row() if p is not None else None for p in partials]

    def _partial(self, m: Message, st: TenantState) -> _Partial:
        signals = extract(m, st, self.ruleset.lexicon)
        hits = tuple(self.ruleset.evaluate(signals))
        t_us = int(m.received_at.timestamp() * 1_000_000)
        behaviour, gnn = self._behaviour(m, st, t_us)
        mature = st.history_days(t_us) >= self.min_history_days
        if not mature:
            gnn = None  # masked below: no need to compute it
            for i in _GRAPH_COLUMNS:
                behaviour[i] = _NAN
        rule_hits = [0.0] * len(self._rule_column)
        for h in hits:
            rule_hits[self._rule_column[h]] = 1.0
        # the signals in schema order as floats (bools 0/1), as Signals.row_values gives them
        values = [*behaviour, *map(float, self._signal_values(signals.values)), *rule_hits]
        return _Partial(values, signals, hits, mature, gnn)

    def _behaviour(self, m: Message, st: TenantState, t_us: int) -> tuple[list[float], _GNNRequest | None]:
        """Behaviour features in :data:`BEHAVIOUR_FEATURES` order; the GNN ones are left NaN
        and described by the returned request (filled for one message or a whole batch)."""
        f = dict.fromkeys(_BEHAVIOUR, _NAN)
        f["dir_inbound"] = float(m.direction is Direction.INBOUND)
        f["dir_internal"] = float(m.direction is Direction.INTERNAL)
        f["tenant_history_days"] = st.history_days(t_us)
        sender = m.from_.addr
        s = st.node_of.get(sender)
        in_snap = s is not None and s < st.n_snap
        f["sender_known"] = float(s is not None and st.sent[s] > 0)
        f["sender_msgs_sent_log"] = math.log1p(st.sent[s]) if s is not None else 0.0
        f["sender_out_degree_log"] = math.log1p(st.out_degree(s)) if s is not None else 0.0
        f["sender_in_degree_log"] = math.log1p(st.in_degree(s)) if s is not None else 0.0
        f["sender_days_known"] = max(0.0, (t_us - st.first_us[s]) / _US_PER_DAY) if s is not None else 0.0
        n_snap = max(st.n_snap, 1)
        if in_snap:
            assert s is not None
            f["sender_reciprocity"] = float(st.reciprocity[s])
            f["sender_pagerank_log"] = math.log(max(float(st.pagerank[s]) * n_snap, 1e-12))
            f["sender_clustering"] = float(st.clustering[s])
        f["sender_is_internal"] = float(st.is_internal_domain(m.from_.domain))
        dom_first = st.domain_first_us.get(m.from_.domain)
        f["sender_domain_known"] = float(dom_first is not None)
        f["sender_domain_days_known"] = max(0.0, (t_us - dom_first) / _US_PER_DAY) if dom_first is not None else 0.0
        key = fold_name(m.from_.name) if m.from_.name else ""
        if key:
            f["sender_name_new"] = float(s is not None and st.sent[s] > 0 and not st.has_name(s, key))
            f["sender_name_shared"] = float(st.name_used_by_other(key, s))
            internal_users = st.internal_names.get(key, set())
            f["sender_name_internal_other"] = float(bool(internal_users) and sender not in internal_users)
        else:
            f["sender_name_new"] = f["sender_name_shared"] = f["sender_name_internal_other"] = 0.0

        gnn: _GNNRequest | None = None
        rcpts: list[int | None] = []
        internal_flags: list[bool] = []
        seen: set[str] = set()
        for r in m.recipients:
            if r.addr == sender or r.addr in seen:
                continue
            seen.add(r.addr)
            rcpts.append(st.node_of.get(r.addr))
            internal_flags.append(st.is_internal_domain(r.domain))
        f["rcpt_count"] = float(len(rcpts))
        if rcpts:
            pair = [st.pair_msgs(s, d) for d in rcpts]
            reverse = [st.pair_msgs(d, s) for d in rcpts]
            first = sum(1 for p in pair if p == 0)
            f["rcpt_internal_share"] = sum(internal_flags) / len(rcpts)
            f["rcpt_first_contact_share"] = first / len(rcpts)
            f["rcpt_first_contact_count"] = float(first)
            f["pair_msgs_min_log"] = math.log1p(min(pair))
            f["pair_msgs_max_log"] = math.log1p(max(pair))
            f["pair_reverse_max_log"] = math.log1p(max(reverse))
            links = [st.link_stats(s, d) for d in rcpts]
            f["pair_common_neighbors_max"] = float(max(c for c, _ in links))
            f["pair_adamic_adar_max"] = max(a for _, a in links)
            known = [d for d in rcpts if d is not None]
            snap = [d for d in known if d < st.n_snap]
            if in_snap and snap:
                assert s is not None
                comm = st.community[s]
                same = sum(1 for d in snap if st.community[d] == comm and comm >= 0)
                f["pair_same_community_share"] = same / len(snap)
            if snap:
                f["rcpt_known_share_mean"] = sum(float(st.known_share[d]) for d in snap) / len(snap)
                f["rcpt_pagerank_log_max"] = max(math.log(max(float(st.pagerank[d]) * n_snap, 1e-12)) for d in snap)
            f["rcpt_received_log_mean"] = sum(math.log1p(st.received[d]) if d is not None else 0.0
                                              for d in rcpts) / len(rcpts)
            f["rcpt_attacked_before"] = float(any(d is not None and 0 < st.attacked.get(d, 0) < t_us for d in rcpts))
            if st.gnn is not None:
                row, fallback = st.gnn.sender_row(s if in_snap else None, m.from_.domain)
                f["gnn_fallback"] = float(fallback)
                if snap:
                    gnn = _GNNRequest(st.gnn, row, snap)
        return list(_BEHAVIOUR_VALUES(f)), gnn


def replay(
    messages: Iterable[Message], state: OnlineState, builder: FeatureBuilder, *, learn: bool = True
) -> Iterator[tuple[Message, FeatureRow]]:
    """Features of each message in order, each computed before the state learns from it."""
    for m in messages:
        st = state.tenant(m.tenant)
        row = builder.row(m, st)
        if learn:
            st.observe(m)
        yield m, row
