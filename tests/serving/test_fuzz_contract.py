"""The fuzzer of bench/fuzz_decide_raw.py, seeded and bounded: its pathological messages and a
few hundred mutations of real-looking mail keep the decide_raw contract (a well-formed, JSON-able
decision for any bytes, one chronicle row per decision). Timing is the bench's business, not
this test's."""

from __future__ import annotations

import importlib.util
import logging
import random
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

from graphdet.messagelog import read_messages
from graphdet.synth import render_message
from serving import DecisionEngine, ServingConfig
from serving.chronicle import read_decisions

if TYPE_CHECKING:  # tests/serving has no __init__.py: conftest is not importable at run time
    from tests.serving.conftest import Trained

_BENCH = Path(__file__).resolve().parents[2] / "bench" / "fuzz_decide_raw.py"


@pytest.fixture(scope="module")
def fuzz() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_decide_raw", _BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_pathological_and_mutated_mail_keep_the_contract(fuzz: ModuleType, trained: Trained, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL)
    seeds = [render_message(row).as_bytes() for row in read_messages(trained.log).slice(0, 60).to_pylist()]
    engine = DecisionEngine.load(trained.artifacts, config=ServingConfig(chronicle=tmp_path / "chronicle"))
    decisions = 0
    cases = list(fuzz.pathological())
    assert len(cases) >= 20
    rng = random.Random(7)
    inputs = cases + [(f"mutation {i}", fuzz.mutate(rng.choice(seeds), seeds, rng)) for i in range(300)]
    for name, raw in inputs:
        problem, _, n = fuzz.check(engine, raw)
        assert problem is None, (name, problem)
        decisions += n
    engine.close()
    assert decisions >= len(inputs)
    assert read_decisions(tmp_path / "chronicle").num_rows == decisions


def test_check_reports_an_exception_and_an_empty_answer(fuzz: ModuleType) -> None:
    class Raising:
        def decide_raw(self, raw: bytes) -> list[object]:
            raise RecursionError("too deep")

    class Empty:
        def decide_raw(self, raw: bytes) -> list[object]:
            return []

    problem, _, n = fuzz.check(Raising(), b"x")
    assert problem is not None and problem.startswith("raised RecursionError: too deep (at ") and n == 0
    assert problem.endswith(f"{__file__}:{Raising.decide_raw.__code__.co_firstlineno + 1} in decide_raw)")
    assert fuzz.check(Empty(), b"x")[0] == "returned list of 0"
