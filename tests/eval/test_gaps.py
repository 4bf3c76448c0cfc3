"""Capability gaps: a stream with planted weaknesses, and the gaps that name them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from graphdet.combiner import Combiner
from graphdet.eval import EvalSet, capability_gaps
from graphdet.eval.gaps import short_name

NAMES = ["sender_reciprocity", "rcpt_first_contact_share", "sig_url_domain_new", "sig_phrase_credential",
         "sig_phrase_invoice", "sig_url_anchor_mismatch", "sig_reply_to_differs", "sig_body_length"]
COL = {n: j for j, n in enumerate(NAMES)}


def _rows(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    """Feature rows of one kind of message (the generator of this toy world)."""
    x = np.zeros((n, len(NAMES)))
    x[:, COL["sender_reciprocity"]] = rng.uniform(0.3, 1.0, n)
    x[:, COL["rcpt_first_contact_share"]] = rng.uniform(0.0, 0.2, n)
    x[:, COL["sig_body_length"]] = rng.integers(100, 2000, n)
    if kind == "it_notice":  # internal IT: a new login link and credential words, from a trusted account
        x[:, COL["sig_url_domain_new"]] = 1
        x[:, COL["sig_phrase_credential"]] = rng.integers(1, 3, n)
    elif kind == "vendor_invoice":  # invoices from vendors the recipient knows (some bill from another address)
        x[:, COL["sig_phrase_invoice"]] = rng.integers(1, 3, n)
        x[:, COL["sig_reply_to_differs"]] = rng.random(n) < 0.2
    elif kind in ("vendor_fraud", "new_vendor_invoice"):  # a first invoice from an unknown sender
        x[:, COL["sig_phrase_invoice"]] = rng.integers(1, 3, n)
        x[:, COL["rcpt_first_contact_share"]] = 1.0
        x[:, COL["sender_reciprocity"]] = rng.uniform(0.0, 0.1, n)
        x[:, COL["sig_reply_to_differs"]] = kind == "vendor_fraud"  # fraud wants the answer elsewhere
    elif kind in ("lateral", "lateral_trusted"):  # credential lure with a disguised link from an internal account
        x[:, COL["sig_url_domain_new"]] = 1
        x[:, COL["sig_phrase_credential"]] = rng.integers(1, 3, n)
        x[:, COL["sig_url_anchor_mismatch"]] = 1
        x[:, COL["sender_reciprocity"]] = rng.uniform(0.0, 0.2, n) if kind == "lateral" else rng.uniform(0.7, 1.0, n)
    return x


def _world(rng: np.random.Generator, mix: dict[str, tuple[int, str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, truth, kinds = [], [], []
    for kind, (n, label) in mix.items():
        xs.append(_rows(rng, n, kind))
        truth += [label] * n
        kinds += [kind] * n
    return np.vstack(xs), np.array(truth), np.array(kinds)


@pytest.fixture(scope="module")
def evaluated() -> tuple[EvalSet, Combiner]:
    """A model trained on a world without two kinds of message, decided on one with them."""
    rng = np.random.default_rng(0)
    # training never shows a lateral attack from a high-reciprocity account, nor a new vendor's invoice
    train = {"safe": (3000, "safe"), "it_notice": (150, "safe"), "vendor_invoice": (300, "safe"),
             "vendor_fraud": (150, "vendor_fraud"), "lateral": (150, "lateral_phishing")}
    x, y, _ = _world(rng, train)
    xv, yv, _ = _world(rng, train)
    model = Combiner(num_boost_round=60, min_data_in_leaf=10, seed=0).fit(x, y, xv, yv, feature_names=NAMES)
    test = {**train, "lateral_trusted": (40, "lateral_phishing"), "new_vendor_invoice": (25, "safe")}
    xt, yt, kt = _world(rng, test)
    score = model.predict_proba(xt)
    category = model.predict_category(xt)
    flagged = np.array([s >= model.thresholds_[c] for s, c in zip(score, category, strict=True)])
    frame = pd.DataFrame({
        "message_id": [f"m{i}" for i in range(len(xt))], "tenant": "t", "score": score, "truth": yt, "kind": kt,
        "category": np.where(flagged, category, "safe"), "flagged": flagged,
        "verdict": np.where(flagged, "malicious", "safe"), "rule_hits": [()] * len(xt), "day": "2026-03-01",
    })
    return EvalSet(frame, xt, np.ones(len(xt), dtype=bool), tuple(NAMES), "toy", pa.table({})), model


def test_the_planted_weaknesses_are_the_largest_named_gaps(evaluated: tuple[EvalSet, Combiner]) -> None:
    es, model = evaluated
    frame = es.frame
    missed = frame[(frame["kind"] == "lateral_trusted") & ~frame["flagged"]]
    false_alarms = frame[(frame["kind"] == "new_vendor_invoice") & frame["flagged"]]
    assert len(missed) >= 30 and len(false_alarms) >= 15  # the weaknesses are really there
    gaps = capability_gaps(es, model)
    fn = [g for g in gaps if g.kind == "false negative"]
    fp = [g for g in gaps if g.kind == "false positive"]
    top_fn, top_fp = fn[0], fp[0]
    assert top_fn.name == "lateral_phishing attacks (mostly lateral_trusted) missed: sender reciprocity is high"
    assert (top_fn.category, top_fn.feature, top_fn.side) == ("lateral_phishing", "sender_reciprocity", "high")
    assert top_fn.count >= 0.8 * len(missed)
    assert {frame.at[i, "kind"] for i in top_fn.rows} == {"lateral_trusted"}
    # what tells them from the safe mail they hide among: the disguised link
    assert top_fn.separating[0]["feature"] == "sig_url_anchor_mismatch" and top_fn.separating[0]["auc"] == 1.0
    assert top_fp.name.startswith("safe mail (mostly new_vendor_invoice) as vendor_fraud flagged: ")
    assert top_fp.feature in ("rcpt_first_contact_share", "sender_reciprocity", "sig_phrase_invoice")
    assert top_fp.count >= 0.8 * len(false_alarms)
    assert top_fp.separating[0]["feature"] == "sig_reply_to_differs"  # fraud wants the answer elsewhere
    assert "toward attack" in top_fp.explanation and "toward safe" in top_fn.explanation
    assert all(e in set(frame["message_id"]) for e in top_fn.examples) and len(top_fn.examples) == 3
    assert sum(g.count for g in fn) == int((es.attack & ~es.flagged).sum())


def test_short_names() -> None:
    assert short_name("pair_msgs_max_log") == "pair msgs max"
    assert short_name("sig_reply_to_differs") == "reply to differs"
    assert short_name("rule_BEC_GIFT_CARD") == "rule BEC_GIFT_CARD"
