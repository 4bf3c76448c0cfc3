"""The public API is exactly each module's __all__ (httpx's test_exported_members)."""

import importlib

import pytest

MODULES = [
    "graphdet",
    "graphdet.schema",
    "graphdet.exceptions",
    "graphdet.messagelog",
    "graphdet.tenants",
    "graphdet.ingest",
    "graphdet.synth",
    "graphdet.graph",
    "graphdet.gnn",
    "graphdet.rules",
    "graphdet.features",
    "graphdet.combiner",
    "graphdet.policy",
    "serving.engine",
    "serving.chronicle",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist_and_public_names_are_exported(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(module.__all__)
    assert all(hasattr(module, n) for n in exported), f"{name}.__all__ lists missing names"
    public_defined = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and getattr(v, "__module__", None) == name
    }
    assert public_defined <= exported, f"{name} defines public names not in __all__: {public_defined - exported}"


def test_exception_hierarchy_is_rooted_in_graphdet_error() -> None:
    from graphdet import exceptions

    for n in exceptions.__all__:
        assert issubclass(getattr(exceptions, n), exceptions.GraphdetError)
