"""The records graphdet passes between its layers.

Everything here is a frozen, slotted dataclass: a parsed message is a value, never mutated
after ingest. Labels are deliberately *not* part of :class:`Message`; they live in their own
table (:class:`Label`, keyed by message id) so that no feature can read the answer.

Times are timezone-aware UTC ``datetime`` objects. Addresses are normalised by
:func:`normalize_addr` (lower case, no angle brackets, no surrounding whitespace); the domain
is kept as written (an IDN stays in Unicode and punycode stays ``xn--``), because the
difference between the two is itself a signal.
"""

from __future__ import annotations

import enum
from collections.abc import Container
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "Address",
    "Attachment",
    "AuthResult",
    "AuthResults",
    "Category",
    "Decision",
    "Direction",
    "Label",
    "Message",
    "Url",
    "Verdict",
    "listed_parent",
    "normalize_addr",
]


class Direction(enum.StrEnum):
    """Where a message travels relative to its tenant."""

    INBOUND = "inbound"  # external sender -> tenant
    INTERNAL = "internal"  # tenant -> tenant only
    OUTBOUND = "outbound"  # tenant -> at least one external recipient
    UNKNOWN = "unknown"  # no tenant config said which domains are internal


class AuthResult(enum.StrEnum):
    """Outcome of one authentication method (RFC 8601 result keywords, collapsed)."""

    PASS = "pass"
    FAIL = "fail"
    SOFTFAIL = "softfail"
    NEUTRAL = "neutral"
    NONE = "none"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"

    @classmethod
    def parse(cls, text: str | None) -> AuthResult:
        """Map a result keyword to the enum; anything unrecognised becomes NONE.

        ``hardfail`` (some MTAs) is FAIL; ``policy`` and ``bestguesspass`` are not a pass.
        """
        if not text:
            return cls.NONE
        word = text.strip().lower()
        if word == "hardfail":
            return cls.FAIL
        try:
            return cls(word)
        except ValueError:
            return cls.NONE


class Category(enum.StrEnum):
    """What a message is. SAFE is the negative class; everything else is an attack kind."""

    SAFE = "safe"
    BEC = "bec"  # executive / internal-person impersonation, payment or gift-card ask
    VENDOR_FRAUD = "vendor_fraud"  # lookalike domain of a known vendor, invoice / bank change
    VENDOR_COMPROMISE = "vendor_compromise"  # the real vendor account, new reply-to, bank change
    CREDENTIAL_PHISHING = "credential_phishing"
    LATERAL_PHISHING = "lateral_phishing"  # from a compromised internal account
    MALWARE = "malware"
    SPAM = "spam"

    @property
    def is_attack(self) -> bool:
        return self is not Category.SAFE


class Verdict(enum.StrEnum):
    """The final decision handed to the mail flow."""

    SAFE = "safe"
    SUSPICIOUS = "suspicious"
    MALICIOUS = "malicious"


def normalize_addr(addr: str) -> str:
    """Normalise an email address: strip brackets and whitespace, lower-case it.

    >>> normalize_addr("  <Jane.Doe@Example.COM> ")
    'jane.doe@example.com'
    """
    return addr.strip().strip("<>").strip().lower()


def listed_parent(domain: str, listed: Container[str]) -> str | None:
    """The nearest of ``domain`` and its parents (``a.b.com``, ``b.com``, ``com``; lower case,
    no trailing dot) that is in ``listed``, else None. A plain loop: routing and the rules'
    context ask this for every message.

    >>> listed_parent("Mail.Example.com.", {"example.com"})
    'example.com'
    """
    d = domain.lower().rstrip(".")
    while d:
        if d in listed:
            return d
        dot = d.find(".")
        if dot < 0:
            return None
        d = d[dot + 1 :]
    return None


@dataclass(frozen=True, slots=True)
class Address:
    """A mailbox: the normalised address and the display name it was shown with."""

    addr: str
    name: str = ""
    domain: str = field(init=False, repr=False, compare=False)
    """The part after the last ``@`` (empty when there is none); set once, read per signal."""

    def __post_init__(self) -> None:
        at = self.addr.rfind("@")
        object.__setattr__(self, "domain", self.addr[at + 1 :] if at >= 0 else "")

    @property
    def local(self) -> str:
        at = self.addr.rfind("@")
        return self.addr[:at] if at >= 0 else self.addr


@dataclass(frozen=True, slots=True)
class Url:
    """A link in the body; ``anchor_text`` is what the reader saw (empty for bare URLs)."""

    url: str
    anchor_text: str = ""


@dataclass(frozen=True, slots=True)
class Attachment:
    """Attachment metadata. The content itself is never kept, only its hash."""

    name: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class AuthResults:
    """SPF, DKIM, DMARC and ARC results as reported by the receiving MTA."""

    spf: AuthResult = AuthResult.NONE
    dkim: AuthResult = AuthResult.NONE
    dmarc: AuthResult = AuthResult.NONE
    arc: AuthResult = AuthResult.NONE


@dataclass(frozen=True, slots=True)
class Message:
    """One email as graphdet sees it, for one tenant.

    A message that reaches several tenants is one ``Message`` per tenant (same
    ``message_id``), because each tenant's graph and decision are separate.
    """

    tenant: str
    message_id: str
    received_at: datetime
    from_: Address
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    reply_to: Address | None = None
    return_path: str | None = None
    subject: str = ""
    body: str = ""
    urls: tuple[Url, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    auth: AuthResults = field(default_factory=AuthResults)
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    direction: Direction = Direction.UNKNOWN

    @property
    def recipients(self) -> tuple[Address, ...]:
        """To then Cc, in header order (duplicates kept as they appeared)."""
        return self.to + self.cc


@dataclass(frozen=True, slots=True)
class Label:
    """Ground truth for one message, kept apart from the message itself."""

    message_id: str
    category: Category
    campaign_id: str = ""  # empty for safe mail
    source: str = ""  # who said so: "synth", "analyst", "user_report", a corpus name


@dataclass(frozen=True, slots=True)
class Decision:
    """What graphdet decided for one message.

    ``score`` is the calibrated attack probability; ``reasons`` are human-readable;
    ``attribution`` lists (feature, exact contribution to the model margin) for the features
    that pushed toward "attack"; ``rule_hits`` the rules that fired; ``versions`` the snapshot,
    model, rules and feature-schema versions the decision used.
    """

    message_id: str
    tenant: str
    verdict: Verdict
    category: Category
    score: float
    reasons: tuple[str, ...] = ()
    attribution: tuple[tuple[str, float], ...] = ()
    rule_hits: tuple[str, ...] = ()
    degraded: bool = False
    degraded_reason: str = ""
    versions: tuple[tuple[str, str], ...] = ()
