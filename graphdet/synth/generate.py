"""Generate a synthetic message log: tenants, their traffic, attack campaigns, files.

Per tenant: org chart and correspondents (:mod:`~graphdet.synth.org`), legitimate traffic
(:mod:`~graphdet.synth.traffic`), replies, attack campaigns (:mod:`~graphdet.synth.attacks`),
then assembly into Arrow tables (:mod:`~graphdet.synth.assemble`). Each tenant draws from
its own random streams, so tenants are independent of each other's size.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from graphdet.exceptions import GeneratorError
from graphdet.messagelog import LABEL_SCHEMA, MESSAGE_SCHEMA, MessageLogWriter
from graphdet.synth.assemble import add_replies, directions, to_tables
from graphdet.synth.attacks import attack_batches, plan_campaigns
from graphdet.synth.config import SynthConfig
from graphdet.synth.frame import DAY_US, concat_batches
from graphdet.synth.org import build_org
from graphdet.synth.text_attack import FAMILIES
from graphdet.synth.traffic import Ctx, safe_traffic
from graphdet.tenants import TenantSpec, dump_tenant_config

__all__ = [
    "CAMPAIGN_SCHEMA",
    "KIND_SCHEMA",
    "GeneratedLog",
    "generate",
    "generate_to",
    "iter_tenants",
    "write_generated",
]

logger = logging.getLogger(__name__)

CAMPAIGN_SCHEMA = pa.schema(
    [
        pa.field("campaign_id", pa.string(), nullable=False),
        pa.field("tenant", pa.string(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("family", pa.string(), nullable=False),
        pa.field("template_family", pa.string(), nullable=False),
        pa.field("start", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("n_messages", pa.int64(), nullable=False),
    ]
)
KIND_SCHEMA = pa.schema(
    [pa.field("message_id", pa.string(), nullable=False), pa.field("kind", pa.string(), nullable=False)]
)


@dataclass(frozen=True)
class GeneratedLog:
    """A generated log: messages and labels (aligned row by row) plus what evaluation needs.

    ``campaigns`` lists every attack campaign (technique ``family`` and text
    ``template_family``, for holding whole families out); ``kinds`` names the generator of
    each message (``internal_thread``, ``vendor_invoice``, ``it_password_notice``, ``bec``, ...).
    """

    config: SynthConfig
    messages: pa.Table
    labels: pa.Table
    tenants: list[TenantSpec]
    campaigns: pa.Table
    kinds: pa.Table


def _tenant(cfg: SynthConfig, t: int, n_emp: int, counters: dict[str, int]) -> GeneratedLog:
    org = build_org(t, n_emp, cfg.seed)
    ctx = Ctx(org=org, cfg=cfg, rng=np.random.default_rng([cfg.seed, t, 1]))
    safe = add_replies(ctx, concat_batches(safe_traffic(ctx)))
    internal = np.array(org.ents.internal, bool)
    n_in = int(np.isin(directions(safe, internal), (0, 1)).sum())
    n_attack = round(cfg.attack_share / (1.0 - cfg.attack_share) * n_in)
    ctx.rng = np.random.default_rng([cfg.seed, t, 2])
    batches = [safe]
    campaigns = []
    if cfg.attack_share > 0:
        campaigns = plan_campaigns(ctx, n_attack, counters)
        rows = np.concatenate(
            [np.repeat(np.arange(len(safe)), safe.to_cnt), np.repeat(np.arange(len(safe)), safe.cc_cnt)]
        )
        keys = safe.sender[rows].astype(np.int64) << 32 | np.concatenate([safe.to_val, safe.cc_val]).astype(
            np.int64
        )
        pairs = set(np.unique(keys[internal[safe.sender[rows]]]).tolist())
        batches += attack_batches(ctx, campaigns, pairs)
    b = concat_batches(batches)
    tables = to_tables(ctx, b, t << 40, [c.id for c in campaigns])
    counts = np.bincount(b.campaign[b.campaign >= 0], minlength=len(campaigns))
    camp = pa.Table.from_arrays(
        [
            pa.array([c.id for c in campaigns], pa.string()),
            pa.array([org.tenant] * len(campaigns), pa.string()),
            pa.array([c.category for c in campaigns], pa.string()),
            pa.array([c.family for c in campaigns], pa.string()),
            pa.array([FAMILIES[c.category][c.template_family].id for c in campaigns], pa.string()),
            pa.array([cfg.start_us + c.start_day * DAY_US for c in campaigns], pa.timestamp("us", tz="UTC")),
            pa.array(counts.astype(np.int64)),
        ],
        schema=CAMPAIGN_SCHEMA,
    )
    spec = TenantSpec(org.tenant, (org.domain,), tuple(org.ents.addr[e] for e in org.executives.values()))
    logger.info(
        "tenant %s: %d employees, %d messages, %d campaigns",
        org.tenant,
        n_emp,
        tables["messages"].num_rows,
        len(campaigns),
    )
    return GeneratedLog(
        cfg, tables["messages"], tables["labels"], [spec], camp, tables["kinds"].cast(KIND_SCHEMA)
    )


def iter_tenants(config: SynthConfig | None = None) -> Iterator[GeneratedLog]:
    """One :class:`GeneratedLog` per tenant, each sorted by (received_at, message_id).

    Memory stays bounded by the largest tenant; use it (or :func:`generate_to`) for big logs.
    """
    cfg = config or SynthConfig()
    counters: dict[str, int] = {}
    for t, n_emp in enumerate(cfg.employee_counts()):
        yield _tenant(cfg, t, n_emp, counters)


def generate(config: SynthConfig | None = None) -> GeneratedLog:
    """Generate the whole log in memory, sorted by (received_at, message_id) across tenants."""
    parts = list(iter_tenants(config))
    if not parts:
        raise GeneratorError("no tenants to generate")
    msgs = pa.concat_tables([p.messages for p in parts])
    labels = pa.concat_tables([p.labels for p in parts])
    kinds = pa.concat_tables([p.kinds for p in parts])
    order = pc.sort_indices(
        msgs.select(["received_at", "message_id"]),
        sort_keys=[("received_at", "ascending"), ("message_id", "ascending")],
    )
    return GeneratedLog(
        parts[0].config,
        msgs.take(order).combine_chunks(),
        labels.take(order).combine_chunks(),
        [s for p in parts for s in p.tenants],
        pa.concat_tables([p.campaigns for p in parts]).combine_chunks(),
        kinds.take(order).combine_chunks(),
    )


def _write_extras(out: Path, specs: list[TenantSpec], campaigns: pa.Table, kinds: pa.Table) -> None:
    dump_tenant_config(specs, out / "tenants.yaml")
    pq.write_table(campaigns, out / "campaigns.parquet", compression="zstd")
    pq.write_table(kinds, out / "kinds.parquet", compression="zstd")


def write_generated(log: GeneratedLog, out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``log`` as a message log folder plus ``tenants.yaml``, ``campaigns.parquet``
    and ``kinds.parquet``.

    The same config gives byte-identical Parquet files (messages, labels, campaigns, kinds)
    and tenants.yaml; only ``log.json`` differs, by its ``written_at`` time.
    """
    out = Path(out_dir)
    if not (log.messages.schema.equals(MESSAGE_SCHEMA) and log.labels.schema.equals(LABEL_SCHEMA)):
        raise GeneratorError("GeneratedLog tables do not have the message-log / label schemas")
    with MessageLogWriter(out, overwrite=overwrite, created_by="graphdet generate") as w:
        w.write_table(log.messages)
        w.write_labels(log.labels)
        w.set_info(
            synth_config=log.config.to_dict(),
            tenants=[s.name for s in log.tenants],
            campaigns=log.campaigns.num_rows,
            sort_order="received_at, message_id",
        )
    _write_extras(out, log.tenants, log.campaigns, log.kinds)
    return out


def generate_to(config: SynthConfig, out_dir: str | Path, *, overwrite: bool = False) -> int:
    """Generate tenant by tenant straight to ``out_dir`` (bounded memory); returns messages.

    The messages are sorted within each tenant (parts of one tenant are contiguous), not
    across tenants; everything else is as :func:`write_generated`.
    """
    out = Path(out_dir)
    specs: list[TenantSpec] = []
    camps: list[pa.Table] = []
    kinds: list[pa.Table] = []
    n = 0
    with MessageLogWriter(out, overwrite=overwrite, created_by="graphdet generate") as w:
        for part in iter_tenants(config):
            w.write_table(part.messages)
            w.write_labels(part.labels)
            specs += part.tenants
            camps.append(part.campaigns)
            kinds.append(part.kinds)
            n += part.messages.num_rows
        w.set_info(
            synth_config=config.to_dict(),
            tenants=[s.name for s in specs],
            campaigns=sum(c.num_rows for c in camps),
            sort_order="tenant, received_at, message_id",
        )
    _write_extras(out, specs, pa.concat_tables(camps), pa.concat_tables(kinds))
    return n
