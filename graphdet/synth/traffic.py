"""Legitimate traffic of one tenant, one vectorised generator per kind.

Each generator draws who/when/how many with NumPy and renders text with
:func:`graphdet.synth.templates.render`; the Python loops run per entity (newsletter, vendor,
first-contact mailbox), never per message. Replies are added later by
:mod:`graphdet.synth.assemble` from each batch's ``reply_p``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphdet.messagelog import ATTACHMENT_TYPE, URL_TYPE
from graphdet.synth import vocab
from graphdet.synth.attachments import attachment_pool
from graphdet.synth.config import SynthConfig
from graphdet.synth.frame import (
    DAY_US,
    Batch,
    list_array,
    make_batch,
    make_fields,
    sample_contacts,
    sample_times,
    weighted_choice,
)
from graphdet.synth.org import AuthProfile, Org, ascii_slug
from graphdet.synth.templates import render, take_str
from graphdet.synth.text_attack import ATTACK_SLOTS
from graphdet.synth.text_safe import SAFE_SLOTS, SAFE_TEXT

__all__ = ["REPLY_P", "SLOTS", "Ctx", "safe_traffic"]

SLOTS: dict[str, tuple[str, ...]] = {**SAFE_SLOTS, **ATTACK_SLOTS}

#: chance that a message of each kind gets a reply (a reply gets one with REPLY_P2)
REPLY_P: dict[str, float] = {
    "internal_thread": 0.5,
    "outbound": 0.4,
    "inbound_partner": 0.5,
    "first_contact": 0.45,
    "vendor_invoice": 0.15,
    "vendor_bank_change": 0.5,
    "exec_personal": 0.45,
}
REPLY_P2 = 0.35
_NORMAL = {"internal_thread": 0.50, "outbound": 0.10, "inbound_partner": 0.15, "newsletter": 0.25}
_HARD = {
    "first_contact": 0.22,
    "vendor_invoice": 0.28,
    "vendor_bank_change": 0.03,
    "newsletter_urgent": 0.15,
    "saas_notice": 0.17,
    "it_password_notice": 0.08,
    "exec_personal": 0.07,
}


@dataclass
class Ctx:
    """What every generator of one tenant needs."""

    org: Org
    cfg: SynthConfig
    rng: np.random.Generator
    pools: dict[str, pa.StructArray] = field(default_factory=dict)

    @property
    def ea(self) -> dict[str, pa.Array]:
        return self.org.ents.arrays()

    def times(
        self, n: int, *, day: np.ndarray | None = None, business: float = 0.9, weekend: float = 0.07
    ) -> np.ndarray:
        c = self.cfg
        return sample_times(
            self.rng,
            n,
            start_us=c.start_us,
            days=c.days,
            start=c.start,
            tz_hours=self.org.tz_hours,
            day=day,
            business=business,
            weekend=weekend,
        )

    def text(
        self,
        kind: str,
        sender: np.ndarray,
        rcpt: np.ndarray,
        time: np.ndarray,
        subjects: tuple[str, ...] | None = None,
        bodies: tuple[str, ...] | None = None,
        extra: dict[str, pa.Array] | None = None,
    ) -> tuple[pa.Array, pa.Array]:
        subj_t, body_t = SAFE_TEXT[kind] if kind in SAFE_TEXT else ((), ())
        c = self.cfg
        f = make_fields(self.org, self.ea, sender, rcpt, time, self.rng, c.start_us, c.start, c.days, extra)
        rows = np.arange(len(sender))
        return (
            render(subjects or subj_t, rows, SLOTS, f, self.rng),
            render(bodies or body_t, rows, SLOTS, f, self.rng),
        )

    def attach(self, pool: str, mask: np.ndarray, choice: np.ndarray | None = None) -> pa.Array:
        """One attachment from ``pool`` on rows where ``mask`` holds."""
        p = self.pools[pool]
        k = int(mask.sum())
        idx = self.rng.integers(0, len(p), k) if choice is None else choice[mask]
        return list_array(mask.astype(np.int32), pc.take(p, pa.array(idx, pa.int64())), ATTACHMENT_TYPE)


def make_urls(counts: np.ndarray, hosts: pa.Array, paths: pa.Array, anchors: pa.Array) -> pa.Array:
    """A urls list column from flat per-URL hosts, paths and anchor texts."""
    url = pc.binary_join_element_wise("https://", hosts, paths, "")
    values = pa.StructArray.from_arrays([url, anchors], fields=list(URL_TYPE))
    return list_array(counts.astype(np.int32), values, URL_TYPE)


def _tokens(rng: np.random.Generator, n: int) -> pa.Array:
    return pc.cast(pa.array(rng.integers(10**7, 10**9, n)), pa.string())


def _simple_urls(ctx: Ctx, counts: np.ndarray, host: str, prefix: str, anchors: tuple[str, ...]) -> pa.Array:
    k = int(counts.sum())
    hosts = take_str(pa.array([host]), np.zeros(k, np.int64))
    paths = pc.binary_join_element_wise(prefix, _tokens(ctx.rng, k), "")
    anc = take_str(pa.array(anchors), ctx.rng.integers(0, len(anchors), k))
    return make_urls(counts, hosts, paths, anc)


def _pools(ctx: Ctx) -> None:
    rng, org = ctx.rng, ctx.org
    docs = [
        f"{t}.{e}"
        for t in (
            "Q3_plan",
            "budget_2026",
            "notes",
            "roadmap",
            "deck_v2",
            "contract_draft",
            "proposal",
            "report",
            "schedule",
            "minutes",
            "headcount",
            "pricing",
        )
        for e in ("docx", "xlsx", "pdf")
    ] + ["export.csv", "invite.ics", "screenshot.png", "photos.zip"]
    ctx.pools["docs"] = attachment_pool(docs, rng.integers(8_000, 90_000, len(docs)).tolist())
    inv = [f"Invoice_{ascii_slug(v.name)}_{k:02d}.pdf" for v in org.vendors for k in range(1, 13)]
    ctx.pools["invoice"] = attachment_pool(inv, rng.integers(20_000, 120_000, len(inv)).tolist())
    bank = ["bank_details_letter.pdf", "new_remittance_details.pdf", "bank_change_confirmation.pdf"]
    ctx.pools["bank"] = attachment_pool(bank, rng.integers(30_000, 60_000, len(bank)).tolist())


def _internal(ctx: Ctx, n: int) -> Batch:
    org, rng = ctx.org, ctx.rng
    pos = weighted_choice(rng, org.activity, n)
    sender = org.employees[pos]
    m = np.stack([sample_contacts(org, pos, rng) for _ in range(4)], axis=1)
    r = rng.random((n, 3))
    valid = np.stack(
        [np.ones(n, bool), r[:, 0] < 0.25, r[:, 1] < 0.2, (r[:, 1] < 0.2) & (r[:, 2] < 0.4)], axis=1
    )
    for j in range(1, 4):
        for i in range(j):
            valid[:, j] &= ~(valid[:, i] & (m[:, j] == m[:, i]))
    time = ctx.times(n)
    subj, body = ctx.text("internal_thread", sender, m[:, 0], time)
    nu = (rng.random(n) < 0.1).astype(np.int32)
    urls = _simple_urls(
        ctx, nu, f"intranet.{org.domain}", "/docs/", ("the doc", "shared folder", "this page", "link")
    )
    return make_batch(
        time=time,
        sender=sender,
        to_cnt=valid[:, :2].sum(1),
        to_val=m[:, :2][valid[:, :2]],
        cc_cnt=valid[:, 2:].sum(1),
        cc_val=m[:, 2:][valid[:, 2:]],
        subject=subj,
        body=body,
        urls=urls,
        attachments=ctx.attach("docs", rng.random(n) < 0.08),
        kind="internal_thread",
        reply_p=REPLY_P["internal_thread"],
    )


def _external(ctx: Ctx, n: int, kind: str) -> Batch:
    org, rng = ctx.org, ctx.rng
    j = weighted_choice(rng, org.ext_weight, n)
    emp, ext = org.ext_owner[j], org.ext[j]
    sender, rcpt = (emp, ext) if kind == "outbound" else (ext, emp)
    time = ctx.times(n, business=0.93)
    subj, body = ctx.text(kind, sender, rcpt, time)
    return make_batch(
        time=time,
        sender=sender,
        to_cnt=np.ones(n),
        to_val=rcpt,
        subject=subj,
        body=body,
        attachments=ctx.attach("docs", rng.random(n) < 0.1),
        kind=kind,
        reply_p=REPLY_P[kind],
    )


def _first_contact(ctx: Ctx, n: int) -> Batch:
    org, rng = ctx.org, ctx.rng
    ents = org.ents
    fi = rng.integers(0, len(vocab.FIRST_NAMES), n)
    li = rng.integers(0, len(vocab.LAST_NAMES), n)
    di = rng.integers(0, len(org.prospect_domains), n)
    base = len(ents)
    sender = np.empty(n, np.int32)
    for k in range(n):  # one new mailbox per first contact
        first, last = vocab.FIRST_NAMES[fi[k]], vocab.LAST_NAMES[li[k]]
        o, d = org.prospect_domains[di[k]]
        free = o == ""
        local = f"{ascii_slug(first)}.{ascii_slug(last)}{base + k if free else ''}"
        sender[k] = ents.add(
            f"{local}@{d}",
            f"{first} {last}",
            first=first,
            org=o or f"{first} {last} Consulting",
            profile=AuthProfile.FREEMAIL
            if free
            else (AuthProfile.GOOD if rng.random() < 0.8 else AuthProfile.SLOPPY),
        )
    rcpt = org.employees[weighted_choice(rng, org.activity, n)]
    time = ctx.times(n)
    subj, body = ctx.text("first_contact", sender, rcpt, time)
    return make_batch(
        time=time,
        sender=sender,
        to_cnt=np.ones(n),
        to_val=rcpt,
        subject=subj,
        body=body,
        kind="first_contact",
        reply_p=REPLY_P["first_contact"],
    )


def _vendor(ctx: Ctx, n: int, kind: str) -> Batch:
    org, rng, c = ctx.org, ctx.rng, ctx.cfg
    v = weighted_choice(rng, np.array([x.weight for x in org.vendors]), n)
    if kind == "vendor_invoice":  # every vendor bills at least twice in the period
        k = min(n, 2 * len(org.vendors))
        v[:k] = np.arange(k) % len(org.vendors)
    billing = np.array([x.billing for x in org.vendors], np.int32)[v]
    other = np.array([x.contacts[-1] for x in org.vendors], np.int32)[v]
    sender = np.where(rng.random(n) < 0.8, billing, other)
    if kind == "vendor_invoice":  # ... once from accounts, once from the named contact
        sender[: len(org.vendors)] = billing[: len(org.vendors)]
        sender[len(org.vendors) : 2 * len(org.vendors)] = other[len(org.vendors) : 2 * len(org.vendors)]
    fin = np.array(org.finance, np.int32)
    rcpt = fin[np.where(rng.random(n) < 0.8, v % len(fin), rng.integers(0, len(fin), n))]
    weekday = np.array([x.weekday for x in org.vendors])[v]
    start_wd = c.start_datetime.weekday()
    weeks = (c.days + 6) // 7
    day = np.mod(rng.integers(0, weeks, n) * 7 + (weekday - start_wd) % 7, c.days)
    time = ctx.times(n, day=day, business=0.97)
    subj, body = ctx.text(kind, sender, rcpt, time)
    if kind == "vendor_invoice":
        att = ctx.attach("invoice", rng.random(n) < 0.85, choice=v * 12 + rng.integers(0, 12, n))
    else:
        att = ctx.attach("bank", rng.random(n) < 0.6)
    return make_batch(
        time=time,
        sender=sender,
        to_cnt=np.ones(n),
        to_val=rcpt,
        subject=subj,
        body=body,
        attachments=att,
        kind=kind,
        reply_p=REPLY_P[kind],
    )


def _newsletters(ctx: Ctx, n: int, urgent: bool) -> Batch:
    org, rng, c = ctx.org, ctx.rng, ctx.cfg
    senders = [x for x in org.newsletters if x[2] == urgent] or org.newsletters[:1]
    share = rng.dirichlet(np.ones(len(senders)) * 2.0)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for (s, subs, _), w in zip(senders, share, strict=False):
        events = max(1, round(n * w / len(subs)))
        et = ctx.times(events, business=1.0, weekend=0.3)
        t = np.repeat(et, len(subs)) + rng.integers(0, 300_000_000, events * len(subs))
        parts.append((np.full(len(t), s, np.int32), np.tile(subs, events), t))
    sender = np.concatenate([p[0] for p in parts])
    rcpt = np.concatenate([p[1] for p in parts])
    time = np.minimum(np.concatenate([p[2] for p in parts]), c.start_us + c.days * DAY_US - 1)
    kind = "newsletter_urgent" if urgent else "newsletter"
    subj, body = ctx.text(kind, sender, rcpt, time)
    k = len(sender)
    nu = rng.integers(2, 6, k)
    total = int(nu.sum())
    hosts = take_str(ctx.ea["domain"], np.repeat(sender, nu))
    anchors = take_str(
        pa.array(["Read more", "View offer", "Shop now", "Register", "Claim now", "Details"]),
        rng.integers(0, 6, total),
    )
    last = np.cumsum(nu) - 1
    anchors = pc.if_else(pa.array(np.isin(np.arange(total), last)), "Unsubscribe", anchors)
    urls = make_urls(nu, hosts, pc.binary_join_element_wise("/c/", _tokens(rng, total), ""), anchors)
    return make_batch(
        time=time,
        sender=sender,
        to_cnt=np.ones(k),
        to_val=rcpt,
        subject=subj,
        body=body,
        urls=urls,
        kind=kind,
    )


def _saas(ctx: Ctx, n: int) -> Batch:
    org, rng = ctx.org, ctx.rng
    sender = np.array(org.saas, np.int32)[rng.integers(0, len(org.saas), n)]
    rcpt = org.employees[weighted_choice(rng, org.activity, n)]
    time = ctx.times(n, business=0.8)
    subj, body = ctx.text("saas_notice", sender, rcpt, time)
    ones = np.ones(n, np.int32)
    hosts = pc.utf8_replace_slice(take_str(ctx.ea["domain"], sender), 0, 0, "app.")
    anchors = take_str(
        pa.array(["Review document", "View", "Open", "Sign in", "Review activity"]), rng.integers(0, 5, n)
    )
    urls = make_urls(ones, hosts, pc.binary_join_element_wise("/n/", _tokens(rng, n), ""), anchors)
    return make_batch(
        time=time,
        sender=sender,
        to_cnt=ones,
        to_val=rcpt,
        subject=subj,
        body=body,
        urls=urls,
        kind="saas_notice",
    )


def _it_notice(ctx: Ctx, n: int) -> Batch:
    org, rng = ctx.org, ctx.rng
    sender = np.full(n, org.helpdesk, np.int32)
    rcpt = org.employees[rng.integers(0, len(org.employees), n)]
    time = ctx.times(n, business=1.0)
    subj, body = ctx.text("it_password_notice", sender, rcpt, time)
    urls = _simple_urls(
        ctx,
        np.ones(n, np.int32),
        f"sso.{org.domain}",
        "/password/change?u=",
        ("password portal", "Change password", "self-service portal"),
    )
    return make_batch(
        time=time,
        sender=sender,
        to_cnt=np.ones(n),
        to_val=rcpt,
        subject=subj,
        body=body,
        urls=urls,
        kind="it_password_notice",
    )


def _exec_personal(ctx: Ctx, n: int) -> Batch:
    org, rng = ctx.org, ctx.rng
    which = rng.integers(0, len(org.personal), n)
    which[: len(org.personal) * 2] = np.arange(len(org.personal) * 2) % len(org.personal)
    sender = np.array([p[1] for p in org.personal], np.int32)[which]
    rcpt = np.empty(n, np.int32)
    for i, (_, _, rec) in enumerate(org.personal):
        sel = which == i
        w = np.r_[1.0, np.full(len(rec) - 1, 0.6)]
        w[1 : 1 + len(org.assistants)] = 3.0  # mostly the assistant
        rcpt[sel] = rec[weighted_choice(rng, w, int(sel.sum()))]
    day = weighted_choice(rng, np.ones(ctx.cfg.days), n)
    day[: len(org.personal) * 2] = np.minimum(
        np.arange(len(org.personal) * 2) // len(org.personal), ctx.cfg.days - 1
    )
    time = ctx.times(n, day=day, business=0.6)
    subj, body = ctx.text("exec_personal", sender, rcpt, time)
    return make_batch(
        time=time,
        sender=sender,
        to_cnt=np.ones(n),
        to_val=rcpt,
        subject=subj,
        body=body,
        attachments=ctx.attach("docs", rng.random(n) < 0.2),
        kind="exec_personal",
        reply_p=REPLY_P["exec_personal"],
    )


def _originals(budget: float, share: float, kind: str) -> int:
    p = REPLY_P.get(kind, 0.0)
    return round(budget * share / (1.0 + p + p * REPLY_P2))


def safe_traffic(ctx: Ctx) -> list[Batch]:
    """All legitimate original messages of the tenant (replies come later)."""
    c = ctx.cfg
    _pools(ctx)
    budget = len(ctx.org.employees) * c.messages_per_employee_per_day * c.days
    h = c.hard_negative_share
    n = {k: _originals(budget, s * (1 - h), k) for k, s in _NORMAL.items()}
    n.update({k: max(2, _originals(budget, s * h, k)) for k, s in _HARD.items()})
    out: list[Batch | None] = [
        _internal(ctx, n["internal_thread"]),
        _external(ctx, n["outbound"], "outbound"),
        _external(ctx, n["inbound_partner"], "inbound_partner"),
        _first_contact(ctx, n["first_contact"]),
        _vendor(ctx, n["vendor_invoice"], "vendor_invoice"),
        _vendor(ctx, n["vendor_bank_change"], "vendor_bank_change"),
        _newsletters(ctx, n["newsletter"], False),
        _newsletters(ctx, n["newsletter_urgent"], True),
        _saas(ctx, n["saas_notice"]),
        _it_notice(ctx, n["it_password_notice"]),
        _exec_personal(ctx, max(n["exec_personal"], 4 * len(ctx.org.personal))),
    ]
    return [b for b in out if b is not None and len(b)]
