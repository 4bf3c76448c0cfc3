"""From a tenant's batches to Arrow tables: replies, ids, auth results, direction, sorting.

Everything here is vectorised over messages. Replies go from the first recipient of a
message back to its sender (or its Reply-To) after a realistic delay; a reply can itself be
answered once more, so threads are up to three messages deep and ``references`` lists the
whole chain, root first.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphdet.messagelog import ADDRESS_TYPE, LABEL_SCHEMA, MESSAGE_SCHEMA
from graphdet.synth.frame import (
    CATEGORIES,
    DAY_US,
    HOUR_US,
    KINDS,
    Batch,
    concat_batches,
    list_array,
    make_batch,
    make_fields,
)
from graphdet.synth.org import AuthProfile
from graphdet.synth.templates import render, take_str
from graphdet.synth.text_safe import SAFE_TEXT
from graphdet.synth.traffic import REPLY_P2, SLOTS, Ctx

__all__ = ["AUTH_PROFILES", "add_replies", "directions", "to_tables"]

RESULTS = ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror")
_A = AuthProfile
#: profile -> (SPF result probabilities, DKIM result probabilities, P(DMARC record), P(ARC pass))
AUTH_PROFILES: dict[int, tuple[tuple[float, ...], tuple[float, ...], float, float]] = {
    _A.INTERNAL: ((1, 0, 0, 0, 0, 0, 0), (1, 0, 0, 0, 0, 0, 0), 1.0, 0.0),
    _A.GOOD: ((0.97, 0, 0.015, 0.005, 0.005, 0.005, 0), (0.96, 0.01, 0, 0, 0.03, 0, 0), 0.9, 0.03),
    _A.SLOPPY: ((0.55, 0, 0.25, 0.08, 0.12, 0, 0), (0.35, 0.05, 0, 0, 0.6, 0, 0), 0.3, 0.03),
    _A.FREEMAIL: ((0.995, 0, 0, 0, 0, 0.005, 0), (0.995, 0, 0, 0, 0, 0.005, 0), 1.0, 0.0),
    _A.LOOKALIKE: ((0.8, 0, 0.05, 0, 0.15, 0, 0), (0.65, 0, 0, 0, 0.35, 0, 0), 0.4, 0.0),
    _A.SPOOF: ((0, 0.45, 0.3, 0.05, 0.2, 0, 0), (0, 0.4, 0, 0, 0.6, 0, 0), 0.7, 0.0),
    _A.BULK: ((0.99, 0, 0.01, 0, 0, 0, 0), (0.995, 0.005, 0, 0, 0, 0, 0), 0.95, 0.02),
    _A.SPAMMY: ((0.35, 0.15, 0.2, 0, 0.25, 0, 0.05), (0.3, 0.15, 0, 0, 0.55, 0, 0), 0.2, 0.0),
}


def _first_to(b: Batch) -> np.ndarray:
    off = np.zeros(len(b) + 1, np.int64)
    np.cumsum(b.to_cnt, out=off[1:])
    return b.to_val[off[:-1]]


def add_replies(ctx: Ctx, b: Batch) -> Batch:
    """Append replies (and replies to replies) to the messages of ``b``."""
    rng, cfg = ctx.rng, ctx.cfg
    end = cfg.start_us + cfg.days * DAY_US
    first_to = _first_to(b)
    layer = np.arange(len(b))
    subjects = b.subject
    all_b = b
    for round_ in range(2):
        cur = all_b
        parents = layer[rng.random(len(layer)) < cur.reply_p[layer]]
        delay = (np.clip(rng.lognormal(np.log(1.5), 1.2, len(parents)), 0.03, 72.0) * HOUR_US).astype(
            np.int64
        )
        time = cur.time[parents] + delay
        keep = time < end
        parents, time = parents[keep], time[keep]
        if len(parents) == 0:
            break
        sender = first_to[parents]
        rcpt = np.where(cur.reply_to[parents] >= 0, cur.reply_to[parents], cur.sender[parents])
        f = make_fields(ctx.org, ctx.ea, sender, rcpt, time, rng, cfg.start_us, cfg.start, cfg.days)
        body = render(SAFE_TEXT["reply"][1], np.arange(len(parents)), SLOTS, f, rng)
        psub = take_str(subjects, parents)
        subject = pc.if_else(
            pc.starts_with(psub, "Re: "), psub, pc.binary_join_element_wise("Re: ", psub, "")
        )
        rb = make_batch(
            time=time,
            sender=sender,
            to_cnt=np.ones(len(parents)),
            to_val=rcpt,
            subject=subject,
            body=body,
            kind="reply",
            reply_p=REPLY_P2 if round_ == 0 else 0.0,
        )
        base = len(all_b)
        all_b = concat_batches([all_b, rb])
        all_b.parent[base:] = parents
        first_to = np.concatenate([first_to, rcpt])
        subjects = all_b.subject
        layer = np.arange(base, len(all_b))
    return all_b


def directions(b: Batch, internal: np.ndarray) -> np.ndarray:
    """0 internal, 1 inbound, 2 outbound (per message, from entity internal flags)."""
    n = len(b)
    rows = np.concatenate([np.repeat(np.arange(n), b.to_cnt), np.repeat(np.arange(n), b.cc_cnt)])
    vals = np.concatenate([b.to_val, b.cc_val])
    ext = np.bincount(rows, weights=~internal[vals], minlength=n) > 0
    s_int = internal[b.sender]
    return np.where(~s_int, 1, np.where(ext, 2, 0))


_DIRS = pa.array(["internal", "inbound", "outbound"])


def _auth(ctx: Ctx, b: Batch, rng: np.random.Generator) -> list[pa.Array]:
    ent_profile = np.array(ctx.org.ents.profile, np.int8)
    prof = np.where(b.profile >= 0, b.profile, ent_profile[b.sender]).astype(np.int64)
    keys = sorted(AUTH_PROFILES)
    spf_cum = np.cumsum([AUTH_PROFILES[k][0] for k in keys], axis=1)
    dkim_cum = np.cumsum([AUTH_PROFILES[k][1] for k in keys], axis=1)
    rec_p = np.array([AUTH_PROFILES[k][2] for k in keys])
    arc_p = np.array([AUTH_PROFILES[k][3] for k in keys])
    n = len(b)
    spf = np.minimum((rng.random(n)[:, None] >= spf_cum[prof]).sum(1), 6)
    dkim = np.minimum((rng.random(n)[:, None] >= dkim_cum[prof]).sum(1), 6)
    ent_u = rng.random(len(ent_profile))  # whether a domain publishes DMARC is per mailbox
    has_rec = ent_u[b.sender] < rec_p[prof]
    dmarc = np.where(~has_rec, 4, np.where((spf == 0) | (dkim == 0), 0, 1))
    arc = np.where(rng.random(n) < arc_p[prof], 0, 4)
    res = pa.array(RESULTS)
    return [take_str(res, x) for x in (spf, dkim, dmarc, arc)]


def _hex_ids(counter: np.ndarray) -> pa.Array:
    """Bijective mix (splitmix64 finaliser) of unique counters, as 16 hex digits."""
    x = counter.astype(np.uint64)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    b = x.astype(">u8").view(np.uint8).reshape(-1, 8)
    lut = np.frombuffer(b"0123456789abcdef", dtype="S1")
    chars = np.empty((len(x), 16), dtype="S1")
    chars[:, 0::2] = lut[b >> 4]
    chars[:, 1::2] = lut[b & 15]
    return pc.cast(pa.array(chars.view("S16").ravel(), pa.binary()), pa.string())


def _addresses(ea: dict[str, pa.Array], cnt: np.ndarray, val: np.ndarray) -> pa.Array:
    idx = pa.array(val, pa.int64())
    values = pa.StructArray.from_arrays(
        [pc.take(ea["addr"], idx), pc.take(ea["name"], idx)], fields=list(ADDRESS_TYPE)
    )
    return list_array(cnt, values, ADDRESS_TYPE)


def _references(b: Batch, ids: pa.Array) -> pa.Array:
    cols = [b.parent]
    while True:
        nxt = np.where(cols[-1] >= 0, b.parent[np.maximum(cols[-1], 0)], -1)
        if not (nxt >= 0).any():
            break
        cols.append(nxt)
    anc = np.stack(cols[::-1], axis=1)  # root first
    mask = anc >= 0
    return list_array(mask.sum(1), take_str(ids, anc[mask]), pa.string())


def to_tables(ctx: Ctx, b: Batch, id_base: int, campaign_ids: list[str]) -> dict[str, Any]:
    """Messages, labels and kinds of one tenant, sorted by (received_at, message_id)."""
    rng = np.random.default_rng([ctx.cfg.seed, id_base >> 40, 99])
    ea = ctx.ea
    n = len(b)
    sender = pa.array(b.sender, pa.int64())
    domain = pc.take(ea["domain"], sender)
    ids = pc.binary_join_element_wise(
        "<", _hex_ids(np.arange(n, dtype=np.uint64) + np.uint64(id_base)), "@", domain, ">", ""
    )
    rt = pa.array(b.reply_to.astype(np.int64), mask=b.reply_to < 0)
    par = pa.array(b.parent, mask=b.parent < 0)
    internal = np.array(ctx.org.ents.internal, bool)
    spf, dkim, dmarc, arc = _auth(ctx, b, rng)
    cols: dict[str, pa.Array] = {
        "tenant": take_str(pa.array([ctx.org.tenant]), np.zeros(n, np.int64)),
        "message_id": ids,
        # whole seconds: what an RFC 5322 Date/Received header can carry, so rendered mail
        # ingests back to the same time
        "received_at": pa.array(b.time // 1_000_000 * 1_000_000, pa.timestamp("us", tz="UTC")),
        "from_addr": pc.take(ea["addr"], sender),
        "from_name": pc.take(ea["name"], sender),
        "to": _addresses(ea, b.to_cnt, b.to_val),
        "cc": _addresses(ea, b.cc_cnt, b.cc_val),
        "reply_to_addr": pc.take(ea["addr"], rt),
        "reply_to_name": pc.take(ea["name"], rt),
        "return_path": pc.take(ea["return_path"], sender),
        "subject": b.subject,
        "body": pc.utf8_trim_whitespace(b.body),
        "urls": b.urls,
        "attachments": b.attachments,
        "spf": spf,
        "dkim": dkim,
        "dmarc": dmarc,
        "arc": arc,
        "in_reply_to": pc.take(ids, par),
        "references": _references(b, ids),
        "direction": take_str(_DIRS, directions(b, internal)),
    }
    table = pa.Table.from_arrays([cols[f.name] for f in MESSAGE_SCHEMA], schema=MESSAGE_SCHEMA)
    order = pc.sort_indices(
        table.select(["received_at", "message_id"]),
        sort_keys=[("received_at", "ascending"), ("message_id", "ascending")],
    )
    table = table.take(order)
    camp = pa.array(np.asarray(b.campaign, np.int64), mask=b.campaign < 0)
    cid = pc.fill_null(pc.take(pa.array(campaign_ids or [""], pa.string()), camp), "")
    labels = pa.Table.from_arrays(
        [
            table["message_id"],
            take_str(pa.array(CATEGORIES), b.category).take(order),
            cid.take(order),
            take_str(pa.array(["synth"]), np.zeros(n, np.int64)),
        ],
        schema=LABEL_SCHEMA,
    )
    kinds = pa.table(
        {"message_id": table["message_id"], "kind": take_str(pa.array(KINDS), b.kind).take(order)}
    )
    return {"messages": table, "labels": labels, "kinds": kinds}
