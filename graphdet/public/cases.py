"""Targeted attack cases built from a real tenant's people (its history only).

* **impersonation**: an outside address (free-mail, or a lookalike of the tenant's own domain)
  uses the display name of a central member (most distinct correspondents) and writes to
  people that member really corresponds with. On Enron the impersonated people are the
  executives by their real job titles.
* **lookalike**: a real person of a frequent correspondent organisation, from a lookalike of
  that organisation's domain, to the members who exchanged mail with it.
* **lateral**: a real member's own address sends a real phishing message (from the *test*
  part of the phishing corpus) to members it never wrote to.

Every case is rendered as RFC 822 and passes through the same :func:`~graphdet.public.inject.
neutralise` as the injected corpora, so cases have the same header names as everything else
injected. The texts of the impersonation and lookalike cases are written here (no real BEC
corpus is public); they are not the synthetic generator's templates.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import formataddr

import numpy as np

from graphdet.ingest import RecordError, parse_message
from graphdet.public.inject import (
    INJECTED_ID_DOMAIN,
    InjectedBatch,
    TimeSampler,
    neutral_message,
    neutralise,
    original_recipients,
    scrub,
)
from graphdet.public.tenant import COMMUNITY_HOSTS
from graphdet.rules.signals import default_lexicon
from graphdet.rules.view import registrable
from graphdet.schema import Address, Category, Label, Message
from graphdet.synth.lookalike import lookalike_domain
from graphdet.tenants import TenantConfig

__all__ = ["BEC_TEXTS", "VENDOR_TEXTS", "Case", "History", "impersonation_cases", "lateral_cases",
           "lookalike_cases", "materialise"]

BEC_TEXTS: tuple[tuple[str, str], ...] = (
    ("Quick favour", "Hi {first},\n\nare you around? I'm stuck in the plenary all afternoon and can't take "
     "calls. I need something sorted today, quietly. Please answer to this address, my work mail is acting "
     "up.\n\n{sender_first}"),
    ("Thank-you gifts for the summit speakers", "Hi {first},\n\nI promised the speakers a small thank-you at "
     "the summit. Could you buy six Amazon gift cards of $100 each and mail me the claim codes? I'll get it "
     "reimbursed through expenses on Monday. Keep it to yourself for now, it is meant as a surprise.\n\n"
     "Thanks,\n{sender_first}"),
    ("Lab hardware payment", "{first},\n\nthe supplier of the new test lab machines has not been paid and "
     "threatens to cancel the order. Please transfer EUR 18,400 today to the account below and send me the "
     "confirmation; I'm travelling and only on mail.\n\nIBAN DE44 5001 0517 5407 3249 31\nBIC INGDDEFFXXX\n\n"
     "{sender_first}"),
    ("New signing key", "Hi {first},\n\nmy laptop was stolen on the way back, so I revoked my old key. Please "
     "sign in at https://keyring-verify.net/login with your company account and confirm the new fingerprint, "
     "otherwise your next pull request bounces.\n\n{sender_first}"),
    ("Salary account", "Hi {first},\n\nI switched banks this month. Could you make sure my salary goes to the "
     "new account before the payroll run? I'll send you the details once you confirm.\n\n{sender_first}"),
    ("Need your mobile number", "{first}, send me your mobile number please, I need your help with a task "
     "that can't wait. {sender_first}"),
)

VENDOR_TEXTS: tuple[tuple[str, str], ...] = (
    ("Updated series on our review portal", "Hi {first},\n\nwe moved our review tooling. The updated series "
     "and the CI results are on https://{fake}/review/{n} - please sign in with your corporate account to "
     "comment.\n\nBest,\n{sender_first}"),
    ("Invoice {n} for the joint validation work", "Hello {first},\n\nplease find the invoice for the joint "
     "validation work at https://{fake}/invoice/{n}. Our bank details changed this quarter; kindly use the "
     "new account in the document for the payment.\n\nRegards,\n{sender_first}"),
    ("Shared: hardware enablement plan", "Hi {first},\n\nI shared the enablement plan with you: "
     "https://{fake}/docs/{n}\nThe link expires in 24 hours.\n\n{sender_first}"),
    ("Change of remittance details", "Dear {first},\n\nour finance department asks all partners to use our "
     "new remittance account from this month on. Please confirm by reply and we will send the details.\n\n"
     "Kind regards,\n{sender_first}"),
)

_SLUG = re.compile(r"[^a-z0-9]+")
_FREE = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "proton.me")


@dataclass(frozen=True)
class Case:
    """One targeted case, rendered: its kind, category, raw bytes and whom it targets."""

    kind: str
    category: Category
    raw: bytes
    target: str  # the impersonated person, the imitated domain or the compromised account
    literals: tuple[str, ...] = ()  # to scrub after parsing (a reused phishing body's collector)

    @property
    def source(self) -> str:
        """The label source of the case: ``case-<kind>``."""
        return f"case-{self.kind}"


@dataclass(frozen=True)
class History:
    """What the cases need from a tenant's history (build with :meth:`from_messages`)."""

    internal_domains: tuple[str, ...]
    members: frozenset[str]
    name_of: dict[str, str]
    sent: Counter[str]
    out_nb: dict[str, frozenset[str]]
    nb: dict[str, frozenset[str]]
    domain_msgs: Counter[str]  # external registrable domain -> messages exchanged with members
    domain_people: dict[str, Counter[str]] = field(default_factory=dict)  # domain -> its senders
    domain_contacts: dict[str, frozenset[str]] = field(default_factory=dict)  # domain -> members

    @classmethod
    def from_messages(cls, messages: Sequence[Message], config: TenantConfig) -> History:
        def internal(addr: str) -> bool:
            return config.tenant_of_domain(addr.rpartition("@")[2]) is not None

        members: set[str] = set()
        names: dict[str, Counter[str]] = {}
        sent: Counter[str] = Counter()
        out_nb: dict[str, set[str]] = {}
        nb: dict[str, set[str]] = {}
        domain_msgs: Counter[str] = Counter()
        people: dict[str, Counter[str]] = {}
        contacts: dict[str, set[str]] = {}
        skip = set(default_lexicon().lists["freemail_domains"]) | COMMUNITY_HOSTS
        for m in messages:
            s = m.from_.addr
            sent[s] += 1
            if m.from_.name:
                names.setdefault(s, Counter())[m.from_.name] += 1
            rcpts = {r.addr for r in m.recipients} - {s}
            for r in rcpts:
                out_nb.setdefault(s, set()).add(r)
                nb.setdefault(s, set()).add(r)
                nb.setdefault(r, set()).add(s)
            inside = [a for a in (s, *rcpts) if internal(a)]
            members.update(inside)
            if not inside:
                continue
            for a in (s, *rcpts):
                reg = registrable(a.rpartition("@")[2])
                if internal(a) or reg in skip or a.rpartition("@")[2] in skip or reg.startswith("lists."):
                    continue
                domain_msgs[reg] += 1
                if a == s:
                    people.setdefault(reg, Counter())[s] += 1
                contacts.setdefault(reg, set()).update(inside)
        return cls(
            internal_domains=tuple(sorted({d for t in config.tenants for d in t.domains})),
            members=frozenset(members),
            name_of={a: c.most_common(1)[0][0] for a, c in names.items()},
            sent=sent,
            out_nb={a: frozenset(v) for a, v in out_nb.items()},
            nb={a: frozenset(v) for a, v in nb.items()},
            domain_msgs=domain_msgs,
            domain_people=people,
            domain_contacts={d: frozenset(v) for d, v in contacts.items()},
        )

    def central_members(self, k: int = 5) -> list[str]:
        """The ``k`` named members with the most distinct correspondents."""
        named = [a for a in self.members if self.name_of.get(a)]
        return sorted(named, key=lambda a: (-len(self.nb.get(a, ())), a))[:k]

    def contacts_of(self, addr: str) -> list[str]:
        """Members ``addr`` corresponds with (either direction), sorted."""
        return sorted((self.nb.get(addr, frozenset()) & self.members) - {addr})


def _first(name: str, addr: str) -> str:
    return name.split()[0] if name.strip() else addr.partition("@")[0].split(".")[0].capitalize()


def _compose(sender: Address, subject: str, body: str, reply_to: Address | None = None) -> bytes:
    head = [b"From: " + formataddr((sender.name, sender.addr), charset="utf-8").encode("ascii"),
            b"Subject: " + subject.encode("ascii", "replace"),
            b"Content-Type: text/plain; charset=utf-8", b"Content-Transfer-Encoding: 8bit"]
    if reply_to is not None:
        head.append(b"Reply-To: " + formataddr((reply_to.name, reply_to.addr)).encode("ascii"))
    return b"\n".join(head) + b"\n\n" + body.encode("utf-8") + b"\n"


def _mid(kind: str, i: int, seed: int) -> str:
    return f"<case-{kind}.{hashlib.sha256(f'{seed}:{kind}:{i}'.encode()).hexdigest()[:16]}@{INJECTED_ID_DOMAIN}>"


def _slug(name: str) -> str:
    return _SLUG.sub(".", name.lower()).strip(".") or "office"


def impersonation_cases(
    h: History,
    n: int,
    rng: np.random.Generator,
    times: TimeSampler,
    *,
    targets: Sequence[str] | None = None,
    texts: Sequence[tuple[str, str]] = BEC_TEXTS,
    kind: str = "impersonation",
    seed: int = 0,
) -> list[Case]:
    """``n`` messages from outside addresses using the display name of one of ``targets``
    (default: the five central members) to people that target corresponds with."""
    people = [t for t in (targets if targets is not None else h.central_members()) if h.name_of.get(t)
              and h.contacts_of(t)]
    if not people or n <= 0:
        return []
    own = h.internal_domains[0]
    out = []
    for i in range(n):
        target = people[i % len(people)]
        name = h.name_of[target]
        contacts = h.contacts_of(target)
        to = [contacts[int(j)] for j in rng.choice(len(contacts), size=min(len(contacts), 1 + int(rng.random() < 0.3)),
                                                   replace=False)]
        if rng.random() < 0.5:
            domain = _FREE[int(rng.integers(0, len(_FREE)))]
        else:
            domain = lookalike_domain(registrable(own), rng)[1]
        sender = Address(f"{_slug(name)}{int(rng.integers(1, 99))}@{domain}", name)
        reply = Address(f"{_slug(name)}.office@{_FREE[int(rng.integers(0, len(_FREE)))]}", name) \
            if rng.random() < 0.3 else None
        subject, body = texts[int(rng.integers(0, len(texts)))]
        first_rcpt = Address(to[0], h.name_of.get(to[0], ""))
        fill = {"first": _first(first_rcpt.name, first_rcpt.addr), "sender_first": _first(name, target)}
        raw = _compose(sender, subject.format(**fill), body.format(**fill), reply)
        recipients = [Address(a, h.name_of.get(a, "")) for a in to]
        out.append(Case(kind, Category.BEC,
                        neutralise(raw, to=recipients, date=times.draw(rng), message_id=_mid(kind, i, seed)), target))
    return out


def lookalike_cases(
    h: History,
    n: int,
    rng: np.random.Generator,
    times: TimeSampler,
    *,
    domains: int = 10,
    texts: Sequence[tuple[str, str]] = VENDOR_TEXTS,
    seed: int = 0,
) -> list[Case]:
    """``n`` messages from lookalikes of the ``domains`` most frequent correspondent
    organisations, each in the name of a real person of it, to members who mail with it."""
    top = [d for d, _ in h.domain_msgs.most_common() if h.domain_people.get(d) and h.domain_contacts.get(d)][:domains]
    out: list[Case] = []
    for i in range(n if top else 0):
        reg = top[i % len(top)]
        person = h.domain_people[reg].most_common(3)[int(rng.integers(0, min(3, len(h.domain_people[reg]))))][0]
        _, fake = lookalike_domain(reg, rng)
        p_domain = person.rpartition("@")[2]
        sender = Address(person.rpartition("@")[0] + "@" + p_domain[: len(p_domain) - len(reg)] + fake,
                         h.name_of.get(person, ""))
        contacts = sorted(h.domain_contacts[reg])
        to = contacts[int(rng.integers(0, len(contacts)))]
        subject, body = texts[int(rng.integers(0, len(texts)))]
        fill = {"first": _first(h.name_of.get(to, ""), to), "sender_first": _first(sender.name, person),
                "fake": fake, "n": str(int(rng.integers(1000, 99999)))}
        raw = _compose(sender, subject.format(**fill), body.format(**fill))
        out.append(Case("lookalike", Category.VENDOR_FRAUD,
                        neutralise(raw, to=[Address(to, h.name_of.get(to, ""))], date=times.draw(rng),
                                   message_id=_mid("lookalike", i, seed)), reg))
    return out


def lateral_cases(
    h: History,
    n: int,
    rng: np.random.Generator,
    times: TimeSampler,
    phishing: Sequence[bytes],
    *,
    literals: Sequence[str] = (),
    min_sent: int = 5,
    seed: int = 0,
) -> list[Case]:
    """``n`` real phishing messages sent from real members (at least ``min_sent`` messages in
    history) to 3-8 members each of them never wrote to. ``literals`` (the corpus's collector
    addresses) are scrubbed with each message's original recipients."""
    senders = sorted(a for a in h.members if h.sent[a] >= min_sent)
    if not senders or not phishing:
        return []
    out: list[Case] = []
    for i in range(n):
        s = senders[int(rng.integers(0, len(senders)))]
        never = sorted(h.members - h.out_nb.get(s, frozenset()) - {s})
        if not never:
            continue
        k = min(len(never), int(rng.integers(3, 9)))
        picked = [never[int(j)] for j in rng.choice(len(never), k, replace=False)]
        to = [Address(a, h.name_of.get(a, "")) for a in picked]
        raw = phishing[int(rng.integers(0, len(phishing)))]
        out.append(Case("lateral", Category.LATERAL_PHISHING,
                        neutralise(raw, to=to, date=times.draw(rng), message_id=_mid("lateral", i, seed),
                                   sender=Address(s, h.name_of.get(s, ""))), s,
                        (*literals, *original_recipients(raw))))
    return out


def materialise(cases: Sequence[Case], config: TenantConfig) -> InjectedBatch:
    """Parse the cases for the tenant, scrub, clear auth (as injected mail) and label them."""
    out = InjectedBatch()
    for c in cases:
        try:
            parsed = parse_message(c.raw, config)
        except RecordError as e:
            out.skipped[f"{c.source}: {str(e).split(':', 1)[0]}"] += 1
            continue
        tenant = config.tenant_of_domain(parsed[0].recipients[0].domain) if parsed[0].recipients else None
        mine = [m for m in parsed if m.tenant == tenant]
        if not mine:
            out.skipped[f"{c.source}: does not reach the tenant"] += 1
            continue
        m = neutral_message(scrub(mine[0], c.literals, mine[0].recipients[0].addr))
        out.messages.append(m)
        out.labels.append(Label(m.message_id, c.category, c.source, c.source))
    return out
