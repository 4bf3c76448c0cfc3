"""Train the shared GraphSAGE link model on a published snapshot and save it (no pickle).

    python training/train_gnn.py --snapshot SNAPSHOT_ROOT --out MODEL_DIR [--epochs N] [--seed S]

MODEL_DIR receives model.pt (state_dict, loaded with weights_only=True) and model.json
(architecture, feature standardisation, validation metrics). `graphdet rebuild --gnn-model
MODEL_DIR` then embeds any tenant with it without training (onboarding a new tenant).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from graphdet.exceptions import GraphdetError
from graphdet.gnn.artifacts import model_files
from graphdet.gnn.job import train_from_snapshot
from graphdet.gnn.model import GNNConfig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--snapshot", type=Path, required=True, help="snapshot root (or one version folder)")
    ap.add_argument("--out", type=Path, required=True, help="folder for model.pt + model.json")
    ap.add_argument("--epochs", type=int, default=GNNConfig().epochs)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        trained = train_from_snapshot(args.snapshot, GNNConfig(epochs=args.epochs, seed=args.seed))
    except GraphdetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in model_files(trained).items():
        (args.out / name).write_bytes(data)
    print(json.dumps(trained.metrics, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
