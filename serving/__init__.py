"""What a decision service imports: ``from serving import DecisionEngine``.

Imports are lazy (PEP 562) so that ``serving.chronicle`` alone does not load torch and the
whole decision stack.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DecisionEngine", "ServingConfig"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from serving import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'serving' has no attribute {name!r}")
