"""The people and organisations of one synthetic tenant.

Every mailbox that sends or receives a synthetic message is an *entity*: a row of the
tenant's :class:`EntityTable` (address, display name, first name, organisation, the auth
profile its mail gets). Traffic generators work on integer entity indices and only the final
assembly turns them into strings, which is what keeps generation vectorised.

Built by a Python loop per entity (employees, contacts, vendors), which is cheap next to the
per-message work.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from graphdet.synth import vocab

__all__ = ["AuthProfile", "EntityTable", "Org", "Vendor", "ascii_slug", "build_org", "company_name"]


class AuthProfile:
    """Codes of the authentication behaviour of a sender (see ``assemble.AUTH_PROFILES``)."""

    INTERNAL = 0
    GOOD = 1  # a well-run external domain
    SLOPPY = 2  # legitimate but misconfigured: softfail SPF, no DKIM, no DMARC
    FREEMAIL = 3  # a real free-mail account: everything passes
    LOOKALIKE = 4  # an attacker's own (lookalike / newly registered) domain: often passes
    SPOOF = 5  # forged sender: mostly fails
    BULK = 6  # an email service provider sending bulk mail
    SPAMMY = 7  # throwaway spam infrastructure: mixed


def ascii_slug(text: str) -> str:
    """Lower-case ASCII letters and digits only (``"Lefèvre"`` -> ``"lefevre"``)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


def company_name(rng: np.random.Generator) -> tuple[str, str]:
    """A company display name and its domain, e.g. ``("Cedar Logistics", "cedarlogistics.io")``."""
    head = str(rng.choice(vocab.COMPANY_HEADS))
    tail = str(rng.choice(vocab.COMPANY_TAILS))
    tld = str(rng.choice(vocab.TLDS))
    return f"{head} {tail.capitalize()}", f"{head.lower()}{tail}.{tld}"


class EntityTable:
    """Append-only table of mailboxes; ``add`` returns the new row's index."""

    def __init__(self) -> None:
        self.addr: list[str] = []
        self.name: list[str] = []
        self.first: list[str] = []
        self.org: list[str] = []
        self.return_path: list[str] = []
        self.profile: list[int] = []
        self.internal: list[bool] = []
        self._index: dict[str, int] = {}
        self._arrays: tuple[int, dict[str, pa.Array]] = (-1, {})

    def __len__(self) -> int:
        return len(self.addr)

    def add(
        self,
        addr: str,
        name: str,
        *,
        first: str = "",
        org: str = "",
        profile: int,
        internal: bool = False,
        return_path: str = "",
    ) -> int:
        """Add a mailbox (or return the existing row of the same address)."""
        if addr in self._index:
            return self._index[addr]
        i = len(self.addr)
        self._index[addr] = i
        self.addr.append(addr)
        self.name.append(name)
        self.first.append(first or (name.split()[0] if name else addr.split("@")[0]))
        self.org.append(org)
        self.return_path.append(return_path or addr)
        self.profile.append(profile)
        self.internal.append(internal)
        return i

    def extend(
        self, addr: list[str], name: list[str], first: list[str], org: list[str], profile: int
    ) -> np.ndarray:
        """Add many external mailboxes at once; returns their indices."""
        return np.array(
            [
                self.add(a, n, first=f, org=o, profile=profile)
                for a, n, f, o in zip(addr, name, first, org, strict=True)
            ],
            dtype=np.int32,
        )

    def arrays(self) -> dict[str, pa.Array]:
        """The table as Arrow arrays, plus ``domain`` derived from the address (cached)."""
        if self._arrays[0] == len(self.addr):
            return self._arrays[1]
        arrays = {
            "addr": pa.array(self.addr, pa.string()),
            "name": pa.array(self.name, pa.string()),
            "first": pa.array(self.first, pa.string()),
            "org": pa.array(self.org, pa.string()),
            "return_path": pa.array(self.return_path, pa.string()),
            "domain": pa.array([a.rsplit("@", 1)[1] for a in self.addr], pa.string()),
        }
        self._arrays = (len(self.addr), arrays)
        return arrays


@dataclass
class Vendor:
    """A supplier the tenant pays: its mailboxes, invoice rhythm and volume weight."""

    name: str
    domain: str
    billing: int  # entity index of the accounts-receivable mailbox
    contacts: list[int]  # all its entity indices (billing included)
    weekday: int  # the weekday its invoices usually arrive (0 = Monday)
    weight: float
    profile: int


@dataclass
class Org:
    """One tenant's org chart, correspondents and mailboxes (all as entity indices)."""

    tenant: str
    company: str
    domain: str
    tz_hours: float
    currency: str
    ents: EntityTable
    employees: np.ndarray  # entity indices
    activity: np.ndarray  # heavy-tailed sending weight per employee
    dept: list[str]
    executives: dict[str, int]  # role -> entity index
    assistants: list[int]
    finance: list[int]
    it_staff: list[int]
    helpdesk: int
    contacts_off: np.ndarray  # CSR over employee positions: colleagues each one writes to
    contacts_val: np.ndarray  # entity indices
    contacts_cum: np.ndarray  # position + cumulative weight fraction, for vectorised sampling
    ext: np.ndarray  # external partner/customer contacts (entity indices)
    ext_weight: np.ndarray  # Zipf activity
    ext_owner: np.ndarray  # the employee (entity index) each external contact deals with
    vendors: list[Vendor]
    newsletters: list[tuple[int, np.ndarray, bool]]  # (sender, subscribers, urgent style)
    saas: list[int]
    personal: list[tuple[int, int, np.ndarray]]  # (exec, personal address, its recipients)
    prospect_domains: list[tuple[str, str]] = field(default_factory=list)  # (org, domain)


def _person(rng: np.random.Generator) -> tuple[str, str]:
    return str(rng.choice(vocab.FIRST_NAMES)), str(rng.choice(vocab.LAST_NAMES))


def _employees(
    org_domain: str, company: str, n: int, rng: np.random.Generator, ents: EntityTable
) -> list[int]:
    out: list[int] = []
    while len(out) < n:
        first, last = _person(rng)
        local = f"{ascii_slug(first)}.{ascii_slug(last)}"
        addr = f"{local}@{org_domain}"
        if addr in ents._index:
            addr = f"{local}{len(out)}@{org_domain}"
        out.append(
            ents.add(
                addr, f"{first} {last}", first=first, org=company, profile=AuthProfile.INTERNAL, internal=True
            )
        )
    return out


def _contact_graph(
    pos_dept: list[str], rng: np.random.Generator, emp: np.ndarray, special: dict[int, list[int]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(emp)
    by_dept: dict[str, list[int]] = {}
    for p, d in enumerate(pos_dept):
        by_dept.setdefault(d, []).append(p)
    links: list[set[int]] = [set() for _ in range(n)]
    for p in range(n):
        mates = by_dept[pos_dept[p]]
        k = int(rng.integers(4, 15))
        for _ in range(k):
            q = int(rng.choice(mates)) if rng.random() < 0.7 else int(rng.integers(n))
            if q != p:
                links[p].add(q)
        links[p].update(q for q in special.get(p, []) if q != p)
    for p in range(n):  # mostly symmetric: people write back to those who write to them
        for q in list(links[p]):
            if rng.random() < 0.75:
                links[q].add(p)
    off = np.zeros(n + 1, dtype=np.int64)
    vals: list[int] = []
    cum: list[float] = []
    for p in range(n):
        qs = sorted(links[p]) or [(p + 1) % n]
        w = rng.lognormal(0.0, 1.0, len(qs))
        c = np.cumsum(w) / w.sum()
        vals.extend(int(emp[q]) for q in qs)
        cum.extend((p + c).tolist())
        off[p + 1] = off[p] + len(qs)
    return off, np.array(vals, dtype=np.int32), np.array(cum, dtype=np.float64)


def build_org(tenant_index: int, n_emp: int, seed: int) -> Org:
    """Build tenant ``tenant_index`` with ``n_emp`` employees, deterministically from ``seed``."""
    rng = np.random.default_rng([seed, tenant_index, 11])
    company, domain = company_name(rng)
    slug = ascii_slug(company)
    domain = domain if tenant_index == 0 else domain.replace(".", f"{tenant_index}.", 1)
    tz = float(rng.choice([-8.0, -5.0, -5.0, 0.0, 1.0, 1.0, 5.5, 9.0]))
    currency = {-8.0: "$", -5.0: "$", 0.0: "£", 1.0: "€", 5.5: "$", 9.0: "$"}[tz]
    ents = EntityTable()
    emp_list = _employees(domain, company, n_emp, rng, ents)
    emp = np.array(emp_list, dtype=np.int32)
    roles = ["CEO", "CFO", "COO"] + (["CTO", "General Counsel"] if n_emp >= 25 else [])
    executives = {r: emp_list[i] for i, r in enumerate(roles)}
    n_asst = 1 if n_emp < 80 else 2
    pos = len(roles)
    assistants = emp_list[pos : pos + n_asst]
    pos += n_asst
    n_fin = max(2, n_emp * 6 // 100)
    finance = emp_list[pos : pos + n_fin]
    pos += n_fin
    n_it = max(2, n_emp * 4 // 100)
    it_staff = emp_list[pos : pos + n_it]
    pos += n_it
    dept = (
        ["Executive"] * (len(roles) + n_asst)
        + ["Finance"] * n_fin
        + ["IT"] * n_it
        + [str(rng.choice(vocab.DEPARTMENTS)) for _ in range(n_emp - pos)]
    )
    activity = rng.lognormal(0.0, 1.1, n_emp)
    exec_pos = list(range(len(roles) + n_asst))
    special = {p: exec_pos for p in exec_pos}  # the executive team writes to itself
    c_off, c_val, c_cum = _contact_graph(dept, rng, emp, special)
    helpdesk = ents.add(
        f"it-helpdesk@{domain}",
        f"{company} IT Helpdesk",
        first="IT",
        org=company,
        profile=AuthProfile.INTERNAL,
        internal=True,
    )

    # partners and customers: organisations with 1-3 contacts, Zipf activity
    ext: list[int] = []
    owners: list[int] = []
    workers = [
        e
        for e, d in zip(emp_list, dept, strict=False)
        if d in ("Sales", "Support", "Product", "Operations", "Legal", "Marketing")
    ] or emp_list
    n_ext_orgs = max(8, n_emp // 2)
    for _ in range(n_ext_orgs):
        org_name, org_dom = company_name(rng)
        owner = int(rng.choice(workers))
        for _ in range(int(rng.integers(1, 4))):
            first, last = _person(rng)
            prof = AuthProfile.GOOD if rng.random() < 0.85 else AuthProfile.SLOPPY
            ext.append(
                ents.add(
                    f"{ascii_slug(first)}.{ascii_slug(last)}@{org_dom}",
                    f"{first} {last}",
                    first=first,
                    org=org_name,
                    profile=prof,
                )
            )
            owners.append(owner if rng.random() < 0.7 else int(rng.choice(workers)))
    ranks = rng.permutation(len(ext)) + 1
    ext_weight = 1.0 / ranks.astype(np.float64) ** 1.1

    vendors: list[Vendor] = []
    for _ in range(max(5, n_emp // 6)):
        v_name, v_dom = company_name(rng)
        prof = AuthProfile.GOOD if rng.random() < 0.8 else AuthProfile.SLOPPY
        box = str(rng.choice(["accounts", "billing", "ar", "invoices", "finance"]))
        billing = ents.add(f"{box}@{v_dom}", f"{v_name} Accounts", first=v_name, org=v_name, profile=prof)
        contacts = [billing]
        for _ in range(int(rng.integers(1, 3))):
            first, last = _person(rng)
            contacts.append(
                ents.add(
                    f"{ascii_slug(first)}.{ascii_slug(last)}@{v_dom}",
                    f"{first} {last}",
                    first=first,
                    org=v_name,
                    profile=prof,
                )
            )
        vendors.append(
            Vendor(
                v_name,
                v_dom,
                billing,
                contacts,
                int(rng.integers(0, 5)),
                float(rng.lognormal(0.0, 0.8)),
                prof,
            )
        )

    newsletters: list[tuple[int, np.ndarray, bool]] = []
    picks = rng.choice(len(vocab.NEWSLETTERS), size=int(rng.integers(8, 15)), replace=False)
    for k in sorted(picks.tolist()):
        brand, ndom = vocab.NEWSLETTERS[k]
        box = str(rng.choice(["newsletter", "news", "hello", "info", "deals"]))
        e = ents.add(
            f"{box}@{ndom}",
            brand,
            first=brand,
            org=brand,
            profile=AuthProfile.BULK,
            return_path=f"bounce-{slug}-{k}@{ndom}",
        )
        subs = rng.choice(emp, size=max(2, int(n_emp * rng.uniform(0.05, 0.5))), replace=False)
        urgent = (
            brand
            in ("Gadget Flash Sale", "Office Depot Deals", "TravelPerks", "Airline Miles", "Webinar Central")
            or rng.random() < 0.15
        )
        newsletters.append((e, np.sort(subs).astype(np.int32), urgent))
    saas = [ents.add(a, b, first=b, org=b, profile=AuthProfile.BULK) for b, a in vocab.SAAS]

    personal: list[tuple[int, int, np.ndarray]] = []
    for role in ["CEO", "CFO"] if rng.random() < 0.6 else ["CEO"]:
        ex = executives[role]
        first, last = ents.name[ex].split(" ", 1)
        fm = str(rng.choice(["gmail.com", "icloud.com", "outlook.com", "yahoo.com"]))
        addr = f"{ascii_slug(first)}.{ascii_slug(last)}{int(rng.integers(10, 99))}@{fm}"
        pe = ents.add(addr, ents.name[ex], first=first, org="", profile=AuthProfile.FREEMAIL)
        rec = [ex, *assistants, *[executives[r] for r in roles if r != role][:2], *finance[:1]]
        personal.append((ex, pe, np.array(rec, dtype=np.int32)))

    prospects = [company_name(rng) for _ in range(max(40, n_emp // 2))]
    prospects += [("", f) for f in vocab.FREEMAIL[:5]]  # freelancers and small shops write from free-mail
    return Org(
        tenant=domain.split(".")[0],
        company=company,
        domain=domain,
        tz_hours=tz,
        currency=currency,
        ents=ents,
        employees=emp,
        activity=activity,
        dept=dept,
        executives=executives,
        assistants=assistants,
        finance=finance,
        it_staff=it_staff,
        helpdesk=helpdesk,
        contacts_off=c_off,
        contacts_val=c_val,
        contacts_cum=c_cum,
        ext=np.array(ext, dtype=np.int32),
        ext_weight=ext_weight,
        ext_owner=np.array(owners, dtype=np.int32),
        vendors=vendors,
        newsletters=newsletters,
        saas=saas,
        personal=personal,
        prospect_domains=prospects,
    )
