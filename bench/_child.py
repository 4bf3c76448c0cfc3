"""Child Pythons for the benches: they import the bench's own checkout.

A bench that runs ``python -c CODE`` gets the current folder first on the child's ``sys.path``,
so a bench script of another checkout (an A/B against a worktree) run from this folder measured
this folder's code. ``-P`` leaves the folder off, and the checkout the script lives in goes first
on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["child_argv", "child_env"]

_REPO = str(Path(__file__).resolve().parent.parent)


def child_argv(code: str, *args: str) -> list[str]:
    """The command line of a child Python running ``code`` with ``args``."""
    return [sys.executable, "-P", "-c", code, *args]


def child_env() -> dict[str, str]:
    """This environment, with the bench's checkout first on ``PYTHONPATH``."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (_REPO, os.environ.get("PYTHONPATH")) if p))
