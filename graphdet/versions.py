"""The versions a decision records: one place, so serving and evaluation name artifacts alike.

A version is a short content hash of the files behind it, so two decisions with the same
versions were made by the same bytes: the snapshot (its folder name), the model (both boosters,
the thresholds and calibration in ``combiner.json``, the cold-start cut in ``features.json``),
the rules, the feature schema, the policy and the reason texts.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from graphdet.graph.snapshot import sha256_file

__all__ = ["MODEL_FILES", "artifact_versions", "content_version"]

MODEL_FILES = ("binary.txt", "category.txt", "combiner.json", "features.json")
"""What a model version covers: a model is all of these, published together."""


def content_version(prefix: str, paths: list[Path]) -> str:
    """``prefix`` + 12 hex digits of the SHA-256 over the names and contents of the files that exist among ``paths``."""
    h = hashlib.sha256()
    for p in paths:
        if p.is_file():
            h.update(p.name.encode() + b"\0" + sha256_file(p).encode())
    return prefix + h.hexdigest()[:12]


def artifact_versions(root: Path, *, snapshot: str, model_loaded: bool, rules: str,
                      features: str) -> tuple[tuple[str, str], ...]:
    """The versions of a decision made from the artifacts folder ``root`` (``snapshot``: the
    loaded snapshot's version, "" if none; ``model_loaded``: false when the rules decide alone)."""
    policy = root / "policy"
    return (
        ("snapshot", snapshot or "none"),
        ("model", content_version("m-", [root / "model" / n for n in MODEL_FILES]) if model_loaded else "none"),
        ("rules", rules),
        ("features", features),
        ("policy", content_version("p-", sorted(policy.glob("*.yaml"))) if policy.is_dir() else "default"),
        ("reasons", content_version("r-", [root / "reasons.yaml"]) if (root / "reasons.yaml").is_file() else "default"),
    )
