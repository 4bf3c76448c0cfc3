"""Per-message work shared by all signals, done once: folded text, phrase counts, URL hosts."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from graphdet.rules.context import TenantContext
from graphdet.rules.lexicon import Lexicon, scan_bytes
from graphdet.rules.text import normalize_text
from graphdet.schema import Message

__all__ = ["LinkInfo", "MessageView", "despace", "host_of", "registrable"]

_GAP = re.compile(r"\s{2,}")
# three single letters in a row, searched in " " + text (a leading literal lets re skip ahead)
_SPACED = re.compile(r" [^\W\d_] [^\W\d_] [^\W\d_](?: |$)")
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "ac", "edu", "ne", "or"})


def host_of(url: str) -> str:
    """The lower-case host of a URL ('' when it has none, e.g. mailto:)."""
    sep = url.find("://")
    if sep < 0:
        return ""
    rest = url[sep + 3 :]
    for stop in "/?#":
        cut = rest.find(stop)
        if cut >= 0:
            rest = rest[:cut]
    rest = rest.rpartition("@")[2]
    if rest.startswith("["):  # IPv6 literal
        return rest[: rest.find("]") + 1].lower()
    return rest.partition(":")[0].lower().rstrip(".")


@functools.lru_cache(maxsize=65536)
def registrable(domain: str) -> str:
    """The registrable part of a domain, approximately (last two labels, three under co.uk-style).
    Cached: senders' and links' domains repeat, and several signals and lookups ask."""
    labels = domain.split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def despace(text: str) -> str:
    """Join runs of three or more single letters: ``"p a y m e n t due"`` -> ``"payment due"``."""
    words = text.split(" ")
    out: list[str] = []
    run: list[str] = []
    for w in [*words, ""]:
        if len(w) == 1 and w.isalpha():
            run.append(w)
            continue
        if len(run) >= 3:
            out.append("".join(run))
        else:
            out.extend(run)
        run = []
        if w:
            out.append(w)
    return " ".join(out)


@dataclass(frozen=True, slots=True)
class LinkInfo:
    url: str
    anchor: str
    host: str  # as written (punycode stays xn--)
    domain: str  # registrable part of host


class MessageView:
    """A message with its tenant context and the derived values several signals share."""

    __slots__ = (
        "available", "cache", "ctx", "exclamations", "from_domain", "from_internal", "from_known", "lexicon", "links",
        "msg",
        "phrase_counts", "reply_domain", "return_domain", "spaced", "subject_despaced",
    )

    def __init__(self, msg: Message, ctx: TenantContext, lexicon: Lexicon) -> None:
        self.msg = msg
        self.ctx = ctx
        self.lexicon = lexicon
        self.from_domain = msg.from_.domain.lower()
        # asked by several signals: once per message (False without context)
        self.available = available = ctx.available
        self.from_internal = available and ctx.is_internal_domain(self.from_domain)
        self.from_known = self.from_internal or (available and ctx.knows_domain(self.from_domain))
        self.reply_domain = msg.reply_to.domain.lower() if msg.reply_to is not None else ""
        rp = msg.return_path or ""
        self.return_domain = rp[rp.rfind("@") + 1 :].lower() if "@" in rp else ""
        subject = normalize_text(msg.subject)
        # spaced-out words ("g i f t  c a r d"): a wider gap separates words
        if _SPACED.search(" " + subject):
            self.subject_despaced = " ".join(despace(normalize_text(g)) for g in _GAP.split(msg.subject) if g.strip())
        else:  # no run of three single letters: nothing to join
            self.subject_despaced = subject
        self.spaced = self.subject_despaced != subject
        self.cache: dict[str, tuple[float, str]] = {}
        head = (self.subject_despaced + " \n " + subject) if self.spaced else subject
        self.phrase_counts, bangs = lexicon.scan(scan_bytes(head + " \n " + msg.body))
        self.exclamations = bangs - self.subject_despaced.count("!") if self.spaced else bangs
        links = []
        for u in msg.urls:
            host = host_of(u.url)
            if host:
                links.append(LinkInfo(u.url, u.anchor_text, host, registrable(host)))
        self.links = tuple(links)
