"""Attack campaigns: who attacks whom, when, from where, with which template family.

A Python loop builds each campaign's metadata (attacker mailbox, targets, time window,
technique, template family); the messages of all campaigns of one (category, template family)
are then generated together, vectorised. Attack mailboxes are entities of the tenant like any
other, so assembly treats them the same way.

``family`` in the campaigns table is the *technique* (``freemail``, ``homoglyph``,
``ip_host``, ``double_ext``, ...); ``template_family`` is the text family
(:mod:`graphdet.synth.text_attack`). Either can be held out in evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphdet.messagelog import ATTACHMENT_TYPE
from graphdet.synth import vocab
from graphdet.synth.attachments import attachment_pool
from graphdet.synth.frame import Batch, list_array, make_batch, make_fields, sample_times
from graphdet.synth.lookalike import lookalike_domain
from graphdet.synth.org import AuthProfile, ascii_slug
from graphdet.synth.templates import render, take_str
from graphdet.synth.text_attack import FAMILIES
from graphdet.synth.traffic import SLOTS, Ctx, make_urls

__all__ = ["CATEGORY_WEIGHTS", "Campaign", "attack_batches", "plan_campaigns"]

#: (share of attack messages, mean messages per campaign)
CATEGORY_WEIGHTS: dict[str, tuple[float, float]] = {
    "bec": (0.12, 4.0),
    "vendor_fraud": (0.08, 4.0),
    "vendor_compromise": (0.06, 3.0),
    "credential_phishing": (0.27, 15.0),
    "lateral_phishing": (0.07, 12.0),
    "malware": (0.15, 12.0),
    "spam": (0.25, 25.0),
}
_ODD_TLDS = ("xyz", "top", "online", "site", "info", "click", "shop", "live")


@dataclass
class Campaign:
    id: str
    number: int
    category: str
    family: str  # technique
    template_family: int  # index into FAMILIES[category]
    start_day: int
    span: int
    n: int
    sender: int
    targets: np.ndarray
    reply_to: int = -1
    profile: int = -1
    url_prefix: str = ""
    anchor: str = ""
    attachments: pa.StructArray | None = None
    attach_p: float = 0.0
    brand: str = ""


def _odd_domain(rng: np.random.Generator, word: str) -> str:
    pre = str(rng.choice(["secure", "login", "verify", "account", "portal", "auth", "docs"]))
    return f"{pre}-{word}{int(rng.integers(1, 99))}.{rng.choice(_ODD_TLDS)}"


def _campaign(ctx: Ctx, cat: str, number: int, n: int) -> Campaign:
    org, rng, ents = ctx.org, ctx.rng, ctx.org.ents
    slug = ascii_slug(org.company)
    span = int(rng.integers(1, 5))
    start_day = int(rng.integers(0, max(1, ctx.cfg.days - span + 1)))
    fam = int(rng.integers(0, len(FAMILIES[cat])))
    emp = org.employees
    c = Campaign(f"{cat}-{number:04d}", number, cat, "", fam, start_day, span, n, -1, emp[:1])
    if cat == "bec":
        role = str(rng.choice(list(org.executives)[:3], p=[0.5, 0.3, 0.2]))
        ex = org.executives[role]
        first, last = ents.name[ex].split(" ", 1)
        c.family = "freemail" if rng.random() < 0.6 else "new_domain"
        if c.family == "freemail":
            word = str(rng.choice(["office", "ceo", "exec", "private", "mobile", "work"]))
            addr = f"{ascii_slug(first)}.{ascii_slug(last)}.{word}@{rng.choice(vocab.FREEMAIL)}"
            c.profile = AuthProfile.FREEMAIL
        else:
            word = rng.choice(["group", "mail", "exec", "corp", "inc", "hq"])
            dom = f"{slug}-{word}.{rng.choice(['com', 'net', 'co'])}"
            addr = f"{ascii_slug(first)}.{ascii_slug(last)}@{dom}"
            c.profile = AuthProfile.LOOKALIKE
        c.sender = ents.add(addr, ents.name[ex], first=first, org=org.company, profile=c.profile)
        if rng.random() < 0.6:
            c.reply_to = ents.add(
                f"{ascii_slug(first)}{int(rng.integers(100, 999))}@{rng.choice(vocab.FREEMAIL)}",
                ents.name[ex],
                first=first,
                profile=AuthProfile.FREEMAIL,
            )
        pool = [*org.finance, *org.assistants, *rng.choice(emp, 4).tolist()]
        c.targets = rng.choice(
            np.array(pool, np.int32), size=min(len(pool), int(rng.integers(1, 7))), replace=False
        )
    elif cat in ("vendor_fraud", "vendor_compromise"):
        v = org.vendors[int(rng.integers(0, len(org.vendors)))]
        real = v.billing if rng.random() < 0.7 else v.contacts[-1]  # mailboxes that send invoices
        local = ents.addr[real].split("@")[0]
        c.targets = rng.choice(
            np.array(org.finance, np.int32),
            size=min(len(org.finance), int(rng.integers(1, 4))),
            replace=False,
        )
        c.attach_p = 0.4
        c.attachments = attachment_pool(
            [f"Invoice_{ascii_slug(v.name)}_{number}.pdf"], [int(rng.integers(20_000, 90_000))]
        )
        if cat == "vendor_fraud":
            c.family, dom = lookalike_domain(v.domain, rng)
            c.sender = ents.add(
                f"{local}@{dom}",
                ents.name[real],
                first=ents.first[real],
                org=v.name,
                profile=AuthProfile.LOOKALIKE,
            )
            c.profile = AuthProfile.LOOKALIKE if rng.random() < 0.75 else AuthProfile.SPOOF
            if rng.random() < 0.3:
                c.reply_to = ents.add(
                    f"{ascii_slug(v.name)}.billing@{rng.choice(vocab.FREEMAIL)}",
                    ents.name[real],
                    profile=AuthProfile.FREEMAIL,
                )
        else:
            c.sender, c.profile = real, AuthProfile.FREEMAIL  # the real account: everything passes
            c.family = "reply_to_freemail" if rng.random() < 0.5 else "reply_to_lookalike"
            dom = (
                str(rng.choice(vocab.FREEMAIL))
                if c.family == "reply_to_freemail"
                else lookalike_domain(v.domain, rng)[1]
            )
            c.reply_to = ents.add(
                f"{local}.{ascii_slug(v.name)}@{dom}" if "." not in local else f"{local}@{dom}",
                ents.name[real],
                profile=AuthProfile.LOOKALIKE,
            )
    elif cat == "credential_phishing":
        brand, legit = vocab.BRANDS[int(rng.integers(0, len(vocab.BRANDS)))]
        c.brand = brand
        word = ascii_slug(brand)[:10]
        c.family = str(rng.choice(["ip_host", "shortener", "odd_domain", "brand_lookalike"]))
        dom = _odd_domain(rng, word)
        ip = ".".join(str(int(x)) for x in rng.integers(1, 255, 4))
        c.url_prefix = {
            "ip_host": f"http://{ip}/{word}/",
            "shortener": f"https://{rng.choice(vocab.SHORTENERS)}/",
            "odd_domain": f"https://{dom}/auth/",
            "brand_lookalike": f"https://{lookalike_domain(legit, rng)[1]}/signin/",
        }[c.family]
        c.anchor = str(
            rng.choice([f"https://{legit}/", "Sign in", "Review document", "Verify account", f"{legit}"])
        )
        box = str(rng.choice(["no-reply", "support", "security", "admin", "notification"]))
        c.profile = int(rng.choice([AuthProfile.SPOOF, AuthProfile.LOOKALIKE, AuthProfile.SPAMMY]))
        c.sender = ents.add(
            f"{box}@{dom}",
            str(rng.choice([brand, f"{brand} Support", f"{org.company} IT"])),
            first=brand,
            org=brand,
            profile=c.profile,
        )
        c.targets = rng.choice(emp, size=min(len(emp), int(rng.integers(3, 40))), replace=False)
    elif cat == "lateral_phishing":
        c.family = "compromised_account"
        c.sender, c.profile = -2, AuthProfile.INTERNAL  # chosen once the safe log is known
        c.url_prefix = f"https://{slug}-sharepoint.{rng.choice(_ODD_TLDS)}/doc/"
        c.anchor = str(
            rng.choice(["Open document", "View shared file", f"https://{slug}.sharepoint.com/", "Sign in"])
        )
    elif cat == "malware":
        c.family = str(rng.choice(["macro", "archive", "html", "executable", "double_ext"]))
        base = str(
            rng.choice(["Invoice", "Scan", "Order", "Remittance", "Shipping_Label", "CV", "Statement"])
        )
        ext = {
            "macro": ["docm", "xlsm"],
            "archive": ["zip", "iso"],
            "html": ["html", "htm"],
            "executable": ["exe", "js"],
            "double_ext": ["pdf.exe", "doc.js", "pdf.html"],
        }[c.family]
        name = f"{base}_{int(rng.integers(1000, 99999))}.{rng.choice(ext)}"
        c.attachments, c.attach_p = attachment_pool([name], [int(rng.integers(15_000, 400_000))]), 1.0
        first, last = str(rng.choice(vocab.FIRST_NAMES)), str(rng.choice(vocab.LAST_NAMES))
        o, d = org.prospect_domains[int(rng.integers(0, len(org.prospect_domains)))]
        d = d if rng.random() < 0.4 else _odd_domain(rng, ascii_slug(last))
        c.profile = int(rng.choice([AuthProfile.SPOOF, AuthProfile.SPAMMY, AuthProfile.FREEMAIL]))
        c.sender = ents.add(
            f"{ascii_slug(first)}.{ascii_slug(last)}{number}@{d}",
            f"{first} {last}",
            first=first,
            org=o,
            profile=c.profile,
        )
        c.targets = rng.choice(emp, size=min(len(emp), int(rng.integers(2, 30))), replace=False)
    else:  # spam
        c.family = str(rng.choice(["snowshoe", "freemail_blast", "bulk_domain"]))
        d = _odd_domain(rng, str(rng.choice(["deals", "offer", "promo", "win", "health"])))
        d = str(rng.choice(vocab.FREEMAIL)) if c.family == "freemail_blast" else d
        c.profile = AuthProfile.SPAMMY
        c.sender = ents.add(
            f"{rng.choice(['info', 'sales', 'offers', 'mail'])}{number}@{d}",
            str(rng.choice(["Special Offers", "Customer Rewards", "Best Deals", "Investment Team"])),
            profile=c.profile,
        )
        c.url_prefix, c.anchor = (
            f"https://{_odd_domain(rng, 'offer')}/p/",
            str(rng.choice(["Click here", "Claim now", "Unsubscribe"])),
        )
        c.targets = rng.choice(emp, size=min(len(emp), int(rng.integers(10, 80))), replace=False)
    return c


def plan_campaigns(ctx: Ctx, n_attack: int, counters: dict[str, int]) -> list[Campaign]:
    """Campaigns of one tenant, together about ``n_attack`` messages; >= 1 per category."""
    rng = ctx.rng
    out: list[Campaign] = []
    for cat, (w, mean) in CATEGORY_WEIGHTS.items():
        n_cat = max(2, round(w * n_attack))
        n_camp = int(np.clip(round(n_cat / mean), 1, 5000))
        sizes = 1 + rng.multinomial(n_cat - n_camp, rng.dirichlet(np.ones(n_camp) * 1.5))
        for size in sizes.tolist():
            counters[cat] = counters.get(cat, 0) + 1
            out.append(_campaign(ctx, cat, counters[cat], int(size)))
    return out


def _lateral_targets(ctx: Ctx, c: Campaign, pairs: set[int], used: set[int]) -> None:
    """A compromised employee mails colleagues it never wrote to anywhere in the log."""
    org, rng = ctx.org, ctx.rng
    execs = set(org.executives.values())
    cand = [int(e) for e in org.employees if int(e) not in execs and int(e) not in used] or [
        int(org.employees[-1])
    ]
    for s in rng.permutation(cand)[:20].tolist():
        fresh = np.array(
            [int(e) for e in org.employees if int(e) != s and (s << 32 | int(e)) not in pairs], np.int32
        )
        if len(fresh):
            c.sender = s
            c.targets = rng.choice(fresh, size=min(len(fresh), max(5, c.n)), replace=False)
            used.add(s)
            return
    c.sender = int(cand[0])
    c.targets = np.array([e for e in org.employees if e != c.sender][:1], np.int32)


def attack_batches(ctx: Ctx, campaigns: list[Campaign], pairs: set[int]) -> list[Batch]:
    """The messages of ``campaigns``, one batch per (category, template family).

    ``pairs`` holds ``sender << 32 | recipient`` of every safe message; the ``campaign``
    column is the campaign's position in ``campaigns``.
    """
    rng, cfg = ctx.rng, ctx.cfg
    used: set[int] = set()
    pos = {c.id: i for i, c in enumerate(campaigns)}
    for c in campaigns:
        if c.category == "lateral_phishing":
            _lateral_targets(ctx, c, pairs, used)
    groups: dict[tuple[str, int], list[Campaign]] = {}
    for c in campaigns:
        groups.setdefault((c.category, c.template_family), []).append(c)
    out: list[Batch] = []
    for (cat, fam), cs in groups.items():
        sizes = np.array([c.n for c in cs])
        local = np.repeat(np.arange(len(cs)), sizes)
        n = len(local)
        sender = np.array([c.sender for c in cs], np.int32)[local]
        rcpt = np.concatenate([np.resize(rng.permutation(c.targets), c.n) for c in cs]).astype(np.int32)
        day = np.array([c.start_day for c in cs])[local] + (
            rng.random(n) * np.array([c.span for c in cs])[local]
        ).astype(np.int64)
        time = sample_times(
            rng,
            n,
            start_us=cfg.start_us,
            days=cfg.days,
            start=cfg.start,
            tz_hours=ctx.org.tz_hours,
            day=np.minimum(day, cfg.days - 1),
            business=0.7,
        )
        brand = take_str(pa.array([c.brand or "Microsoft 365" for c in cs]), local)
        f = make_fields(
            ctx.org, ctx.ea, sender, rcpt, time, rng, cfg.start_us, cfg.start, cfg.days, {"brand": brand}
        )
        tf = FAMILIES[cat][fam]
        rows = np.arange(n)
        subj, body = render(tf.subjects, rows, SLOTS, f, rng), render(tf.bodies, rows, SLOTS, f, rng)
        has_url = np.array([bool(c.url_prefix) for c in cs])[local]
        k = int(has_url.sum())
        prefix = take_str(pa.array([c.url_prefix for c in cs]), local[has_url])
        urls = make_urls(
            has_url.astype(np.int32),
            prefix,
            pc.cast(pa.array(rng.integers(10**6, 10**9, k)), pa.string()),
            take_str(pa.array([c.anchor for c in cs]), local[has_url]),
        )
        urls = _strip_https(urls)
        att_p = np.array([c.attach_p for c in cs])[local]
        has_att = rng.random(n) < att_p
        pools = [c.attachments if c.attachments is not None else pa.array([], ATTACHMENT_TYPE) for c in cs]
        pool_off = np.cumsum([0] + [len(p) for p in pools[:-1]])
        flat = pa.concat_arrays(pools)
        atts = list_array(
            has_att.astype(np.int32),
            pc.take(flat, pa.array(pool_off[local[has_att]], pa.int64())),
            ATTACHMENT_TYPE,
        )
        out.append(
            make_batch(
                time=time,
                sender=sender,
                to_cnt=np.ones(n),
                to_val=rcpt,
                subject=subj,
                body=body,
                reply_to=np.array([c.reply_to for c in cs], np.int32)[local],
                urls=urls,
                attachments=atts,
                kind=cat,
                category=cat,
                campaign=np.array([pos[c.id] for c in cs], np.int32)[local],
                profile=np.array([c.profile for c in cs], np.int8)[local],
            )
        )
    return out


def _strip_https(urls: pa.Array) -> pa.Array:
    """``make_urls`` prefixes https://; attack prefixes carry their own scheme."""
    flat = urls.flatten()
    fixed = pc.replace_substring_regex(flat.field("url"), r"^https://(https?://)", r"\1")
    values = pa.StructArray.from_arrays([fixed, flat.field("anchor_text")], fields=list(flat.type))
    return pa.ListArray.from_arrays(urls.offsets, values, type=urls.type)
