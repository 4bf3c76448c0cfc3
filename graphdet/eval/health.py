"""Detector health: each rule's and signal's daily fire rate per tenant against its own past.

For every (tenant, detector, day) with traffic: ``k`` fires in ``n`` messages. The baseline
``p0`` is the median of the detector's daily rates in that tenant over the previous
``baseline_days`` days with traffic (a median, so one campaign day does not raise it), at
least ``0.5 / (N + 1)`` with ``N`` the baseline's messages (a detector that never fired keeps
a small, non-zero baseline). With ``[lo, hi]`` the 95% Wilson interval of ``k / n``:

- **spike**: ``k >= min_fires`` and ``lo > max(spike_factor * p0, p0 + min_increase)``. A rule
  that starts firing on everything has ``lo`` near 1 on its first day, so it is flagged on
  the first day of traffic it sees (the day is judged on its own traffic, not a moving average).
- **ceiling** (rules only): ``k >= min_fires`` and ``lo > rule_ceiling``, with or without a
  baseline: a rule is an attack detector, and one that fires on a quarter of all mail is broken
  even on the first day a chronicle has.
- **drop**: at least ``min_expected`` fires were expected (``n * p0``), ``hi < p0 / spike_factor``,
  and the day carried at least ``min_volume_share`` of the baseline's median daily volume (a
  quiet weekend carries other mail than a weekday): a detector that went (almost) silent.

Days with fewer than ``min_baseline_days`` days of baseline are not judged. When labels are
known, a spike whose fires are mostly attacks is an ``attack burst`` (a campaign makes a rule
fire more, legitimately) and a drop of a detector whose baseline fires were mostly attacks an
``attack lull`` (the campaigns paused); every other flag is a ``suspected bad detector``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from graphdet.combiner.metrics import wilson
from graphdet.eval.data import EvalSet
from graphdet.eval.metrics import DetectorMatrix

__all__ = ["HealthConfig", "detector_health", "fire_rates", "plot_health"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthConfig:
    baseline_days: int = 7
    min_baseline_days: int = 3
    spike_factor: float = 3.0
    min_increase: float = 0.02
    min_fires: int = 5
    min_expected: float = 10.0
    rule_ceiling: float = 0.25
    min_volume_share: float = 0.5


def fire_rates(es: EvalSet, dm: DetectorMatrix) -> pd.DataFrame:
    """Long table: tenant, day, detector, family, messages, fires, attack_fires."""
    frame = es.frame
    attack = es.attack
    parts = []
    for (tenant, day), idx in frame.groupby(["tenant", "day"], sort=True).indices.items():
        fired = dm.fired[idx] & dm.observed[idx]
        parts.append(pd.DataFrame({
            "tenant": tenant, "day": day, "detector": dm.names, "family": dm.family,
            "messages": dm.observed[idx].sum(axis=0), "fires": fired.sum(axis=0),
            "attack_fires": fired[attack[idx]].sum(axis=0),
        }))
    columns = ["tenant", "day", "detector", "family", "messages", "fires", "attack_fires"]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def detector_health(rates: pd.DataFrame, config: HealthConfig | None = None, *,
                    labels_known: bool = False) -> pd.DataFrame:
    """``rates`` with baseline_rate, baseline_days, rate, low, high, status ('ok' / 'spike' /
    'ceiling' / 'drop' / 'no baseline') and verdict ('' or why it is flagged)."""
    cfg = config or HealthConfig()
    out = []
    for (_, _), g in rates[rates["messages"] > 0].groupby(["tenant", "detector"], sort=True):
        g = g.sort_values("day").reset_index(drop=True)
        k = g["fires"].to_numpy(dtype=np.int64)
        n = g["messages"].to_numpy(dtype=np.int64)
        rate = k / n
        p0 = np.full(len(g), np.nan)
        volume = np.zeros(len(g))
        attack_share = np.zeros(len(g))
        days = np.zeros(len(g), dtype=np.int64)
        a = g["attack_fires"].to_numpy(dtype=np.int64)
        for i in range(len(g)):
            lo = max(0, i - cfg.baseline_days)
            days[i] = i - lo
            if i > lo:
                p0[i] = max(float(np.median(rate[lo:i])), 0.5 / (float(n[lo:i].sum()) + 1.0))
                volume[i] = float(np.median(n[lo:i]))
                attack_share[i] = a[lo:i].sum() / max(1, k[lo:i].sum())
        ci = np.array([wilson(int(a), int(b)) for a, b in zip(k, n, strict=True)])
        g = g.assign(rate=rate, low=ci[:, 0], high=ci[:, 1], baseline_rate=p0, baseline_days=days)
        judged = (days >= cfg.min_baseline_days) & ~np.isnan(p0)
        p0 = np.nan_to_num(p0, nan=1.0)
        spike = judged & (k >= cfg.min_fires) & (g["low"] > np.maximum(cfg.spike_factor * p0, p0 + cfg.min_increase))
        drop = (judged & (n * p0 >= cfg.min_expected) & (g["high"] < p0 / cfg.spike_factor)
                & (n >= cfg.min_volume_share * volume))
        ceiling = (g["family"] == "rule") & (k >= cfg.min_fires) & (g["low"] > cfg.rule_ceiling)
        spike |= ceiling
        g["status"] = np.where(ceiling & ~judged, "ceiling", np.where(spike, "spike", np.where(
            drop, "drop", np.where(judged, "ok", "no baseline"))))
        burst = spike & labels_known & (a >= 0.5 * k)
        lull = drop & labels_known & (attack_share >= 0.5)
        g["verdict"] = np.where(burst, "attack burst", np.where(lull, "attack lull", np.where(
            spike | drop, "suspected bad detector", "")))
        out.append(g)
    if not out:
        return rates.assign(rate=[], low=[], high=[], baseline_rate=[], baseline_days=[], status=[], verdict=[])
    result = pd.concat(out, ignore_index=True)
    flagged = result[result["verdict"] == "suspected bad detector"]
    if len(flagged):
        logger.info("detector health: %d suspected bad detector-days", len(flagged))
    return result


def plot_health(health: pd.DataFrame, path: str | Path, *, max_panels: int = 8) -> Path:
    """Daily fire rate vs trailing baseline for the flagged (tenant, detector) series (else the
    busiest rules), flagged days marked; one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    flagged = health[health["verdict"] != ""]
    if len(flagged):
        order = (flagged.assign(weight=(flagged["verdict"] == "suspected bad detector").astype(int))
                 .sort_values(["weight", "rate"], ascending=False))
        series = list(dict.fromkeys(zip(order["tenant"], order["detector"], strict=True)))[:max_panels]
        title = "detector health: flagged fire rates"
    else:
        busy = (health[health["family"] == "rule"].groupby(["tenant", "detector"])["fires"].sum()
                .sort_values(ascending=False))
        series = list(busy.index[: min(4, max_panels)])
        title = "detector health: no detector flagged (busiest rules shown)"
    cols = 2 if len(series) > 1 else 1
    rows = max(1, (len(series) + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 2.6 * rows), squeeze=False)
    for ax, (tenant, detector) in zip(axes.flat, series, strict=False):
        g = health[(health["tenant"] == tenant) & (health["detector"] == detector)].sort_values("day")
        days = pd.to_datetime(g["day"])
        ax.plot(days, g["rate"], marker="o", ms=3, lw=1.2, label="fire rate")
        ax.fill_between(days, g["low"], g["high"], alpha=0.15)
        ax.plot(days, g["baseline_rate"], ls="--", lw=1, color="grey", label="trailing baseline")
        for verdict, colour in (("suspected bad detector", "red"), ("attack burst", "orange"),
                                ("attack lull", "skyblue")):
            hit = g[g["verdict"] == verdict]
            if len(hit):
                ax.scatter(pd.to_datetime(hit["day"]), hit["rate"], color=colour, zorder=3, s=28, label=verdict)
        suspect = (g["verdict"] == "suspected bad detector").any()
        ax.set_title(f"{tenant} · {detector}" + (" (suspected bad detector)" if suspect else ""), fontsize=9,
                     color="red" if suspect else "black")
        ax.legend(fontsize=6, loc="upper left")
        ax.set_ylim(-0.02, min(1.02, max(0.05, float(g["high"].max()) * 1.15)))
        ax.tick_params(labelsize=7)
        ax.tick_params(axis="x", rotation=30)
    for ax in list(axes.flat)[len(series):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
