"""Online state (snapshot + live deltas) and the feature vectors built from it."""

from graphdet.features.build import FeatureBuilder, FeatureRow, replay
from graphdet.features.schema import BEHAVIOUR_FEATURES, FEATURE_FAMILIES, FeatureSchema
from graphdet.features.state import OnlineState, TenantState

__all__ = [
    "BEHAVIOUR_FEATURES",
    "FEATURE_FAMILIES",
    "FeatureBuilder",
    "FeatureRow",
    "FeatureSchema",
    "OnlineState",
    "TenantState",
    "replay",
]
