"""Behaviour and numbers of the synthetic generator (default config unless stated)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

import graphdet.synth as synth
from graphdet.exceptions import GeneratorError
from graphdet.messagelog import LABEL_SCHEMA, MESSAGE_SCHEMA, read_labels, read_messages
from graphdet.schema import Category
from graphdet.synth import GeneratedLog, SynthConfig, generate, write_generated
from graphdet.synth.lookalike import edit_distance
from graphdet.synth.text_attack import FAMILIES
from graphdet.tenants import load_tenant_config

ATTACKS = [c.value for c in Category if c.is_attack]


@pytest.fixture(scope="module")
def log() -> GeneratedLog:
    return generate(SynthConfig(seed=0))


@pytest.fixture(scope="module")
def df(log: GeneratedLog) -> pd.DataFrame:
    m = log.messages.select(
        [
            "tenant",
            "message_id",
            "received_at",
            "from_addr",
            "from_name",
            "to",
            "cc",
            "reply_to_addr",
            "body",
            "subject",
            "spf",
            "dkim",
            "in_reply_to",
            "references",
            "direction",
        ]
    ).to_pandas()
    lab = log.labels.to_pandas()
    kinds = log.kinds.to_pandas()
    assert (lab["message_id"].values == m["message_id"].values).all()
    assert (kinds["message_id"].values == m["message_id"].values).all()
    m["category"], m["campaign_id"], m["kind"] = (
        lab["category"].values,
        lab["campaign_id"].values,
        kinds["kind"].values,
    )
    m["rcpts"] = [
        [a["addr"] for a in t] + [a["addr"] for a in c] for t, c in zip(m["to"], m["cc"], strict=True)
    ]
    m["from_domain"] = m["from_addr"].str.rsplit("@", n=1).str[1]
    return m


def _small() -> SynthConfig:
    return SynthConfig(seed=3, tenants=2, days=10, employees=20)


# ------------------------------------------------------------------- API, schema, determinism


def test_public_api_is_all() -> None:
    assert sorted(synth.__all__) == [
        "CAMPAIGN_SCHEMA",
        "GeneratedLog",
        "KIND_SCHEMA",
        "SynthConfig",
        "attachment_bytes",
        "generate",
        "generate_to",
        "iter_tenants",
        "render_message",
        "write_eml_dir",
        "write_generated",
        "write_mbox",
    ]
    assert all(hasattr(synth, name) for name in synth.__all__)


def test_bad_options_raise_generator_error() -> None:
    with pytest.raises(GeneratorError, match="attack_share"):
        SynthConfig(attack_share=0.9)
    with pytest.raises(GeneratorError, match="employees"):
        SynthConfig(employees=3)
    with pytest.raises(GeneratorError, match="start"):
        SynthConfig(start="05/01/2026")


def test_same_seed_same_tables_different_seed_differs() -> None:
    a, b, c = (
        generate(_small()),
        generate(_small()),
        generate(SynthConfig(seed=4, tenants=2, days=10, employees=20)),
    )
    for name in ("messages", "labels", "campaigns", "kinds"):
        assert getattr(a, name).equals(getattr(b, name)), name
    assert not a.messages.equals(c.messages)
    assert a.tenants == b.tenants


def test_written_files_byte_identical(tmp_path: Path) -> None:
    a, b = (
        write_generated(generate(_small()), tmp_path / "a"),
        write_generated(generate(_small()), tmp_path / "b"),
    )
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file() and p.name != "log.json")
    assert {str(f) for f in files} >= {
        "labels.parquet",
        "campaigns.parquet",
        "kinds.parquet",
        "tenants.yaml",
        "messages/part-00000.parquet",
    }
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    msgs, labels = read_messages(a), read_labels(a)
    assert msgs.num_rows == labels.num_rows > 0
    cfg = load_tenant_config(a / "tenants.yaml")
    assert len(cfg.tenants) == 2 and all(t.executives for t in cfg.tenants)


def test_schema_labels_ids_times(log: GeneratedLog) -> None:
    m, lab = log.messages, log.labels
    assert m.schema.equals(MESSAGE_SCHEMA) and lab.schema.equals(LABEL_SCHEMA)
    assert m.num_rows == lab.num_rows
    assert lab["message_id"].equals(m["message_id"])
    ids = m["message_id"].to_pylist()
    assert len(set(ids)) == len(ids)
    assert set(lab["source"].to_pylist()) == {"synth"}
    t = m["received_at"].to_pandas()
    start = pd.Timestamp(log.config.start, tz="UTC")
    assert t.min() >= start and t.max() < start + timedelta(days=log.config.days)
    keys = list(zip(t.dt.tz_convert(None).to_numpy(), ids, strict=False))
    assert keys == sorted(keys)
    safe = lab.filter(pa.compute.equal(lab["category"], "safe"))
    assert set(safe["campaign_id"].to_pylist()) == {""}


def test_size_formula_and_for_messages() -> None:
    cfg = SynthConfig.for_messages(30_000, seed=1, tenants=2, days=10)
    got = generate(cfg).messages.num_rows
    assert abs(got - 30_000) / 30_000 < 0.08
    assert abs(got - cfg.expected_messages()) / got < 0.08


# ----------------------------------------------------------------------------- distributions


def test_attack_share_matches_option(df: pd.DataFrame) -> None:
    scope = df[df["direction"].isin(["inbound", "internal"])]
    share = (scope["category"] != "safe").mean()
    assert share == pytest.approx(0.03, abs=0.006)
    high = generate(SynthConfig(seed=1, tenants=1, days=14, employees=40, attack_share=0.1))
    lab = high.labels.to_pandas()
    d = high.messages["direction"].to_pandas()
    assert (lab["category"][d.isin(["inbound", "internal"]).values] != "safe").mean() == pytest.approx(
        0.1, abs=0.015
    )


def test_every_category_has_campaigns_in_every_tenant(log: GeneratedLog) -> None:
    camps = log.campaigns.to_pandas()
    assert camps["campaign_id"].is_unique
    for t in camps["tenant"].unique():
        assert set(camps[camps["tenant"] == t]["category"]) == set(ATTACKS)


def test_campaigns_consistent_with_labels(log: GeneratedLog, df: pd.DataFrame) -> None:
    camps = log.campaigns.to_pandas().set_index("campaign_id")
    counts = df[df["category"] != "safe"].groupby("campaign_id").size()
    assert counts.to_dict() == camps["n_messages"].to_dict()
    cat = df[df["category"] != "safe"].groupby("campaign_id")["category"].agg(set)
    assert all(cat[c] == {camps.loc[c, "category"]} for c in cat.index)
    for category in ATTACKS:
        assert len(FAMILIES[category]) >= 3
        assert camps[camps["category"] == category]["template_family"].nunique() >= 3, category


def _pairs(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return {(s, r) for s, rs in zip(frame["from_addr"], frame["rcpts"], strict=False) for r in rs}


def test_reciprocity_internal_but_not_newsletters(df: pd.DataFrame) -> None:
    internal = _pairs(df[(df["direction"] == "internal") & (df["category"] == "safe")])
    recip = sum((r, s) in internal for s, r in internal) / len(internal)
    assert recip > 0.3
    news = _pairs(df[df["kind"].isin(["newsletter", "newsletter_urgent"])])
    everything = _pairs(df)
    assert news and not any((r, s) in everything for s, r in news)


def test_first_contacts_in_safe_inbound(df: pd.DataFrame) -> None:
    seen: set[tuple[str, str, str]] = set()
    first = total = 0
    for tenant, s, rs, d, c in zip(
        df["tenant"], df["from_addr"], df["rcpts"], df["direction"], df["category"], strict=False
    ):
        new = any((tenant, s, r) not in seen for r in rs)
        if d == "inbound" and c == "safe":
            total += 1
            first += new
        seen.update((tenant, s, r) for r in rs)
    assert 0.005 < first / total < 0.5


def test_weekends_quiet_and_heavy_tail(df: pd.DataFrame) -> None:
    day = df["received_at"].dt.floor("D")
    per_day = df.groupby(day).size()
    weekend = per_day[per_day.index.day_of_week >= 5]
    weekday = per_day[per_day.index.day_of_week < 5]
    assert weekend.mean() < 0.3 * weekday.mean()
    vol = df.groupby("from_addr").size().sort_values(ascending=False)
    top = vol.iloc[: max(1, len(vol) // 10)].sum() / vol.sum()
    assert top > 0.4


def test_threads_point_to_earlier_messages(df: pd.DataFrame) -> None:
    when = dict(zip(df["message_id"], df["received_at"], strict=False))
    replies = df[df["in_reply_to"].notna()]
    assert len(replies) > 0.1 * len(df)
    assert all(when[p] < t for p, t in zip(replies["in_reply_to"], replies["received_at"], strict=False))
    assert all(list(r)[-1] == p for p, r in zip(replies["in_reply_to"], replies["references"], strict=False))
    assert (replies["references"].map(len) == 2).any()
    assert (df["direction"] == "outbound").sum() > 0.05 * len(df)


def test_auth_results_varied(df: pd.DataFrame) -> None:
    safe_ext = df[(df["category"] == "safe") & (df["direction"] == "inbound")]
    assert (safe_ext["spf"] == "pass").mean() > 0.85
    assert (safe_ext["spf"] == "softfail").any() and (safe_ext["dkim"] == "none").any()
    for cat in ("vendor_fraud", "credential_phishing"):
        att = df[df["category"] == cat]
        assert (att["spf"] == "pass").any() and (att["spf"] != "pass").any(), cat


# --------------------------------------------------------------------------- hard negatives


def test_hard_negatives_exist_and_are_safe(log: GeneratedLog, df: pd.DataFrame) -> None:
    for kind in (
        "vendor_invoice",
        "vendor_bank_change",
        "it_password_notice",
        "newsletter_urgent",
        "exec_personal",
        "first_contact",
        "saas_notice",
    ):
        rows = df[df["kind"] == kind]
        assert len(rows) > 0 and set(rows["category"]) == {"safe"}, kind
    bank = df[df["kind"] == "vendor_bank_change"]
    assert bank["reply_to_addr"].isna().all() and bank["body"].str.contains("bank details|remittance").all()
    known = set(df[df["kind"] == "vendor_invoice"]["from_addr"])
    assert set(bank["from_addr"]) <= known | set(df[df["kind"] == "inbound_partner"]["from_addr"]) | set(
        bank["from_addr"]
    )
    it = df[df["kind"] == "it_password_notice"]
    assert (it["direction"] == "internal").all() and it["body"].str.contains("password").all()
    urgent = df[df["kind"] == "newsletter_urgent"]["body"].str.lower()
    assert (
        urgent.str.contains("urgent|hurry|last chance|running out").all()
        and urgent.str.contains("urgent").any()
    )
    start = pd.Timestamp(log.config.start, tz="UTC")
    for spec in log.tenants:
        execs = set(df[df["from_addr"].isin(spec.executives)]["from_name"])
        personal = df[(df["kind"] == "exec_personal") & (df["tenant"] == spec.name)]
        assert set(personal["from_name"]) <= execs
        for addr, g in personal.groupby("from_addr"):
            assert len(g) >= 4 and g["received_at"].min() < start + timedelta(days=3)
            assert not addr.endswith(spec.domains[0])


def test_no_single_word_separates(df: pd.DataFrame) -> None:
    safe = df[df["category"] == "safe"]["body"].str.lower()
    attack = df[df["category"] != "safe"]["body"].str.lower()
    for word in ("invoice", "urgent", "password", "payment", "bank"):
        assert safe.str.contains(word).any() and attack.str.contains(word).any(), word


# ------------------------------------------------------------------------------- attacks


def test_bec_uses_exec_names_from_outside(log: GeneratedLog, df: pd.DataFrame) -> None:
    for spec in log.tenants:
        names = set(df[df["from_addr"].isin(spec.executives)]["from_name"])
        bec = df[(df["category"] == "bec") & (df["tenant"] == spec.name)]
        assert len(bec) and bec["from_name"].isin(names).all()
        assert not bec["from_domain"].eq(spec.domains[0]).any()
        assert (
            bec["from_domain"]
            .isin(
                [
                    "gmail.com",
                    "outlook.com",
                    "yahoo.com",
                    "hotmail.com",
                    "icloud.com",
                    "proton.me",
                    "gmx.de",
                    "aol.com",
                ]
            )
            .any()
        )


def _vendor_domains(df: pd.DataFrame, tenant: str) -> set[str]:
    return set(
        df[(df["tenant"] == tenant) & df["kind"].isin(["vendor_invoice", "vendor_bank_change"])][
            "from_domain"
        ]
    )


def test_lookalike_and_compromised_vendors(log: GeneratedLog, df: pd.DataFrame) -> None:
    for spec in log.tenants:
        vendors = _vendor_domains(df, spec.name)
        fraud = df[(df["category"] == "vendor_fraud") & (df["tenant"] == spec.name)]
        for dom in set(fraud["from_domain"]):
            assert dom not in vendors
            assert dom.startswith("xn--") or min(edit_distance(dom, v) for v in vendors) <= 2, dom
        comp = df[(df["category"] == "vendor_compromise") & (df["tenant"] == spec.name)]
        known = set(df[(df["tenant"] == spec.name) & (df["category"] == "safe")]["from_addr"])
        assert len(comp) and comp["from_addr"].isin(known).all() and comp["from_domain"].isin(vendors).all()
        rt_dom = comp["reply_to_addr"].str.rsplit("@", n=1).str[1]
        assert comp["reply_to_addr"].notna().all() and (rt_dom != comp["from_domain"]).all()


def test_lateral_phishing_goes_to_new_colleagues(df: pd.DataFrame) -> None:
    lat = df[df["category"] == "lateral_phishing"]
    assert len(lat) and (lat["direction"] == "internal").all()
    first_seen: dict[tuple[str, str], pd.Timestamp] = {}
    for s, rs, t in zip(df["from_addr"], df["rcpts"], df["received_at"], strict=False):
        for r in rs:
            first_seen.setdefault((s, r), t)
    for s, rs, t in zip(lat["from_addr"], lat["rcpts"], lat["received_at"], strict=False):
        assert all(first_seen[(s, r)] >= t for r in rs)
        assert (
            first_seen[(s, rs[0])] == t
            or Counter(zip(lat["from_addr"], lat["rcpts"].map(tuple), strict=False))[(s, tuple(rs))] > 1
        )


def test_phishing_and_malware_carry_their_payloads(log: GeneratedLog) -> None:
    m = log.messages.to_pandas()
    cat = log.labels["category"].to_pandas()
    cred = m[cat.values == "credential_phishing"]
    urls = [u for us in cred["urls"] for u in us]
    assert urls and all(u["anchor_text"] and u["anchor_text"] != u["url"] for u in urls)
    hosts = {u["url"].split("/")[2] for u in urls}
    assert any(h.replace(".", "").isdigit() for h in hosts) or any(
        "bit.ly" in h or "tinyurl" in h for h in hosts
    )
    mal = m[cat.values == "malware"]
    names = [a["name"] for atts in mal["attachments"] for a in atts]
    assert len(names) == len(mal)
    exts = defaultdict(int)
    for n in names:
        exts[n.rsplit(".", 1)[1]] += 1
    assert set(exts) & {"docm", "xlsm", "zip", "exe", "html", "js", "iso", "htm"}
