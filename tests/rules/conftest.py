"""Fixtures of the rules tests: the golden tenant, its context, the shipped rule set, a rules-folder copier."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from graphdet.ingest import parse_message
from graphdet.rules import DEFAULT_RULES_DIR, RuleSet, StaticContext, load_rules, load_static_context
from graphdet.schema import Message
from graphdet.tenants import TenantConfig, TenantSpec

GOLDEN = Path(__file__).resolve().parents[1] / "files" / "rules"
ACME = TenantConfig((TenantSpec("acme", ("acme.com",), ("jane.doe@acme.com", "robert.chen@acme.com")),))


def golden_message(name: str) -> Message:
    return parse_message((GOLDEN / name).read_bytes(), ACME)[0]


@pytest.fixture(scope="session")
def ruleset() -> RuleSet:
    return load_rules(DEFAULT_RULES_DIR)


@pytest.fixture(scope="session")
def acme_ctx() -> StaticContext:
    return load_static_context(GOLDEN / "tenant.yaml")


@pytest.fixture
def rules_copy(tmp_path: Path) -> Callable[..., Path]:
    """``rules_copy({"extra.yaml": text})``: a copy of the shipped folder plus/over the given files."""

    def make(files: dict[str, str] | None = None, *, keep_rules: bool = True) -> Path:
        folder = tmp_path / "rules"
        shutil.copytree(DEFAULT_RULES_DIR, folder, dirs_exist_ok=True)
        if not keep_rules:
            for p in folder.glob("*.yaml"):
                if p.name not in ("phrases.yaml", "lists.yaml"):
                    p.unlink()
        for name, text in (files or {}).items():
            (folder / name).write_text(text, encoding="utf-8")
        return folder

    return make
