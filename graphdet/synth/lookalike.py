"""Lookalike domains of a real domain: the techniques vendor-fraud attackers register.

Every result differs from the original and is within edit distance 2 of it, except the
``punycode`` technique, whose result is an ``xn--`` IDN label (a Cyrillic letter in place of a
Latin one, which renders identically).
"""

from __future__ import annotations

import numpy as np

__all__ = ["TECHNIQUES", "edit_distance", "lookalike_domain"]

TECHNIQUES = ("letter_swap", "homoglyph", "hyphen", "tld_swap", "punycode")
_HOMO = (("rn", "m"), ("m", "rn"), ("l", "1"), ("o", "0"), ("i", "l"), ("w", "vv"), ("e", "3"))
_CYRILLIC = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441", "x": "\u0445"}
_TLD_NEAR = {
    "com": ("co", "cm", "om", "net"),
    "io": ("co", "ai", "is"),
    "net": ("nt", "com"),
    "de": ("dk", "be"),
    "co": ("com", "cc"),
    "uk": ("us",),
}


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (small strings; plain dynamic programming)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _candidate(domain: str, technique: str, rng: np.random.Generator) -> str:
    label, _, rest = domain.partition(".")
    if technique == "letter_swap" and len(label) > 3:
        i = int(rng.integers(1, len(label) - 1))
        return f"{label[:i]}{label[i + 1]}{label[i]}{label[i + 2 :]}.{rest}"
    if technique == "homoglyph":
        for a, b in rng.permutation(np.array(_HOMO, dtype=object)).tolist():
            if a in label:
                return f"{label.replace(a, b, 1)}.{rest}"
    if technique == "hyphen" and len(label) > 3:
        i = int(rng.integers(2, len(label) - 1))
        return f"{label[:i]}-{label[i:]}.{rest}"
    if technique == "tld_swap":
        tld = domain.rsplit(".", 1)[1]
        near = _TLD_NEAR.get(tld, ("com",))
        return f"{domain.rsplit('.', 1)[0]}.{near[int(rng.integers(0, len(near)))]}"
    if technique == "punycode":
        spots = [i for i, ch in enumerate(label) if ch in _CYRILLIC]
        if spots:
            i = spots[int(rng.integers(0, len(spots)))]
            idn = label[:i] + _CYRILLIC[label[i]] + label[i + 1 :]
            return f"{idn.encode('idna').decode('ascii')}.{rest}"
    # fallback: double a letter
    i = int(rng.integers(0, len(label)))
    return f"{label[:i]}{label[i]}{label[i:]}.{rest}"


def lookalike_domain(domain: str, rng: np.random.Generator) -> tuple[str, str]:
    """(technique, lookalike) for ``domain``; never equal to it."""
    technique = str(TECHNIQUES[int(rng.integers(0, len(TECHNIQUES)))])
    cand = _candidate(domain, technique, rng)
    ok = cand != domain and (cand.startswith("xn--") or edit_distance(cand, domain) <= 2)
    if not ok:
        technique = "letter_double"
        cand = _candidate(domain, technique, rng)
    return technique, cand
