"""The built-in message signals, one small function each (registered in file order).

Context-dependent signals return their documented *unknown* value when the tenant context
is not available (see :mod:`graphdet.rules.context`): never a value that raises an alarm.
Lists (free-mail, shorteners, extensions) come from ``lists.yaml``; thresholds live in the
rules, so signals return counts, similarities and distances rather than verdicts.
"""

from __future__ import annotations

import ipaddress
import itertools
import operator
import re
from collections.abc import Iterable, Sequence

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from graphdet.rules.context import NameTable, References, TenantContext, fold_name
from graphdet.rules.memo import TableMemo
from graphdet.rules.nameindex import NameIndex
from graphdet.rules.registry import signal
from graphdet.rules.text import decode_domain, is_mixed_script, skeleton
from graphdet.rules.view import MessageView, host_of, registrable
from graphdet.schema import AuthResult, Direction

__all__ = ["INDEXED_NAMES", "MAX_LINK_DOMAINS", "MAX_LOOKALIKE", "MIN_SIMILARITY", "NO_LOOKALIKE",
           "lookalike_distance", "prepare"]

NO_LOOKALIKE = 99
"""Look-alike distance when there is no candidate (unknown context, known or internal domain)."""
MAX_LOOKALIKE = 4
"""Look-alike distances above this are reported as :data:`NO_LOOKALIKE` (rules test <= 2)."""

_FAILS = frozenset({AuthResult.FAIL, AuthResult.SOFTFAIL, AuthResult.PERMERROR})
_DIGIT_IN_WORD = re.compile(r"[a-z][0-9]|[0-9][a-z]")
# byte -> 2 for an ASCII capital, 1 for another ASCII letter, 0 otherwise (letters counted in C)
_LETTER_CLASS = bytes(2 if b < 128 and chr(b).isupper() else 1 if b < 128 and chr(b).isalpha() else 0
                      for b in range(256))
MAX_LINK_DOMAINS = 64
"""``url_lookalike_distance`` compares a message's first this many distinct link domains."""
MIN_SIMILARITY = 70
"""Display-name similarities below this are reported as 0: not alike (rules test >= 85)."""
_MIN_NAME = 4  # folded display names shorter than this are too ambiguous to compare
_REF_CACHE: dict[int, tuple[TenantContext, References]] = {}
_NAME_CACHE: dict[tuple[int, bool], tuple[TenantContext, NameTable]] = {}
# answers per context and table (see graphdet.rules.memo): a tenant's senders and link domains
# repeat. At most 128 x 1,024 answers each (~40 MB at worst, far less in practice).
_NAME_MEMO: TableMemo[tuple[str, str], tuple[float, str]] = TableMemo(max_owners=128, max_entries=1024)
_LOOKALIKE_MEMO: TableMemo[str, tuple[int, int]] = TableMemo(max_owners=128, max_entries=1024)
INDEXED_NAMES = 256
"""Name tables of at least this many names are searched through a :class:`NameIndex`."""
# one index per context and table kind (entry 0; max_entries=2 so that holding it never clears
# it): 24 bytes a name plus 2 per remembered key length (16 at most), ~1 MB for 18,000 names,
# for at most 128 contexts, like the answers above
_INDEX_MEMO: TableMemo[int, NameIndex] = TableMemo(max_owners=128, max_entries=2)


# ----------------------------------------------------------------------------- context


@signal("context_available", "the tenant context is known (else context signals hold their quiet value)")
def _context_available(v: MessageView) -> bool:
    return v.available


# ------------------------------------------------------------------------- structure


@signal("body_length", "characters in the body text", int)
def _body_length(v: MessageView) -> int:
    return len(v.msg.body)


@signal("recipient_count", "addresses in To and Cc", int)
def _recipient_count(v: MessageView) -> int:
    return len(v.msg.to) + len(v.msg.cc)


@signal("is_reply", "the message answers another (In-Reply-To, References or a Re: subject)")
def _is_reply(v: MessageView) -> bool:
    return bool(v.msg.in_reply_to or v.msg.references) or v.msg.subject.lower().lstrip().startswith(("re:", "aw:"))


@signal("subject_caps_ratio", "share of the subject's letters that are capitals", float)
def _subject_caps(v: MessageView) -> float:
    subject = v.msg.subject
    if subject.isascii():  # count in C: map each byte to its letter class, count the classes
        classes = subject.encode("ascii").translate(_LETTER_CLASS)
        letters = len(classes) - classes.count(0)
        capitals = classes.count(2)
    else:
        letters = sum(map(str.isalpha, subject))
        capitals = sum(map(str.isupper, subject))
    return capitals / letters if letters >= 8 else 0.0


@signal("exclamation_count", "exclamation marks in subject and body", int)
def _exclamations(v: MessageView) -> int:
    return v.exclamations  # counted by the phrase scan


@signal("subject_spaced_letters", "the subject spells words with spaced letters (p a y m e n t)")
def _spaced(v: MessageView) -> bool:
    return v.spaced


@signal("text_mixed_script", "subject or body words mix scripts (Latin with Cyrillic/Greek look-alikes)")
def _mixed_text(v: MessageView) -> bool:
    subject, body = v.msg.subject, v.msg.body[:2000]
    if subject.isascii() and body.isascii():
        return False
    # the non-ASCII words of the subject and the body's first 2,000 characters: a word never
    # spans a line break, so only the lines holding non-ASCII characters are split
    return any(is_mixed_script(w) for line in (subject, *body.split("\n")) if not line.isascii()
               for w in line.split() if not w.isascii())


@signal("direction_internal", "the message stays inside the tenant (internal sender and recipients)")
def _dir_internal(v: MessageView) -> bool:
    return v.msg.direction is Direction.INTERNAL


# ------------------------------------------------------------------------------ URLs


@signal("url_count", "links in the body", int)
def _url_count(v: MessageView) -> int:
    return len(v.links)


def _is_ip(host: str) -> bool:
    if not host or not (host[0].isdigit() or host[0] == "["):
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


@signal("url_ip_host", "links whose host is a bare IP address", int)
def _url_ip(v: MessageView) -> int:
    if not v.links:
        return 0
    return sum(_is_ip(link.host) for link in v.links)


@signal("url_shortener", "links through a URL shortener (lists.yaml url_shorteners)", int)
def _url_short(v: MessageView) -> int:
    if not v.links:
        return 0
    short = v.lexicon.lists["url_shorteners"]
    return sum(link.host in short or link.domain in short for link in v.links)


@signal("url_punycode", "links whose host is punycode (xn--) or non-ASCII", int)
def _url_puny(v: MessageView) -> int:
    if not v.links:
        return 0
    return sum("xn--" in link.host or not link.host.isascii() for link in v.links)


@signal("url_anchor_mismatch", "links whose visible text names another domain than the target", int)
def _url_anchor(v: MessageView) -> int:
    n = 0
    for link in v.links:
        anchor = link.anchor.strip().lower()
        if "." not in anchor or " " in anchor or _is_ip(link.host):
            n += _anchor_names_url(anchor) and _is_ip(link.host)
            continue
        shown = host_of(anchor if "://" in anchor else "http://" + anchor)
        if shown and "." in shown and registrable(shown) != link.domain:
            n += 1
    return n


def _anchor_names_url(anchor: str) -> bool:
    return anchor.startswith(("http://", "https://", "www."))


@signal("url_credential_path", "links whose path or host has login words (lists.yaml credential_url_words)", int)
def _url_cred(v: MessageView) -> int:
    if not v.links:
        return 0
    search = v.lexicon.credential_url.search
    return sum(search(link.url.lower()) is not None for link in v.links)


@signal("url_domain_new", "links to domains never seen in the tenant (0 without context)", int)
def _url_new(v: MessageView) -> int:
    if not v.available or not v.links:
        return 0
    known = {h: v.ctx.knows_link_domain(h) for h in {link.host for link in v.links}}  # links repeat hosts
    return sum(not known[link.host] for link in v.links)


@signal("url_external", "links to domains that are not the tenant's own (0 without context)", int)
def _url_external(v: MessageView) -> int:
    if not v.available or not v.links:
        return 0
    internal = {h: v.ctx.is_internal_domain(h) for h in {link.host for link in v.links}}
    return sum(not internal[link.host] for link in v.links)


@signal("url_lookalike_distance",
        "smallest look-alike distance of a link domain to an internal or correspondent domain (99: none within 4)", int)
def _url_lookalike(v: MessageView) -> int:
    if not v.links or not v.available:
        return NO_LOOKALIKE
    # the first MAX_LINK_DOMAINS distinct domains, in link order: each is compared with every
    # reference domain, and one message with 2,000 link domains after a tenant had learnt
    # 20,000 correspondents took 3 s
    domains = itertools.islice(dict.fromkeys(link.domain for link in v.links), MAX_LINK_DOMAINS)
    return min((lookalike_distance(v.ctx, d) for d in domains), default=NO_LOOKALIKE)


# ----------------------------------------------------------------------- attachments


def _extensions(name: str) -> list[str]:
    return [p for p in name.lower().strip().rstrip(".").split(".")[1:] if p]


def _count_ext(v: MessageView, list_name: str) -> int:
    if not v.msg.attachments:
        return 0
    wanted = v.lexicon.lists[list_name]
    return sum(bool(ext := _extensions(a.name)) and ext[-1] in wanted for a in v.msg.attachments)


@signal("attachment_count", "attachments", int)
def _att_count(v: MessageView) -> int:
    return len(v.msg.attachments)


@signal("attachment_executable", "attachments with an executable extension", int)
def _att_exe(v: MessageView) -> int:
    return _count_ext(v, "executable_extensions")


@signal("attachment_macro", "attachments with a macro-enabled Office extension", int)
def _att_macro(v: MessageView) -> int:
    return _count_ext(v, "macro_extensions")


@signal("attachment_archive", "attachments that are archives", int)
def _att_archive(v: MessageView) -> int:
    return _count_ext(v, "archive_extensions")


@signal("attachment_html", "attachments that are HTML/SVG pages", int)
def _att_html(v: MessageView) -> int:
    if not v.msg.attachments:
        return 0
    return _count_ext(v, "html_extensions") + sum(
        a.content_type == "text/html" and not _extensions(a.name) for a in v.msg.attachments
    )


@signal("attachment_document", "attachments that are documents (PDF, Office without macros)", int)
def _att_doc(v: MessageView) -> int:
    return _count_ext(v, "document_extensions")


@signal("attachment_double_extension", "attachments named like doc.pdf.exe (a document extension, then another)", int)
def _att_double(v: MessageView) -> int:
    if not v.msg.attachments:
        return 0
    docs = v.lexicon.lists["document_extensions"]
    return sum(len(ext := _extensions(a.name)) >= 2 and ext[-2] in docs and ext[-1] not in docs
               for a in v.msg.attachments)


# ------------------------------------------------------------------- authentication


@signal("spf_fail", "SPF fail, softfail or permerror")
def _spf_fail(v: MessageView) -> bool:
    return v.msg.auth.spf in _FAILS


@signal("spf_none", "no SPF result")
def _spf_none(v: MessageView) -> bool:
    return v.msg.auth.spf is AuthResult.NONE


@signal("dkim_fail", "DKIM fail or permerror")
def _dkim_fail(v: MessageView) -> bool:
    return v.msg.auth.dkim in _FAILS


@signal("dkim_none", "no DKIM result")
def _dkim_none(v: MessageView) -> bool:
    return v.msg.auth.dkim is AuthResult.NONE


@signal("dmarc_fail", "DMARC fail")
def _dmarc_fail(v: MessageView) -> bool:
    return v.msg.auth.dmarc in _FAILS


@signal("dmarc_none", "no DMARC result")
def _dmarc_none(v: MessageView) -> bool:
    return v.msg.auth.dmarc is AuthResult.NONE


@signal("auth_pass", "SPF, DKIM and DMARC all pass")
def _auth_pass(v: MessageView) -> bool:
    a = v.msg.auth
    return a.spf is AuthResult.PASS and a.dkim is AuthResult.PASS and a.dmarc is AuthResult.PASS


# -------------------------------------------------------------------------- headers


def _related(a: str, b: str) -> bool:
    return a == b or registrable(a) == registrable(b)


@signal("reply_to_differs", "Reply-To domain differs from the From domain")
def _reply_differs(v: MessageView) -> bool:
    return bool(v.reply_domain) and not _related(v.reply_domain, v.from_domain)


@signal("reply_to_freemail", "Reply-To is a free-mail address on another domain than From")
def _reply_free(v: MessageView) -> bool:
    return bool(_reply_differs(v)) and v.reply_domain in v.lexicon.lists["freemail_domains"]


@signal("reply_to_domain_new", "Reply-To domain differs from From and is new to the tenant (false without context)")
def _reply_new(v: MessageView) -> bool:
    return v.available and bool(_reply_differs(v)) and not v.ctx.knows_domain(v.reply_domain)


@signal("return_path_differs", "Return-Path domain differs from the From domain")
def _rp_differs(v: MessageView) -> bool:
    return bool(v.return_domain) and not _related(v.return_domain, v.from_domain)


@signal("sender_freemail", "From is a free-mail address (lists.yaml freemail_domains)")
def _sender_free(v: MessageView) -> bool:
    return v.from_domain in v.lexicon.lists["freemail_domains"]


@signal("sender_internal", "From is on one of the tenant's domains (false without context)")
def _sender_internal(v: MessageView) -> bool:
    return v.from_internal


@signal("sender_known", "From address sent mail in the tenant before (false without context)")
def _sender_known(v: MessageView) -> bool:
    return v.available and v.ctx.sender_known(v.msg.from_.addr)


@signal("sender_domain_new", "From domain never seen in the tenant (false without context)")
def _sender_new(v: MessageView) -> bool:
    return v.available and not v.from_known


@signal("sender_domain_punycode", "From domain is punycode (xn--) or non-ASCII")
def _sender_puny(v: MessageView) -> bool:
    return "xn--" in v.from_domain or not v.from_domain.isascii()


@signal("from_name_has_address", "the display name holds an address on another domain than From")
def _name_addr(v: MessageView) -> bool:
    name = v.msg.from_.name.lower()
    at = name.find("@")
    if at < 0:
        return False
    dom = name[at + 1 :].split()[0].strip(">)\"'") if name[at + 1 :].split() else ""
    return bool(dom) and "." in dom and not _related(dom, v.from_domain)


# --------------------------------------------------------------------- impersonation


def _name_match(v: MessageView, execs_only: bool) -> tuple[float, str]:
    """Best rapidfuzz ratio of the display name against internal (or executives') names, and
    the name matched; computed once per message."""
    cache_key = "exec" if execs_only else "any"
    hit = v.cache.get(cache_key)
    if hit is None:
        hit = v.cache[cache_key] = _name_match_memo(v, execs_only)
    return hit


def _name_table(ctx: TenantContext, execs_only: bool) -> NameTable:
    """Comparable internal names (and their addresses) of ``ctx``: the context's own
    ``name_table`` when it has one (StaticContext, the live TenantState: the same object
    until a name changes), else built here and cached for the last few contexts."""
    own = getattr(ctx, "name_table", None)
    if own is not None:
        live: NameTable = own(execs_only, _MIN_NAME)
        return live
    key = (id(ctx), execs_only)
    cached = _NAME_CACHE.get(key)
    if cached is not None and cached[0] is ctx:
        return cached[1]
    execs = set(ctx.executive_addresses()) if execs_only else None
    items = [(n, addrs) for n, addrs in ctx.internal_display_names().items()
             if len(n) >= _MIN_NAME and (execs is None or any(a in execs for a in addrs))]
    table = (tuple(n for n, _ in items), tuple(a for _, a in items))
    if len(_NAME_CACHE) > 4:
        _NAME_CACHE.clear()
    _NAME_CACHE[key] = (ctx, table)
    return table


def _name_match_memo(v: MessageView, execs_only: bool) -> tuple[float, str]:
    """:func:`_name_match_uncached`, remembered per (display name, sender address) for as
    long as the context hands over the same name table object (senders repeat)."""
    ctx = v.ctx
    if v.from_internal or not v.available:
        return 0.0, ""
    table = _name_table(ctx, execs_only)
    if not table[0]:
        return 0.0, ""
    answers = _NAME_MEMO.answers((id(ctx), execs_only), table)
    sender = v.msg.from_
    key = (sender.name, sender.addr)
    hit = answers.get(key)
    if hit is None:
        hit = answers[key] = _match_name(sender.name, sender.addr, table, _name_index(ctx, execs_only, table))
    return hit


def _name_index(ctx: TenantContext, execs_only: bool, table: NameTable) -> NameIndex | None:
    """The :class:`NameIndex` of a table of at least :data:`INDEXED_NAMES` names (None below):
    the context's own ``name_index`` when it has one (the live TenantState, which patches it
    with its table), else one per context and table kind, a new table drops the old one."""
    if len(table[0]) < INDEXED_NAMES:
        return None
    own = getattr(ctx, "name_index", None)
    if own is not None:
        current, index = own(execs_only, _MIN_NAME)
        if current is table:  # (a caller holding an older table gets that table's index below)
            found: NameIndex = index
            return found
    kept = _INDEX_MEMO.answers((id(ctx), execs_only), table)
    built = kept.get(0)
    if built is None:
        built = kept[0] = NameIndex(table[0])
    return built


def prepare(ctx: TenantContext) -> None:
    """Build what the display-name and look-alike signals derive from ``ctx`` (its internal
    and executives' name tables, their indexes, its look-alike references) now, not in the
    first decision that needs them. For a tenant of 18,000 internal names and 8,600 domains
    the first external sender paid ~45 ms for the name tables and index, and the first unknown
    domain ~22 ms for the references; a snapshot load or hot swap starts each tenant afresh, and
    the engine calls this for every tenant when it loads one."""
    if not ctx.available:
        return
    for execs_only in (False, True):
        _name_index(ctx, execs_only, _name_table(ctx, execs_only))
    _references(ctx)


def _name_match_uncached(v: MessageView, execs_only: bool) -> tuple[float, str]:
    """The display-name match computed from scratch (the reference the memo is tested against)."""
    ctx = v.ctx
    if not v.available or v.from_internal:
        return 0.0, ""
    return _match_name(v.msg.from_.name, v.msg.from_.addr, _name_table(ctx, execs_only))


def _match_name(display_name: str, addr: str, table: NameTable, index: NameIndex | None = None) -> tuple[float, str]:
    """The best ratio of ``display_name`` with a name in ``table`` not used by ``addr``; with the
    table's ``index``, only the names that can reach :data:`MIN_SIMILARITY` are scored (the same
    answer: they keep their table order, so equal scores rank as before)."""
    names, addrs = table
    key = fold_name(display_name)
    if len(key) < _MIN_NAME or not names:
        return 0.0, ""
    picked: list[int] | None = None
    choices: Sequence[str] = names
    if index is not None:
        picked = index.candidates(key, MIN_SIMILARITY).tolist()
        choices = operator.itemgetter(*picked)(names) if len(picked) > 1 else [names[i] for i in picked]
    # the best few: the very best may be the sender's own name (then it is no impersonation)
    for name, score, i in process.extract(key, choices, scorer=fuzz.ratio, limit=3, score_cutoff=MIN_SIMILARITY):
        if addr not in addrs[i if picked is None else picked[i]]:
            return float(score), name
    return 0.0, ""


@signal("display_name_internal_similarity",
        "external sender's display name vs the closest internal person's name, 70-100 (0: below 70 or no context)",
        float)
def _dn_internal(v: MessageView) -> float:
    return _name_match(v, False)[0]


@signal("display_name_exec_similarity",
        "external sender's display name vs the closest executive's name, 70-100 (0: below 70 or no context)", float)
def _dn_exec(v: MessageView) -> float:
    return _name_match(v, True)[0]


@signal("display_name_spoofed", "display name equals an internal name only after folding homoglyphs/digits")
def _dn_spoofed(v: MessageView) -> bool:
    score, _ = _name_match(v, False)
    name = v.msg.from_.name
    return score == 100.0 and (is_mixed_script(name) or bool(_DIGIT_IN_WORD.search(name.lower())))


def _references(ctx: TenantContext) -> References:
    """The look-alike references of ``ctx``: the context's own ``lookalike_references`` when it
    has one (StaticContext; the live TenantState keeps lists that only grow, by appending, as
    domains appear), else built here and cached for the last context."""
    own = getattr(ctx, "lookalike_references", None)
    if own is not None:
        live: References = own()
        return live
    cached = _REF_CACHE.get(id(ctx))
    if cached is not None and cached[0] is ctx:
        return cached[1]
    domains: Iterable[str] = [*ctx.correspondent_domains(), *ctx.tenant_domains()]
    refs = tuple(sorted({d.lower() for d in domains}))
    table = (refs, tuple(skeleton(decode_domain(d)) for d in refs))
    _REF_CACHE.clear()  # keep one context: serving uses one per tenant at a time
    _REF_CACHE[id(ctx)] = (ctx, table)
    return table


def lookalike_distance(ctx: TenantContext, domain: str) -> int:
    """Edit distance between the skeleton of ``domain`` and the closest internal or
    correspondent domain's skeleton; 0 means visually identical (homoglyphs, punycode);
    :data:`NO_LOOKALIKE` when the domain is itself known/internal, nothing is known, or no
    reference is within :data:`MAX_LOOKALIKE` edits (then it looks like none of them; the cut
    lets rapidfuzz skip most references on their length alone)."""
    if not ctx.available or not domain or ctx.knows_domain(domain) or ctx.is_internal_domain(domain):
        return NO_LOOKALIKE
    return _closest_reference(ctx, domain)


def _closest_reference(ctx: TenantContext, domain: str) -> int:
    """The look-alike distance of a domain that is neither known nor internal, remembered
    per domain with the number of references it was compared with. The references are the
    same sequence object until replaced, and it only grows by appending (see
    :func:`_references`): a grown sequence is compared from where it was left."""
    skeletons = _references(ctx)[1]
    n = len(skeletons)
    if not n:
        return NO_LOOKALIKE
    answers = _LOOKALIKE_MEMO.answers(id(ctx), skeletons)
    hit = answers.get(domain)
    if hit is not None and hit[0] == n:
        return hit[1]
    if hit is not None and hit[0] < n:  # references were added since: compare only those
        best = min(hit[1], _closest(domain, skeletons[hit[0] : n]))
    else:
        best = _closest(domain, skeletons)
    answers[domain] = (n, best)
    return best


def _closest(domain: str, skeletons: Sequence[str]) -> int:
    """Edit distance of ``domain``'s skeleton to the closest of ``skeletons`` (NO_LOOKALIKE beyond MAX_LOOKALIKE)."""
    best = process.extractOne(skeleton(decode_domain(domain)), skeletons, scorer=Levenshtein.distance,
                              score_cutoff=MAX_LOOKALIKE)
    return int(best[1]) if best is not None else NO_LOOKALIKE


@signal("sender_domain_lookalike_distance",
        "edit distance of the From domain to the closest known domain, after folding (99: none within 4 / unknown)",
        int)
def _sender_lookalike(v: MessageView) -> int:
    # not from_known with a context: the From domain is neither known nor internal
    if v.from_known or not v.available or not v.from_domain:
        return NO_LOOKALIKE
    return _closest_reference(v.ctx, v.from_domain)


@signal("reply_to_lookalike_distance",
        "edit distance of the Reply-To domain to the closest known domain, after folding (99: none within 4 / unknown)",
        int)
def _reply_lookalike(v: MessageView) -> int:
    return lookalike_distance(v.ctx, v.reply_domain) if v.reply_domain and v.reply_domain != v.from_domain \
        else NO_LOOKALIKE
