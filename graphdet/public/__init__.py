"""Evaluation on public corpora: a real tenant with real attacks and ham injected.

:func:`evaluate_public` runs everything (``graphdet evaluate-public``); the pieces are
:mod:`.corpora` (finding, de-duplicating and splitting the corpora), :mod:`.inject`
(neutralisation and injection, identical for attacks and ham), :mod:`.tenant` (the real
tenant and its time split), :mod:`.cases` (targeted cases from the tenant's people),
:mod:`.models` (the synthetic-only and the with-real-data models), :mod:`.enron` and
:mod:`.report`.
"""

from graphdet.public.evaluate import MODELS, PublicEvalConfig, evaluate_public, skip_reason

__all__ = ["MODELS", "PublicEvalConfig", "evaluate_public", "skip_reason"]
