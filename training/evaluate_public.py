"""Public-corpus evaluation: `python training/evaluate_public.py --data ../shared/data --out DIR`.

A thin wrapper over `graphdet evaluate-public` (a real tenant of the linux-s390 year with real
phishing, spam and ham injected, the synthetic-only and the with-real-data models, Enron
executive impersonation and GNN time split; per-label tables in DIR/report.md).
"""

from __future__ import annotations

import sys

from graphdet.cli import app

if __name__ == "__main__":
    sys.exit(app(["evaluate-public", *sys.argv[1:]], standalone_mode=True))
