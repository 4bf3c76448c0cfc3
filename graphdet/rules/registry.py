"""The signal registry: every message signal is a named, described, typed function.

Register with the :func:`signal` decorator; names resolve through :func:`resolve_signal`,
whose error lists the valid choices. Extraction runs every registered function, in
registration order, over one :class:`~graphdet.rules.view.MessageView`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from graphdet.rules.view import MessageView

__all__ = ["REGISTRY", "SignalKind", "SignalSpec", "SignalValue", "resolve_signal", "signal"]

SignalValue = bool | int | float
SignalKind = Literal["bool", "int", "float"]
_KINDS: dict[type, SignalKind] = {bool: "bool", int: "int", float: "float"}


@dataclass(frozen=True, slots=True)
class SignalSpec:
    """One signal: its name, one-line description, value kind, and extractor."""

    name: str
    description: str
    kind: SignalKind
    fn: Callable[[MessageView], SignalValue] | None = None  # None: filled from data (phrase counts)


REGISTRY: dict[str, SignalSpec] = {}


def signal(
    name: str, description: str, kind: type = bool
) -> Callable[[Callable[[MessageView], SignalValue]], Callable[[MessageView], SignalValue]]:
    """Register ``fn(view) -> value`` as the signal ``name``."""
    if kind not in _KINDS:
        raise ValueError(f"signal {name!r}: kind must be bool, int or float, not {kind!r}")

    def register(fn: Callable[[MessageView], SignalValue]) -> Callable[[MessageView], SignalValue]:
        if name in REGISTRY:
            raise ValueError(f"signal {name!r} is registered twice")
        REGISTRY[name] = SignalSpec(name, description, _KINDS[kind], fn)
        return fn

    return register


def resolve_signal(name: str, extra: dict[str, SignalSpec] | None = None) -> SignalSpec:
    """The spec of ``name`` (``extra`` adds data-defined signals); KeyError lists the choices."""
    spec = REGISTRY.get(name) or (extra or {}).get(name)
    if spec is None:
        choices = sorted([*REGISTRY, *(extra or {})])
        raise KeyError(f"could not resolve signal {name!r} among choices {{{', '.join(choices)}}}")
    return spec
