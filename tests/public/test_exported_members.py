"""The public API of graphdet.public's modules is exactly each module's __all__."""

import importlib

import pytest

MODULES = ["graphdet.public", "graphdet.public.cases", "graphdet.public.corpora", "graphdet.public.enron",
           "graphdet.public.evaluate", "graphdet.public.inject", "graphdet.public.models",
           "graphdet.public.report", "graphdet.public.tenant"]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist_and_public_names_are_exported(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(module.__all__)
    assert all(hasattr(module, n) for n in exported), f"{name}.__all__ lists missing names"
    public_defined = {n for n, v in vars(module).items()
                      if not n.startswith("_") and getattr(v, "__module__", None) == name}
    assert public_defined <= exported, f"{name} defines public names not in __all__: {public_defined - exported}"


def test_graphdet_public_never_imports_serving() -> None:
    """Arrows point down: the evaluation gets its engine from the caller (the CLI)."""
    import ast
    from pathlib import Path

    import graphdet.public

    for path in Path(graphdet.public.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n == "serving" or n.startswith(("serving.", "training")) for n in names), path
