"""The hot-swappable holder of the current rule set: a bad reload keeps the last good one."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from graphdet.rules.context import EMPTY_CONTEXT, TenantContext
from graphdet.rules.errors import RuleError, RuleIssue, RuleSetError
from graphdet.rules.ruleset import RuleSet, load_rules
from graphdet.rules.signals import Signals, extract
from graphdet.schema import Message

__all__ = ["Evaluation", "RuleEngine"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Signals of one message and the ids of the rules that fired on it."""

    signals: Signals
    hits: tuple[str, ...]


class RuleEngine:
    """Holds the current :class:`RuleSet`; ``reload`` swaps it in only when it loads cleanly.

    ``__init__`` only stores the folder; :meth:`load` (or :meth:`reload`) reads it. Using
    the engine before any successful load raises :class:`RuleError`.
    """

    def __init__(self, *, folder: str | Path | None = None) -> None:
        self.folder = folder

    def _folder(self, path: str | Path | None) -> Path:
        if path is not None:
            return Path(path)
        if self.folder is not None:
            return Path(self.folder)
        from graphdet.rules.signals import DEFAULT_RULES_DIR

        return DEFAULT_RULES_DIR

    def load(self, path: str | Path | None = None) -> RuleEngine:
        """Load the rules (the first time); raises :class:`RuleSetError` listing every problem."""
        self.ruleset_ = load_rules(self._folder(path))
        return self

    def reload(self, path: str | Path | None = None) -> list[RuleIssue]:
        """Try to load ``path`` (default: the engine's folder); swap only if it is clean.

        Returns the problems found (empty on success). On failure the last good rule set stays
        in service and the reasons are logged.
        """
        folder = self._folder(path)
        try:
            new = load_rules(folder)
        except RuleSetError as e:
            kept = getattr(self, "ruleset_", None)
            logger.error(
                "rules reload from %s failed, keeping %s: %s", folder,
                f"the last good set ({len(kept)} rules from {kept.source})" if kept else "no rules (none loaded yet)",
                "; ".join(str(i) for i in e.issues),
            )
            return list(e.issues)
        self.ruleset_ = new
        logger.info("rules reloaded from %s: %d rules", folder, len(new))
        return []

    @property
    def ruleset(self) -> RuleSet:
        rs: RuleSet | None = getattr(self, "ruleset_", None)
        if rs is None:
            raise RuleError("RuleEngine has no rules loaded yet: call load() or reload() first")
        return rs

    def evaluate(self, message: Message, ctx: TenantContext = EMPTY_CONTEXT) -> Evaluation:
        """Extract the signals of ``message`` and evaluate the current rules on them."""
        rs = self.ruleset  # one read: a concurrent reload cannot mix two sets
        signals = extract(message, ctx, rs.lexicon)
        return Evaluation(signals, tuple(rs.evaluate(signals)))
