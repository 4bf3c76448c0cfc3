"""HTML bodies to plain text and links, with selectolax's Lexbor parser (fast, HTML5)."""

from __future__ import annotations

import re
from html import unescape

from selectolax.lexbor import LexborHTMLParser

from graphdet.schema import Url

__all__ = ["find_bare_urls", "html_to_text", "normalize_space"]

_SPACE = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
# The rest of a bare link after its "://" or "www.": a run of non-space, non-bracket text, at
# most MAX_URL characters (each start is matched on its own, so "www." repeated 20,000 times
# made 20,000 matches to the end of an 80 KB body: 8 s)
MAX_URL = 2048
_URL_TAIL = re.compile(rf"""[^\s<>"'()\[\]{{}}]{{1,{MAX_URL}}}""")
MAX_BARE_URLS = 1_000
"""Bare URLs taken from one text body (the first ones): 250,000 ``www.`` in 1 MB took 6.5 s."""
# HTML with more tags than MAX_TAGS, or more unclosed ones than MAX_UNCLOSED_TAGS, is not handed
# to the parser (Lexbor takes ~7 s on 50,000 nested <div>s): :func:`_scan_html` reads it instead
MAX_TAGS = 10_000
MAX_UNCLOSED_TAGS = 5_000
_OPEN_TAG = re.compile(r"<[A-Za-z]")
_CLOSE_TAG = re.compile(r"</[A-Za-z]")
# a tag holds no "<": each match stops at the next one, so unclosed tags cost one pass, not n²
_ANY_TAG = re.compile(r"<[^<>]*>")
_A_TAG = re.compile(r"<a\s[^<>]*>", re.IGNORECASE)
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+))""", re.IGNORECASE)
_ANCHOR_WINDOW = 1_000  # characters after an <a> searched for its </a> (the anchor text)
_TRAILING_PUNCT = ".,;:!?"


def normalize_space(text: str) -> str:
    """Collapse runs of spaces, keep paragraph breaks, strip the ends."""
    text = _SPACE.sub(" ", text.replace("\r\n", "\n"))
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def html_to_text(html: str) -> tuple[str, list[Url]]:
    """Visible text of an HTML document and its links with their anchor text.

    Script, style and head content is dropped. Links are the ``href`` of every ``<a>`` with
    a non-empty target, in document order. A document with more than :data:`MAX_TAGS` tags
    or :data:`MAX_UNCLOSED_TAGS` unclosed ones is read by :func:`_scan_html` instead (closing
    tags can be faked inside comments: the total bounds what the parser is ever given).
    """
    if html.count("<") > MAX_UNCLOSED_TAGS:
        opens = len(_OPEN_TAG.findall(html))
        if opens > MAX_TAGS or opens - len(_CLOSE_TAG.findall(html)) > MAX_UNCLOSED_TAGS:
            return _scan_html(html)
    tree = LexborHTMLParser(html)
    for node in tree.css("script, style, head, title"):
        node.decompose()
    links: list[Url] = []
    for a in tree.css("a"):
        href = (a.attributes.get("href") or "").strip()
        if href and not href.startswith(("#", "mailto:", "javascript:")):
            links.append(Url(href, normalize_space(a.text(deep=True, separator=" ", strip=True))))
    for br in tree.css("br"):
        br.replace_with("\n")
    root = tree.body if tree.body is not None else tree.root
    text = root.text(deep=True, separator=" ") if root is not None else ""
    return normalize_space(text), links


def _scan_html(html: str) -> tuple[str, list[Url]]:
    """Text and links of HTML too big or too deeply nested for the parser, in linear passes:
    the text between the tags (entities decoded), and each ``<a>`` tag's ``href`` with the
    text up to its ``</a>`` (searched for within :data:`_ANCHOR_WINDOW` characters)."""
    links = []
    for m in _A_TAG.finditer(html):
        h = _HREF.search(m.group(0))
        href = next((g for g in h.groups() if g is not None), "").strip() if h else ""
        if href and not href.startswith(("#", "mailto:", "javascript:")):
            window = html[m.end() : m.end() + _ANCHOR_WINDOW]
            close = window.lower().find("</a")
            anchor = normalize_space(unescape(_ANY_TAG.sub(" ", window[:close]))) if close >= 0 else ""
            links.append(Url(unescape(href), anchor))
    return normalize_space(unescape(_ANY_TAG.sub(" ", html))), links


def find_bare_urls(text: str) -> list[Url]:
    """URLs written out in plain text (``http(s)://...`` or ``www....``), in order: the first
    :data:`MAX_BARE_URLS`, each at most :data:`MAX_URL` characters.

    Anchored on the literal ``://`` and ``www.`` with ``str.find`` (C speed), because a
    regex whose alternation has no literal prefix scans a 10 KB body ~5x slower.
    """
    starts: list[int] = []
    i = text.find("://")
    while i >= 0:
        if text[max(0, i - 5) : i].lower().endswith(("http", "https")):
            starts.append(i - (5 if text[i - 1] in "sS" else 4))
        i = text.find("://", i + 3)
    for www in ("www.", "WWW."):
        i = text.find(www)
        while i >= 0:
            if not text[max(0, i - 1) : i] == "/":
                starts.append(i)
            i = text.find(www, i + 4)
    out = []
    for start in sorted(starts):
        m = _URL_TAIL.match(text, start)
        if m is None:
            continue
        url = m.group(0).rstrip(_TRAILING_PUNCT)
        if len(url) > 8:
            out.append(Url(url, ""))
            if len(out) == MAX_BARE_URLS:
                break
    return out
