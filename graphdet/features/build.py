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
from array import array
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
# a cold-start row masks every graph and GNN feature but the tenant's history: what follows
# dir_inbound, dir_internal, rcpt_count and tenant_history_days (FeatureBuilder._behaviour's order)
_GRAPH_COLUMNS = [i for i, n in enumerate(_BEHAVIOUR) if BEHAVIOUR_FEATURES[n][0] in ("graph", "gnn")
                  and n != "tenant_history_days"]
_COLD_GRAPH = (_NAN,) * len(_GRAPH_COLUMNS)


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
        for column, v in zip(_GNN_COLUMNS, self.index.message_feature(self.sender_row, self.targets), strict=True):
            values[column] = v

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
    t_us: int  # the message's time in µs (the state update reuses it)

    def row(self) -> FeatureRow:
        # array('d') converts the floats in one C loop; np.array(list) inspects each element
        # (~3x the cost for a 140-value row)
        return FeatureRow(np.frombuffer(array("d", self.values)), self.signals, self.hits, self.mature)


class FeatureBuilder:
    """Computes feature rows for a rule set (``min_history_days``: the cold-start cut)."""

    def __init__(self, ruleset: RuleSet, *, min_history_days: float = _DEFAULT_MIN_HISTORY) -> None:
        self.ruleset = ruleset
        self.min_history_days = min_history_days
        self.schema = FeatureSchema(signal_names(ruleset.lexicon), tuple(r.id for r in ruleset.rules))
        self._signal_values = operator.itemgetter(*self.schema.signal_names)
        self._rule_column = {r: i for i, r in enumerate(self.schema.rule_ids)}
        self._no_hits = (0.0,) * len(self.schema.rule_ids)

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
            st.observe(m, partial.t_us)
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
                partial = self._partial(m, st)
                partials.append(partial)
                if learn:
                    st.observe(m, partial.t_us)
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
        history = st.history_days(t_us)
        mature = history >= self.min_history_days
        values, gnn = self._behaviour(m, st, t_us, history, mature)
        # the signals in schema order (bools and ints become 0/1 and exact floats in row(), as
        # Signals.row_values gives them)
        values.extend(self._signal_values(signals.values))
        if hits:
            offset = len(values)
            values.extend(self._no_hits)
            for h in hits:
                values[offset + self._rule_column[h]] = 1.0
        else:
            values.extend(self._no_hits)
        return _Partial(values, signals, hits, mature, gnn, t_us)

    def _behaviour(self, m: Message, st: TenantState, t_us: int, history: float,
                   mature: bool) -> tuple[list[float], _GNNRequest | None]:
        """Behaviour features in :data:`BEHAVIOUR_FEATURES` order; the GNN ones are left NaN
        and described by the returned request (filled for one message or a whole batch).
        An immature tenant's graph and GNN features are NaN (the cold-start mask).

        Written as straight-line code over locals (no per-feature dict): it runs for every
        message decided. ``tests/features`` pins each column to its definition."""
        inbound, internal = float(m.direction is Direction.INBOUND), float(m.direction is Direction.INTERNAL)
        sender = m.from_.addr
        if not mature:  # cold start: graph and GNN features unknown (tenant_history_days stays)
            distinct = {r.addr for r in m.recipients}
            distinct.discard(sender)
            return [inbound, internal, float(len(distinct)), history, *_COLD_GRAPH], None
        nan = _NAN
        log1p = math.log1p
        sender_domain = m.from_.domain
        node_of = st.node_of
        s = node_of.get(sender)
        if s is not None:
            sent = st.sent[s]
            sender_known = float(sent > 0)
            sent_log = log1p(sent)
            out_log = log1p(st.out_degree(s))
            in_log = log1p(st.in_degree(s))
            days_known = max(0.0, (t_us - st.first_us[s]) / _US_PER_DAY)
        else:
            sent = 0
            sender_known = sent_log = out_log = in_log = days_known = 0.0
        n_snap_nodes = st.n_snap
        in_snap = s is not None and s < n_snap_nodes
        n_snap = max(n_snap_nodes, 1)
        if in_snap:
            assert s is not None
            reciprocity = float(st.reciprocity[s])
            pagerank_log = math.log(max(float(st.pagerank[s]) * n_snap, 1e-12))
            clustering = float(st.clustering[s])
        else:
            reciprocity = pagerank_log = clustering = nan
        is_internal = st.is_internal_domain
        sender_internal = float(is_internal(sender_domain))
        dom_first = st.domain_first_us.get(sender_domain)
        if dom_first is not None:
            domain_known, domain_days = 1.0, max(0.0, (t_us - dom_first) / _US_PER_DAY)
        else:
            domain_known, domain_days = 0.0, 0.0
        key = fold_name(m.from_.name) if m.from_.name else ""
        if key:
            name_new = float(s is not None and sent > 0 and not st.has_name(s, key))
            name_shared = float(st.name_used_by_other(key, s))
            internal_users = st.internal_names.get(key)
            name_internal_other = float(sender not in internal_users) if internal_users else 0.0
        else:
            name_new = name_shared = name_internal_other = 0.0

        # recipients: distinct, the sender excluded, in order
        rcpts: list[int | None] = []
        seen: set[str] = {sender}
        n_internal = 0
        for r in m.recipients:
            a = r.addr
            if a in seen:
                continue
            seen.add(a)
            rcpts.append(node_of.get(a))
            n_internal += is_internal(r.domain)
        n = len(rcpts)
        gnn: _GNNRequest | None = None
        internal_share = first_share = first_count = pair_min = pair_max = reverse_max = nan
        common_max = aa_max = same_community = known_share = received_mean = rcpt_pagerank = attacked = nan
        gnn_fallback = nan
        if n:
            received = st.received
            if s is None:
                first, fewest, most, reverse, common, aa_max = n, 0, 0, 0, 0, 0.0
            else:
                first, fewest, most, reverse, common, aa_max = st.sender_pairs(s, rcpts)
            common_max = float(common)
            internal_share = n_internal / n
            first_share = first / n
            first_count = float(first)
            pair_min = log1p(fewest)
            pair_max = log1p(most)
            reverse_max = log1p(reverse)
            snap = [d for d in rcpts if d is not None and d < n_snap_nodes]
            if snap:
                if in_snap:
                    comm = st.community[s]
                    same = sum(1 for d in snap if st.community[d] == comm and comm >= 0)
                    same_community = same / len(snap)
                known_share = sum(float(st.known_share[d]) for d in snap) / len(snap)
                rcpt_pagerank = max(math.log(max(float(st.pagerank[d]) * n_snap, 1e-12)) for d in snap)
            received_mean = sum(log1p(received[d]) if d is not None else 0.0 for d in rcpts) / n
            attacked_at = st.attacked
            attacked = float(bool(attacked_at) and any(
                d is not None and 0 < attacked_at.get(d, 0) < t_us for d in rcpts))
            if st.gnn is not None:
                row, fallback = st.gnn.sender_row(s if in_snap else None, sender_domain)
                gnn_fallback = float(fallback)
                if snap:
                    gnn = _GNNRequest(st.gnn, row, snap)
        return [
            inbound, internal, float(n), history,
            sender_known, sent_log, out_log, in_log, days_known, reciprocity, pagerank_log, clustering,
            sender_internal, domain_known, domain_days, name_new, name_shared, name_internal_other,
            internal_share, first_share, first_count, pair_min, pair_max, reverse_max, common_max, aa_max,
            same_community, known_share, received_mean, rcpt_pagerank, attacked, nan, nan, nan, gnn_fallback,
        ], gnn


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
