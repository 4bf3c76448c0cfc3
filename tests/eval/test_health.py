"""Detector health: hand-made fire rates, and a rule broken in a live stream flagged on its first day."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import yaml
from typer.testing import CliRunner

from graphdet.cli import app
from graphdet.eval import (
    HealthConfig,
    detector_health,
    detector_matrix,
    evaluation_set,
    fire_rates,
    plot_health,
    stream_after,
)
from serving import DecisionEngine, ServingConfig
from serving.chronicle import read_decisions
from tests.eval.helpers import Served


def rates(series: dict[str, list[tuple[int, int, int]]], family: str = "rule") -> pd.DataFrame:
    """detector -> [(messages, fires, attack_fires) per day] for one tenant."""
    rows = []
    for detector, days in series.items():
        for d, (n, k, a) in enumerate(days):
            rows.append({"tenant": "t", "day": f"2026-03-{d + 1:02d}", "detector": detector, "family": family,
                         "messages": n, "fires": k, "attack_fires": a})
    return pd.DataFrame(rows)


def verdicts(h: pd.DataFrame, detector: str) -> list[str]:
    return h[h["detector"] == detector].sort_values("day")["verdict"].tolist()


def test_spikes_drops_and_what_labels_explain(tmp_path: Path) -> None:
    steady = [(1000, 10, 0)] * 8
    h = detector_health(rates({
        "BROKEN": [*steady, (1000, 1000, 10), (1000, 10, 0)],  # fires on everything on day 9
        "CAMPAIGN": [*steady, (1000, 80, 75), (1000, 10, 0)],  # a burst of real attacks
        "NOISY": [*steady, (1000, 16, 0), (1000, 10, 0)],  # within noise
        "SILENT": [(1000, 100, 0)] * 8 + [(1000, 0, 0), (1000, 0, 0)],  # went silent
        "LULL": [(1000, 30, 30)] * 8 + [(1000, 0, 0), (1000, 0, 0)],  # the campaigns paused
        "WEEKEND": [(1000, 100, 0)] * 8 + [(60, 0, 0), (1000, 100, 0)],  # a quiet day is not judged for drops
    }), labels_known=True)
    assert verdicts(h, "BROKEN")[8:] == ["suspected bad detector", ""]
    assert set(verdicts(h, "BROKEN")[:8]) == {""}
    assert verdicts(h, "CAMPAIGN")[8] == "attack burst"
    assert set(verdicts(h, "NOISY")) == {""}
    assert verdicts(h, "SILENT")[8:] == ["suspected bad detector"] * 2
    assert verdicts(h, "LULL")[8] == "attack lull"
    assert set(verdicts(h, "WEEKEND")) == {""}
    unlabelled = detector_health(rates({"CAMPAIGN": [*steady, (1000, 80, 75)]}), labels_known=False)
    assert verdicts(unlabelled, "CAMPAIGN")[8] == "suspected bad detector"
    first_day = detector_health(rates({"R": [(400, 390, 0)], "S": [(400, 390, 0)]}).assign(
        family=["rule", "signal"]), HealthConfig())
    assert first_day.set_index("detector")["status"].to_dict() == {"R": "ceiling", "S": "no baseline"}
    assert plot_health(h, tmp_path / "h.png").stat().st_size > 10_000


def test_a_rule_broken_mid_stream_is_flagged_on_its_first_day(served: Served, tmp_path: Path) -> None:
    art = tmp_path / "art"
    shutil.copytree(served.artifacts, art, symlinks=True)
    stream = stream_after(served.log, served.cut)
    start = stream[0].received_at
    broken_day = datetime(start.year, start.month, start.day, tzinfo=start.tzinfo) + timedelta(days=9)
    before = [m for m in stream if m.received_at < broken_day]
    after = [m for m in stream if broken_day <= m.received_at < broken_day + timedelta(days=1)]
    rules = yaml.safe_load((art / "rules" / "spam.yaml").read_text())
    broken = rules["rules"][0]["id"]
    with DecisionEngine.load(art, config=ServingConfig(chronicle=tmp_path / "chron")) as engine:
        for s in range(0, len(before), 512):
            engine.decide_batch(before[s : s + 512])
        rules["rules"][0]["condition"] = {"signal": "body_length", "op": ">=", "value": 0}  # fires on everything
        (art / "rules" / "spam.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
        assert engine.reload()
        engine.decide_batch(after)
    decisions = read_decisions(tmp_path / "chron")
    es = evaluation_set(decisions, served.labels())
    h = detector_health(fire_rates(es, detector_matrix(es)), labels_known=True)
    suspects = h[h["verdict"] == "suspected bad detector"]
    day = f"{broken_day:%Y-%m-%d}"
    assert set(suspects[suspects["day"] == day]["detector"]) == {broken}
    assert broken not in set(suspects[suspects["day"] < day]["detector"])  # not before it broke
    result = CliRunner().invoke(app, ["health", "--chronicle", str(tmp_path / "chron"), "--log", str(served.log),
                                      "--out", str(tmp_path / "h"), "--fail-on-alert"])
    assert result.exit_code == 4, result.output
    assert f"suspected bad detector: {broken} in " in result.output and (tmp_path / "h" / "health.png").exists()
