"""Signal extraction: registry, phrase matching, ordering, quiet values without context, snapshot context."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from graphdet.graph.columns import table_schema
from graphdet.graph.snapshot import SnapshotWriter, load_snapshot
from graphdet.rules import (
    EMPTY_CONTEXT,
    REGISTRY,
    SIGNAL_NAMES,
    SnapshotContext,
    TenantContext,
    extract,
    load_lexicon,
    resolve_signal,
    signal_names,
)
from graphdet.rules.signals import default_lexicon
from graphdet.schema import Address, Attachment, Message, Url

from .conftest import golden_message

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _msg(subject: str = "", body: str = "", **kw: object) -> Message:
    return Message("acme", "<m@x>", T0, Address("a@b.example", "A"), subject=subject, body=body, **kw)  # type: ignore[arg-type]


def test_every_signal_has_a_description_and_a_kind() -> None:
    assert SIGNAL_NAMES == tuple(REGISTRY)
    for spec in REGISTRY.values():
        assert spec.description and spec.kind in ("bool", "int", "float") and spec.fn is not None
    with pytest.raises(KeyError, match="among choices"):
        resolve_signal("nope")


def test_values_have_their_declared_kind_and_row_follows_the_order() -> None:
    s = extract(golden_message("phish_credential_links.eml"))
    names = signal_names(default_lexicon())
    assert list(s.values) == list(names)
    for name in SIGNAL_NAMES:
        kind = REGISTRY[name].kind
        assert type(s[name]).__name__ == kind, name
    row = s.row(names)
    assert row.dtype == np.float64 and row.shape == (len(names),)
    assert row[names.index("url_ip_host")] == 1.0


def test_phrases_match_whole_words_case_and_homoglyph_folded() -> None:
    lex = default_lexicon()
    assert lex.count_text("Please process the PAYMENT by WIRE TRANSFER")["payment"] == 2
    assert lex.count_text("Pаyment via wire\ntransfer")["payment"] == 1  # Cyrillic а, newline
    assert lex.count_text("invoiced and invoices")["invoice"] == 2  # prefix phrase invoic*
    assert lex.count_text("disconfidentiality")["secrecy"] == 0  # not inside another word
    assert lex.count_text("nothing to see")["payment"] == 0


def test_a_lone_surrogate_in_the_text_is_matched_as_a_replacement_not_an_error() -> None:
    """A library caller's str may hold a lone surrogate (JSON's "\\udcff"); the phrase scan
    encodes it as "?" instead of failing the message."""
    odd = extract(_msg("urgent gift card \udcff", "please buy gift cards \ud800 today"))
    plain = extract(_msg("urgent gift card ?", "please buy gift cards ? today"))
    assert odd.values == plain.values and odd["phrase_gift_card"] >= 2


def test_spaced_letters_in_the_subject_are_joined() -> None:
    s = extract(_msg(subject="G i f t  c a r d s needed now"))
    assert s["subject_spaced_letters"] is True and s["phrase_gift_card"] >= 1


def test_url_and_attachment_signals() -> None:
    m = _msg(
        urls=(Url("http://10.0.0.1/x"), Url("https://bit.ly/abc"), Url("https://xn--80ak6aa92e.com/"),
              Url("https://evil.example/login", "https://www.paypal.com")),
        attachments=(Attachment("a.pdf.exe", "application/octet-stream", 1, "0"),
                     Attachment("b.xlsm", "application/x", 1, "0"), Attachment("c.7z", "application/x", 1, "0")),
    )
    s = extract(m)
    assert (s["url_count"], s["url_ip_host"], s["url_shortener"], s["url_punycode"]) == (4, 1, 1, 1)
    assert s["url_anchor_mismatch"] == 1 and s["url_credential_path"] == 1
    assert (s["attachment_executable"], s["attachment_double_extension"], s["attachment_macro"],
            s["attachment_archive"]) == (1, 1, 1, 1)


def test_empty_context_is_a_tenant_context_and_quiet() -> None:
    assert isinstance(EMPTY_CONTEXT, TenantContext)
    s = extract(golden_message("bec_exec_freemail.eml"))
    quiet = {"sender_domain_new": False, "sender_known": False, "sender_internal": False, "url_domain_new": 0,
             "reply_to_domain_new": False, "display_name_exec_similarity": 0.0, "url_lookalike_distance": 99}
    assert {k: s[k] for k in quiet} == quiet


def test_lexicon_loads_from_a_folder(tmp_path: Path) -> None:
    (tmp_path / "phrases.yaml").write_text("families:\n  money:\n    phrases: [cash*, wire]\n")
    lists = {n: ["x"] for n in ("freemail_domains", "url_shorteners", "executable_extensions", "macro_extensions",
                                "archive_extensions", "html_extensions", "document_extensions",
                                "credential_url_words")}
    (tmp_path / "lists.yaml").write_text(json.dumps(lists))
    lex = load_lexicon(tmp_path)
    assert lex.families == ("money",) and lex.count_text("cashout by wire") == {"money": 2}


def _write_snapshot(root: Path) -> Path:
    rows = {
        "nodes": [{"tenant": "acme", "node": 0, "addr": "jane.doe@acme.com", "domain": "acme.com", "is_internal": True,
                   "first_seen": T0, "last_seen": T0, "msgs_sent": 3, "display_names": ["Jane Doe"]},
                  {"tenant": "acme", "node": 1, "addr": "billing@globalsupplies.com", "domain": "globalsupplies.com",
                   "is_internal": False, "first_seen": T0, "last_seen": T0, "msgs_sent": 2,
                   "display_names": ["Billing"]}],
        "domains": [{"tenant": "acme", "domain": "acme.com", "is_internal": True, "first_seen": T0, "last_seen": T0},
                    {"tenant": "acme", "domain": "globalsupplies.com", "is_internal": False, "first_seen": T0,
                     "last_seen": T0}],
        "display_names": [{"tenant": "acme", "name_key": "jane doe", "name": "Jane Doe", "addr": "jane.doe@acme.com",
                           "msgs": 3, "first_seen": T0, "last_seen": T0}],
    }
    with SnapshotWriter(root, "v1") as w:
        for table, items in rows.items():
            schema = table_schema(table)
            cols = {f.name: [r.get(f.name, 0 if f.type == pa.int64() else None) for r in items] for f in schema}
            w.write_table(f"tenants/acme/{table}.parquet", pa.table(cols, schema=schema))
        return w.publish({"tenants": {"acme": {"folder": "tenants/acme"}}})


def test_snapshot_context_reads_the_tables(tmp_path: Path) -> None:
    _write_snapshot(tmp_path / "snap")
    ctx = SnapshotContext.from_snapshot(load_snapshot(tmp_path / "snap"), "acme", executives=["jane.doe@acme.com"])
    assert ctx.available and ctx.is_internal_domain("mail.acme.com") and ctx.knows_domain("globalsupplies.com")
    assert ctx.sender_known("billing@globalsupplies.com") and not ctx.sender_known("x@globalsupplies.com")
    assert dict(ctx.internal_display_names()) == {"jane doe": ("jane.doe@acme.com",)}
    assert set(ctx.correspondent_domains()) == {"globalsupplies.com"}
    m = Message("acme", "<m@x>", T0, Address("boss@gmail.com", "Jane Doe"), body="wire transfer today")
    s = extract(m, ctx)
    assert s["display_name_exec_similarity"] == 100.0 and not s["sender_known"]
    assert extract(Message("acme", "<m@x>", T0, Address("ar@globalsuppl1es.com")), ctx)[
        "sender_domain_lookalike_distance"] == 0
