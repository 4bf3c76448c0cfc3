"""Seeded synthetic tenants and attack campaigns: graphdet's embedded default data.

``generate(SynthConfig(seed=...))`` returns a :class:`GeneratedLog` (messages in
``MESSAGE_SCHEMA``, labels in ``LABEL_SCHEMA``, tenant specs, campaigns, per-message kinds);
:func:`write_generated` writes it as a message-log folder; :func:`write_mbox` and
:func:`write_eml_dir` render messages as RFC 5322 mail for ingest tests.
"""

from __future__ import annotations

from graphdet.synth.config import SynthConfig
from graphdet.synth.generate import (
    CAMPAIGN_SCHEMA,
    KIND_SCHEMA,
    GeneratedLog,
    generate,
    generate_to,
    iter_tenants,
    write_generated,
)
from graphdet.synth.render import attachment_bytes, render_message, write_eml_dir, write_mbox

__all__ = [
    "CAMPAIGN_SCHEMA",
    "KIND_SCHEMA",
    "GeneratedLog",
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
