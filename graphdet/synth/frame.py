"""Columnar message batches and the vectorised samplers the traffic generators share.

A :class:`Batch` holds messages of one tenant as NumPy integer columns (times, entity
indices, codes) plus already-rendered Arrow text/list columns. Generators return batches;
:mod:`graphdet.synth.assemble` concatenates them, adds replies and turns indices into strings.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphdet.messagelog import ATTACHMENT_TYPE, URL_TYPE
from graphdet.schema import Category
from graphdet.synth.org import Org
from graphdet.synth.templates import Fields, format_amount, take_str

__all__ = [
    "CATEGORIES",
    "KINDS",
    "Batch",
    "concat_batches",
    "empty_list",
    "list_array",
    "make_fields",
    "sample_contacts",
    "sample_times",
    "weighted_choice",
]

DAY_US = 86_400 * 1_000_000
HOUR_US = 3_600 * 1_000_000

KINDS: tuple[str, ...] = (
    "internal_thread",
    "outbound",
    "inbound_partner",
    "first_contact",
    "vendor_invoice",
    "vendor_bank_change",
    "newsletter",
    "newsletter_urgent",
    "saas_notice",
    "it_password_notice",
    "exec_personal",
    "reply",
    *(c.value for c in Category if c is not Category.SAFE),
)
KIND_CODE = {k: i for i, k in enumerate(KINDS)}
CATEGORIES: tuple[str, ...] = tuple(c.value for c in Category)
CATEGORY_CODE = {c: i for i, c in enumerate(CATEGORIES)}


@dataclass
class Batch:
    """Messages of one tenant, columnar. Lists are (count per row, flat values)."""

    time: np.ndarray  # int64 microseconds since the epoch
    sender: np.ndarray  # int32 entity index
    to_cnt: np.ndarray
    to_val: np.ndarray
    cc_cnt: np.ndarray
    cc_val: np.ndarray
    reply_to: np.ndarray  # int32 entity index, -1 for none
    subject: pa.Array
    body: pa.Array
    urls: pa.Array  # list<URL_TYPE>
    attachments: pa.Array  # list<ATTACHMENT_TYPE>
    kind: np.ndarray  # int16 code into KINDS
    category: np.ndarray  # int8 code into CATEGORIES
    campaign: np.ndarray  # int32 campaign number, -1 for none
    profile: np.ndarray  # int8 auth profile override, -1 = the sender's own profile
    parent: np.ndarray  # int64 row of the message replied to, -1 for none
    reply_p: np.ndarray  # float32 chance this message gets a reply

    def __len__(self) -> int:
        return len(self.time)


def empty_list(n: int, type_: pa.DataType) -> pa.Array:
    """``n`` empty lists of ``type_`` values."""
    return pa.ListArray.from_arrays(
        pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], type_), type=pa.list_(type_)
    )


def list_array(counts: np.ndarray, values: pa.Array, type_: pa.DataType) -> pa.Array:
    """A list array whose row ``i`` holds the next ``counts[i]`` of ``values``."""
    off = np.zeros(len(counts) + 1, dtype=np.int32)
    np.cumsum(counts, out=off[1:])
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return pa.ListArray.from_arrays(pa.array(off), values, type=pa.list_(type_))


def make_batch(
    *,
    time: np.ndarray,
    sender: np.ndarray,
    to_cnt: np.ndarray,
    to_val: np.ndarray,
    subject: pa.Array,
    body: pa.Array,
    kind: str,
    cc_cnt: np.ndarray | None = None,
    cc_val: np.ndarray | None = None,
    reply_to: np.ndarray | None = None,
    urls: pa.Array | None = None,
    attachments: pa.Array | None = None,
    category: str = "safe",
    campaign: np.ndarray | None = None,
    profile: np.ndarray | None = None,
    reply_p: float | np.ndarray = 0.0,
) -> Batch:
    """A batch with defaults for the optional columns."""
    n = len(time)
    i32 = np.int32
    return Batch(
        time=time.astype(np.int64),
        sender=sender.astype(i32),
        to_cnt=to_cnt.astype(i32),
        to_val=to_val.astype(i32),
        cc_cnt=np.zeros(n, i32) if cc_cnt is None else cc_cnt.astype(i32),
        cc_val=np.zeros(0, i32) if cc_val is None else cc_val.astype(i32),
        reply_to=np.full(n, -1, i32) if reply_to is None else reply_to.astype(i32),
        subject=subject,
        body=body,
        urls=empty_list(n, URL_TYPE) if urls is None else urls,
        attachments=empty_list(n, ATTACHMENT_TYPE) if attachments is None else attachments,
        kind=np.full(n, KIND_CODE[kind], np.int16),
        category=np.full(n, CATEGORY_CODE[category], np.int8),
        campaign=np.full(n, -1, i32) if campaign is None else campaign.astype(i32),
        profile=np.full(n, -1, np.int8) if profile is None else profile.astype(np.int8),
        parent=np.full(n, -1, np.int64),
        reply_p=np.broadcast_to(np.asarray(reply_p, np.float32), (n,)).copy(),
    )


def concat_batches(batches: list[Batch]) -> Batch:
    """One batch holding all rows of ``batches`` in order (parents are re-based)."""
    out: dict[str, object] = {}
    base = np.cumsum([0] + [len(b) for b in batches[:-1]])
    for f in fields(Batch):
        cols = [getattr(b, f.name) for b in batches]
        if f.name == "parent":
            shifted = [np.where(c >= 0, c + o, -1) for c, o in zip(cols, base, strict=True)]
            out[f.name] = np.concatenate(shifted)
        elif isinstance(cols[0], np.ndarray):
            out[f.name] = np.concatenate(cols)
        else:
            out[f.name] = pa.concat_arrays(cols)
    return Batch(**out)  # type: ignore[arg-type]


def weighted_choice(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    """``n`` indices drawn with probability proportional to ``weights``."""
    cum = np.cumsum(weights, dtype=np.float64)
    idx = np.searchsorted(cum, rng.random(n) * cum[-1], side="right")
    out: np.ndarray = np.minimum(idx, len(weights) - 1)
    return out


def day_weights(start: str, days: int, weekend: float = 0.07) -> np.ndarray:
    """Weight of each day of the period: 1 on weekdays, ``weekend`` on Saturday/Sunday."""
    wd = (date.fromisoformat(start).weekday() + np.arange(days)) % 7
    return np.where(wd >= 5, weekend, 1.0)


def sample_times(
    rng: np.random.Generator,
    n: int,
    *,
    start_us: int,
    days: int,
    start: str,
    tz_hours: float,
    day: np.ndarray | None = None,
    business: float = 0.9,
    weekend: float = 0.07,
) -> np.ndarray:
    """Receive times: weekday-heavy days, business hours in the tenant's local time."""
    if day is None:
        day = weighted_choice(rng, day_weights(start, days, weekend), n)
    hour = np.where(
        rng.random(n) < business, np.clip(rng.normal(12.8, 2.4, n), 7.0, 20.5), rng.uniform(0.0, 24.0, n)
    )
    local = day.astype(np.int64) * DAY_US + (hour * HOUR_US).astype(np.int64) + rng.integers(0, 60_000_000, n)
    utc = local - int(tz_hours * HOUR_US)
    out: np.ndarray = start_us + np.mod(utc, days * DAY_US)
    return out


def sample_contacts(org: Org, pos: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For employee positions ``pos``, one colleague each, drawn by contact weight."""
    u = pos + rng.random(len(pos))
    idx = np.searchsorted(org.contacts_cum, u, side="right")
    idx = np.clip(idx, org.contacts_off[pos], org.contacts_off[pos + 1] - 1)
    return org.contacts_val[idx]


def _dates(start: str, days: int) -> pa.Array:
    d0 = date.fromisoformat(start)
    return pa.array([(d0 + timedelta(days=i)).strftime("%B %d").replace(" 0", " ") for i in range(days + 60)])


def make_fields(
    org: Org,
    ea: dict[str, pa.Array],
    sender: np.ndarray,
    rcpt: np.ndarray,
    time: np.ndarray,
    rng: np.random.Generator,
    start_us: int,
    start: str,
    days: int,
    extra: dict[str, pa.Array] | None = None,
) -> Fields:
    """The template fields of messages from ``sender`` to ``rcpt`` (first recipient)."""
    n = len(sender)
    cents = (rng.lognormal(8.3, 1.1, n) * 100).astype(np.int64) + 5000
    numbers = rng.integers(10_000, 99_999, n)
    iban = rng.integers(10**11, 10**12 - 1, n)
    due_day = np.clip((time - start_us) // DAY_US + rng.integers(5, 30, n), 0, days + 59)
    dates = _dates(start, days)
    tenant_org = pa.array([org.company])
    fns = {
        "rcpt_first": lambda r: take_str(ea["first"], rcpt[r]),
        "sender_first": lambda r: take_str(ea["first"], sender[r]),
        "sender_name": lambda r: take_str(ea["name"], sender[r]),
        "sender_org": lambda r: take_str(ea["org"], sender[r]),
        "brand": lambda r: take_str(ea["name"], sender[r]),
        "tenant_org": lambda r: take_str(tenant_org, np.zeros(len(r), np.int64)),
        "amount": lambda r: format_amount(cents[r], org.currency),
        "inv_no": lambda r: pc.binary_join_element_wise(
            "INV-", pc.cast(pa.array(numbers[r]), pa.string()), ""
        ),
        "iban": lambda r: pc.cast(pa.array(iban[r]), pa.string()),
        "due": lambda r: take_str(dates, due_day[r]),
    }
    for k, v in (extra or {}).items():
        fns[k] = (lambda arr: lambda r: take_str(arr, r))(v)
    return Fields(fns)
