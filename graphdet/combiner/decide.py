"""Feature rows -> Decisions: combiner scores, category, policy, exact attribution.

Used by training's evaluation and by serving alike, so a decision in the report is made by
the same code that makes it in production.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphdet.combiner.explain import ReasonBook, top_attributions
from graphdet.combiner.model import Combiner
from graphdet.features.build import FeatureRow
from graphdet.policy import Policy
from graphdet.rules import RuleSet
from graphdet.schema import Decision, Message

__all__ = ["Decider"]


class Decider:
    """Scores feature rows with one booster call per batch and applies the policy."""

    def __init__(
        self,
        combiner: Combiner,
        policy: Policy,
        reasons: ReasonBook,
        ruleset: RuleSet,
        *,
        versions: Sequence[tuple[str, str]] = (),
        top_k: int = 5,
    ) -> None:
        self.combiner = combiner
        self.policy = policy
        self.reasons = reasons
        self.ruleset = ruleset
        self.versions = tuple(versions)
        self.top_k = top_k
        self.names = tuple(combiner.feature_names_)
        self.hard = {r.id: r.category for r in ruleset.rules if getattr(r, "hard", False)}
        # impersonation for the allow-list override: the graph's view (an internal person's
        # display name on another address) or, when the graph is immature and that is
        # unknown, the rules' near-exact match of an internal display name
        self.impersonation_col = self.names.index("sender_name_internal_other")
        self.name_similarity_col = self.names.index("sig_display_name_internal_similarity")

    def decide_one(self, m: Message, row: FeatureRow) -> Decision:
        """:meth:`decide` of one message through LightGBM's single-row fast path (the same
        numbers, without the batch's arrays)."""
        c = self.combiner
        values = row.values
        score = c.score_row(values)
        if score >= c.suspicious_threshold_:
            return self._decision(m, row, score, c.category_row(values), c.contributions_row(values))
        return self._decision(m, row, score, "safe", None)

    def decide(self, messages: Sequence[Message], rows: Sequence[FeatureRow]) -> list[Decision]:
        if not rows:
            return []
        if len(rows) == 1:
            return [self.decide_one(messages[0], rows[0])]
        # category and attributions only where they are read: messages that are not plainly safe
        c = self.combiner
        x = np.stack([r.values for r in rows])
        score = c.predict_proba(x)
        explain = np.flatnonzero(score >= c.suspicious_threshold_)
        category = np.full(len(rows), "safe", dtype=object)
        by_row: dict[int, np.ndarray] = {}
        if len(explain):
            category[explain] = c.predict_category(x[explain])
            contrib = c.contributions(x[explain])
            by_row = {int(i): contrib[j] for j, i in enumerate(explain)}
        return [self._decision(m, r, float(score[i]), str(category[i]), by_row.get(i))
                for i, (m, r) in enumerate(zip(messages, rows, strict=True))]

    def _decision(self, m: Message, r: FeatureRow, score: float, category: str,
                  contributions: np.ndarray | None) -> Decision:
        """The policy's verdict for one scored message, with its top attributions."""
        hard = self.hard
        values = r.values
        outcome = self.policy.decide(
            tenant=m.tenant,
            sender=m.from_,
            score=score,
            category=category,
            thresholds=self.combiner.thresholds_,
            suspicious_threshold=self.combiner.suspicious_threshold_,
            hard_hits=[(h, hard[h]) for h in r.hits if h in hard] if hard and r.hits else (),
            impersonates_internal=bool(
                values[self.impersonation_col] == 1.0 or values[self.name_similarity_col] >= 90.0
            ),
        )
        reasons = outcome.reasons
        attribution: tuple[tuple[str, float], ...] = ()
        if contributions is not None:
            attributions = top_attributions(contributions, values, self.names, self.reasons, self.top_k)
            reasons += tuple(a.reason for a in attributions)
            attribution = tuple((a.feature, a.contribution) for a in attributions)
        return Decision(message_id=m.message_id, tenant=m.tenant, verdict=outcome.verdict, category=outcome.category,
                        score=score, reasons=reasons, attribution=attribution, rule_hits=r.hits, degraded=False,
                        versions=self.versions)
