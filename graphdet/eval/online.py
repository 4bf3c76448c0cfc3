"""Online precision and FNR: the decision chronicle joined with late-arriving feedback.

Feedback table (Parquet, CSV or JSON lines), one row per label someone gave::

    message_id   the decided message
    tenant       optional ("" or missing: every tenant the message reached)
    label        'safe' or an attack category (graphdet.schema.Category)
    source       'analyst' (an analyst's verdict), 'user_report' (a user pressed "report"), or
                 any other text (ranked below both)
    reported_at  when the label arrived (ISO 8601 with a zone, or a UTC timestamp)

**How late labels are counted.** A label counts for a decision when it arrived within
``maturity_days`` (default 7) of the message and no later than ``as_of`` (default: the newest
decision in the chronicle, i.e. "now"). Among the labels that count, an analyst's verdict wins
over a user report, and a later one over an earlier one of the same source. Labels that
arrived after the maturity window are *late*: listed, never counted, so a day's figures stop
changing once its window closes. A day whose window has not closed by ``as_of`` is
*provisional*: more labels may still arrive.

**Online precision** = flagged (MALICIOUS) decisions whose counted label is an attack /
flagged decisions with a counted label. **Online FNR** = not-flagged decisions whose counted
label is an attack / decisions whose counted label is an attack. Users report only part of
what they miss, so online FNR is biased low against the offline FNR on fully labelled data.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from graphdet.combiner.metrics import wilson
from graphdet.eval.data import EvalError, EvalSet
from graphdet.schema import Category

__all__ = ["FEEDBACK_SCHEMA", "OnlineConfig", "online_metrics", "read_feedback", "simulate_feedback",
           "validate_feedback"]

FEEDBACK_SCHEMA = pa.schema([
    pa.field("message_id", pa.string(), nullable=False),
    pa.field("tenant", pa.string()),
    pa.field("label", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("reported_at", pa.timestamp("us", tz="UTC"), nullable=False),
])
_LABELS = tuple(c.value for c in Category)


@dataclass(frozen=True)
class OnlineConfig:
    maturity_days: float = 7.0
    as_of: datetime | None = None


def _read_raw(path: Path) -> pa.Table:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pq.read_table(path)
        if suffix == ".csv":
            return pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(
                column_types={"message_id": pa.string(), "tenant": pa.string(), "label": pa.string(),
                              "source": pa.string(), "reported_at": pa.string()}))
        if suffix in (".jsonl", ".json", ".ndjson"):
            rows = []
            for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if line.strip():
                    try:
                        row = json.loads(line)
                    except ValueError as e:
                        raise EvalError(f"feedback file {path}:{lineno}: not JSON ({e})") from None
                    if not isinstance(row, dict):
                        raise EvalError(f"feedback file {path}:{lineno}: expected an object, got {row!r}")
                    rows.append(row)
            return pa.Table.from_pylist(rows) if rows else FEEDBACK_SCHEMA.empty_table()
    except (OSError, pa.ArrowException) as e:
        raise EvalError(f"cannot read feedback file {path}: {e}") from None
    raise EvalError(f"feedback file {path}: unknown format {suffix!r} (use .parquet, .csv or .jsonl)")


def read_feedback(path: str | Path) -> pa.Table:
    """Read and validate a feedback table; errors name the file, the row and the value."""
    path = Path(path)
    if not path.is_file():
        raise EvalError(f"feedback file {path} does not exist")
    raw = _read_raw(path)
    missing = [c for c in ("message_id", "label", "source", "reported_at") if c not in raw.column_names]
    if missing:
        raise EvalError(f"feedback file {path}: missing columns {missing} (has {raw.column_names}); "
                        "needed: message_id, label, source, reported_at and optionally tenant")
    if "tenant" not in raw.column_names:
        raw = raw.append_column("tenant", pa.array([""] * raw.num_rows, pa.string()))
    return validate_feedback(raw, str(path))


def validate_feedback(raw: pa.Table, where: str = "feedback") -> pa.Table:
    """Coerce a feedback table to :data:`FEEDBACK_SCHEMA`, naming the first bad row (1-based)."""
    cols: dict[str, list[Any]] = {c: raw.column(c).to_pylist() for c in ("message_id", "tenant", "label",
                                                                          "source", "reported_at")}
    times = []
    for i in range(raw.num_rows):
        row = i + 1
        if not cols["message_id"][i]:
            raise EvalError(f"{where}: row {row}: empty message_id")
        if cols["label"][i] not in _LABELS:
            raise EvalError(f"{where}: row {row}: label {cols['label'][i]!r} is not one of {', '.join(_LABELS)}")
        t = cols["reported_at"][i]
        if isinstance(t, str):
            try:
                t = datetime.fromisoformat(t)
            except ValueError:
                raise EvalError(f"{where}: row {row}: reported_at {t!r} is not an ISO 8601 time") from None
        if not isinstance(t, datetime) or t.tzinfo is None:
            raise EvalError(f"{where}: row {row}: reported_at {t!r} needs a time zone (e.g. 2026-02-01T09:00:00Z)")
        times.append(t)
    return pa.table({
        "message_id": pa.array(cols["message_id"], pa.string()),
        "tenant": pa.array([t or "" for t in cols["tenant"]], pa.string()),
        "label": pa.array(cols["label"], pa.string()),
        "source": pa.array([str(s or "") for s in cols["source"]], pa.string()),
        "reported_at": pa.array(times, pa.timestamp("us", tz="UTC")),
    }, schema=FEEDBACK_SCHEMA)


_JOINED = """
WITH d AS (
    SELECT message_id, tenant, received_at, verdict = 'malicious' AS flagged,
           strftime(received_at, '%Y-%m-%d') AS day FROM decisions),
f AS (
    SELECT message_id, nullif(tenant, '') AS tenant, label, source, reported_at,
           CASE source WHEN 'analyst' THEN 2 WHEN 'user_report' THEN 1 ELSE 0 END AS rank FROM feedback),
j AS (
    SELECT d.message_id, d.tenant, d.received_at, f.label, f.rank, f.reported_at,
           f.reported_at <= d.received_at + $maturity AS timely,
           f.reported_at <= $as_of AS arrived
    FROM d JOIN f ON f.message_id = d.message_id AND (f.tenant IS NULL OR f.tenant = d.tenant)),
picked AS (
    SELECT *, row_number() OVER (PARTITION BY message_id, tenant ORDER BY rank DESC, reported_at DESC) AS k
    FROM j WHERE timely AND arrived),
late AS (SELECT message_id, tenant, count(*) AS late FROM j WHERE arrived AND NOT timely GROUP BY ALL)
SELECT d.*, p.label, d.received_at + $maturity > $as_of AS provisional, coalesce(l.late, 0) AS late
FROM d LEFT JOIN picked p ON p.message_id = d.message_id AND p.tenant = d.tenant AND p.k = 1
       LEFT JOIN late l ON l.message_id = d.message_id AND l.tenant = d.tenant
"""


def _summary(flagged: np.ndarray, label: np.ndarray) -> dict[str, Any]:
    labelled = label != ""
    attack = labelled & (label != "safe")
    tp = int((flagged & attack).sum())
    lf = int((flagged & labelled).sum())
    n_attack = int(attack.sum())
    fn = int((~flagged & attack).sum())
    return {
        "decisions": len(flagged), "flagged": int(flagged.sum()), "flagged_labelled": lf,
        "coverage": lf / int(flagged.sum()) if flagged.any() else math.nan,
        "precision": tp / lf if lf else math.nan, "precision_ci": wilson(tp, lf),
        "labelled_attacks": n_attack, "missed_reported": fn,
        "fnr": fn / n_attack if n_attack else math.nan, "fnr_ci": wilson(fn, n_attack),
    }


def online_metrics(decisions: pa.Table, feedback: pa.Table, config: OnlineConfig | None = None) -> dict[str, Any]:
    """Online precision and FNR overall and per day, with the counting rule of the module docstring."""
    cfg = config or OnlineConfig()
    as_of = cfg.as_of or (pc.max(decisions.column("received_at")).as_py() if decisions.num_rows else None)
    if as_of is None:
        return {"as_of": None, "maturity_days": cfg.maturity_days, "overall": _summary(np.zeros(0, bool),
                                                                                      np.zeros(0, str)), "per_day": {}}
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("decisions", decisions.select(["message_id", "tenant", "received_at", "verdict"]))
        con.register("feedback", feedback)
        table = con.sql(_JOINED, params={"maturity": timedelta(days=cfg.maturity_days), "as_of": as_of}
                        ).to_arrow_table()
    except duckdb.Error as e:
        raise EvalError(f"joining the chronicle with the feedback failed: {e}") from None
    finally:
        con.close()
    flagged = table.column("flagged").to_numpy(zero_copy_only=False).astype(bool)
    label = np.asarray([x or "" for x in table.column("label").to_pylist()], dtype=object)
    day = np.asarray(table.column("day").to_pylist(), dtype=object)
    provisional = table.column("provisional").to_numpy(zero_copy_only=False).astype(bool)
    per_day = {}
    for d in sorted(set(day.tolist())):
        mine = day == d
        per_day[d] = {**_summary(flagged[mine], label[mine]), "provisional": bool(provisional[mine].any())}
    return {
        "as_of": as_of.isoformat(), "maturity_days": cfg.maturity_days,
        "overall": _summary(flagged, label),
        "mature": _summary(flagged[~provisional], label[~provisional]),
        "late_labels": int(pc.sum(table.column("late")).as_py() or 0),
        "not_yet_arrived": int(feedback.filter(pc.greater(feedback.column("reported_at"),
                                                          pa.scalar(as_of, pa.timestamp("us", tz="UTC")))).num_rows),
        "per_day": per_day,
    }


def simulate_feedback(es: EvalSet, *, seed: int = 0, user_report_rate: float = 0.5,
                      false_report_rate: float = 0.001) -> pa.Table:
    """Synthetic feedback for a labelled :class:`EvalSet` (demo and tests only).

    Analysts review every MALICIOUS or SUSPICIOUS decision about half a day later (exponential
    delay). Users report ``user_report_rate`` of the attacks decided SAFE (they reached the inbox)
    after a log-normal delay (median 1.5 days, a long tail past the maturity window), and
    ``false_report_rate`` of the safe mail they got as spam; an analyst then rules on every
    user report a day or so later. Labels are the truth of the EvalSet, except the user's
    false reports.
    """
    rng = np.random.default_rng(seed)
    f = es.frame
    n = len(f)
    verdict, truth = f["verdict"].to_numpy(), f["truth"].to_numpy()
    received = pd.to_datetime(f["received_at"], utc=True)
    attack = truth != "safe"
    analyst = pd.to_timedelta(rng.exponential(0.5, n), unit="D")
    user = pd.to_timedelta(np.exp(rng.normal(math.log(1.5), 1.0, n)), unit="D")
    confirm = pd.to_timedelta(rng.exponential(1.0, n), unit="D")
    reported = (verdict == "safe") & (rng.random(n) < np.where(attack, user_report_rate, false_report_rate))
    reviewed = verdict != "safe"
    parts = [
        (reviewed, truth, "analyst", received + analyst),
        (reported, np.where(attack, truth, "spam"), "user_report", received + user),
        (reported, truth, "analyst", received + user + confirm),
    ]
    return pa.table({
        "message_id": pa.array(np.concatenate([f["message_id"].to_numpy()[m] for m, *_ in parts]), pa.string()),
        "tenant": pa.array(np.concatenate([f["tenant"].to_numpy()[m] for m, *_ in parts]), pa.string()),
        "label": pa.array(np.concatenate([lab[m] for m, lab, *_ in parts]), pa.string()),
        "source": pa.array([src for m, _, src, _ in parts for _ in range(int(m.sum()))], pa.string()),
        "reported_at": pa.array(pd.concat([when[m] for m, _, _, when in parts]).dt.floor("us"),
                                pa.timestamp("us", tz="UTC")),
    }, schema=FEEDBACK_SCHEMA)
