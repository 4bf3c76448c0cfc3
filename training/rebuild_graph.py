"""Periodic graph rebuild job (for a scheduler): `python training/rebuild_graph.py --log DIR --out DIR`.

A thin wrapper over `graphdet rebuild`, with the same options and exit codes:
0 published or already up to date, 1 failed, 2 bad usage, 3 nothing to build.
"""

from __future__ import annotations

import sys

from graphdet.cli import app

if __name__ == "__main__":
    sys.exit(app(["rebuild", *sys.argv[1:]], standalone_mode=True))
