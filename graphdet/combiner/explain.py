"""Exact attributions (tree SHAP) turned into human-readable reasons."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from graphdet.exceptions import ConfigError
from graphdet.features.schema import FeatureSchema

__all__ = ["Attribution", "ReasonBook", "top_attributions"]


@dataclass(frozen=True, slots=True)
class Attribution:
    feature: str
    value: float  # the feature's value for the message (NaN: unknown)
    contribution: float  # its exact share of the margin (log-odds)
    reason: str


class ReasonBook:
    """Feature -> reason text, from ``configs/reasons.yaml`` and rule descriptions."""

    def __init__(self, texts: dict[str, str], rule_descriptions: dict[str, str], schema: FeatureSchema) -> None:
        self.texts = texts
        self.rules = rule_descriptions
        self.schema = schema

    @classmethod
    def load(cls, path: str | Path, rule_descriptions: dict[str, str], schema: FeatureSchema) -> ReasonBook:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"reasons file {path}: {e}") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ConfigError(f"reasons file {path}: expected a mapping of feature name -> text")
        unknown = set(data) - set(schema.names)
        if unknown:
            raise ConfigError(f"reasons file {path}: unknown features {sorted(unknown)}")
        return cls(dict(data), rule_descriptions, schema)

    def text(self, feature: str, value: float) -> str:
        if feature.startswith("rule_") and feature[5:] in self.rules:
            return f"rule {feature[5:]}: {self.rules[feature[5:]]}"
        template = self.texts.get(feature)
        if template is not None:
            try:
                return template.format(value=value)
            except (ValueError, IndexError, KeyError):
                return template
        return f"{self.schema.describe(feature)} = {value:g}"


def top_attributions(
    contributions: np.ndarray, values: np.ndarray, names: tuple[str, ...], book: ReasonBook, k: int = 5
) -> list[Attribution]:
    """The ``k`` features that pushed hardest toward "attack" (positive contributions)."""
    contrib = contributions[: len(names)]
    order = np.argsort(-contrib, kind="mergesort")[:k]
    return [
        Attribution(names[i], float(values[i]), float(contrib[i]), book.text(names[i], float(values[i])))
        for i in order
        if contrib[i] > 0
    ]
