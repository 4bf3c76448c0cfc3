"""Train the combiner end to end: `python training/train_combiner.py --log DIR --out ARTIFACTS [--cut DATE]`.

A thin wrapper over `graphdet train` (rebuild on history, point-in-time replay, LightGBM,
calibration, thresholds, evaluation and ablation, artifacts + report).
"""

from __future__ import annotations

import sys

from graphdet.cli import app

if __name__ == "__main__":
    sys.exit(app(["train", *sys.argv[1:]], standalone_mode=True))
