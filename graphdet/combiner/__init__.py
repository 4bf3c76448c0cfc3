"""The gradient-boosted combiner: calibrated attack score, category, thresholds, attribution."""

from graphdet.combiner.decide import Decider
from graphdet.combiner.explain import Attribution, ReasonBook, top_attributions
from graphdet.combiner.metrics import detection_table, reweighted_precision, wilson
from graphdet.combiner.model import Combiner, NotFittedError

__all__ = [
    "Attribution",
    "Combiner",
    "Decider",
    "NotFittedError",
    "ReasonBook",
    "detection_table",
    "reweighted_precision",
    "top_attributions",
    "wilson",
]
