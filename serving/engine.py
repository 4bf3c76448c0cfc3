"""DecisionEngine: what a decision service imports.

    from serving import DecisionEngine
    engine = DecisionEngine.load("artifacts/")          # what `graphdet train` wrote
    decision = engine.decide(message)                    # or decide_batch / decide_raw

**One code path.** Features come from the same :class:`~graphdet.features.FeatureBuilder` and
OnlineState that training replayed, scores from the same :class:`~graphdet.combiner.Decider`.

**Versions and hot swap.** Everything loaded together (snapshot, GNN arrays, model, rules,
policy) is one immutable *bundle*; every decision reads the bundle reference once, so it is
computed with one set of versions, which it records. :meth:`DecisionEngine.reload` builds a
new bundle when the artifacts changed (a rebuild published a new snapshot, training a new
model, someone edited the rules) and swaps the reference; decisions in flight finish on the
old one. Artifacts that do not load (broken rules), or that load more degraded than the
running bundle (a model or snapshot published half-written), leave the running bundle in place.
A new snapshot's tenants are prepared before the swap (name tables, name indexes, look-alike
references) and the load's garbage is collected, so the first decisions after a load do not
pay for either.

**Degraded modes.** A missing or corrupt snapshot, GNN or model does not stop decisions:
without a snapshot the tenants start cold (graph features unknown), without GNN arrays the
GNN features are unknown, without a model the rules decide alone (hard rules -> MALICIOUS,
high/critical rules -> SUSPICIOUS). Each such decision has ``degraded`` set with the reason.
A message that cannot be decided (no string id or tenant, a time outside the plausible years,
features that fail) gets an error decision (SAFE when failing open, the default, SUSPICIOUS
when failing closed) instead of an exception, and teaches the state nothing. With a tenant
config, a tenant neither it nor the snapshot names is decided cold, flagged, and not learnt.

**Feedback.** :meth:`record_feedback` takes a late label the way training's replay takes one:
an attack marks its recipients as attacked from the message's time on, which later messages to
them carry as a feature.

**Thread safety.** ``decide``, ``decide_batch`` and ``decide_raw`` may be called from many
threads: feature building and the state update run under one lock (each message sees every
earlier one), the booster call and the chronicle append run outside it.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from graphdet.combiner import Combiner, Decider, ReasonBook
from graphdet.exceptions import GraphdetError
from graphdet.features import FeatureBuilder, FeatureRow, OnlineState
from graphdet.graph.snapshot import Snapshot, load_snapshot, sha256_file
from graphdet.ingest import RecordError, parse_message
from graphdet.policy import Policy, load_policy
from graphdet.rules import RuleSet, load_rules, prepare
from graphdet.schema import Category, Decision, Message, Verdict
from graphdet.tenants import TenantConfig, load_tenant_config
from graphdet.versions import artifact_versions

__all__ = ["DecisionEngine", "ServingConfig"]

logger = logging.getLogger(__name__)

_SEVERE = ("high", "critical")


@dataclass(frozen=True)
class ServingConfig:
    """``learn``: update OnlineState after each decision. ``fail_open``: an undecidable
    message is SAFE (else SUSPICIOUS). ``chronicle``: folder of the decision log (None: off).
    ``top_k``: attributions a flagged decision carries. ``years``: a message received outside
    these years (inclusive; by default 1990-2100, those ingest takes from a Received or Date
    header) gets an error decision and teaches the state nothing (one message dated year 1
    would otherwise make its tenant look 2,000 years old)."""

    learn: bool = True
    fail_open: bool = True
    chronicle: Path | None = None
    top_k: int = 5
    years: tuple[int, int] = (1990, 2100)


@dataclass
class _Bundle:
    ruleset: RuleSet
    builder: FeatureBuilder
    decider: Decider | None
    state: OnlineState
    tenants: TenantConfig
    policy: Policy
    versions: tuple[tuple[str, str], ...]
    fingerprint: str
    degraded: tuple[str, ...] = ()
    snapshot_version: str = ""
    known_tenants: frozenset[str] | None = None  # None: no tenant config, any tenant is learnt


def _fingerprint(root: Path) -> str:
    """Changes whenever anything the engine loads changes (cheap: names, sizes, mtimes)."""
    h = hashlib.sha256()
    pointer = root / "snapshot" / "current"
    h.update(pointer.read_bytes() if pointer.exists() else b"-")
    for sub in ("model", "rules", "policy"):
        folder = root / sub
        for p in sorted(folder.glob("*")) if folder.is_dir() else []:
            st = p.stat()
            h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    for name in ("reasons.yaml", "tenants.yaml"):
        p = root / name
        if p.exists():
            st = p.stat()
            h.update(f"{name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _snapshot(root: Path, executives: dict[str, tuple[str, ...]]) -> tuple[OnlineState, str, list[str]]:
    """OnlineState from the artifacts' snapshot; a snapshot that does not load (of any shape)
    starts every tenant cold, GNN problems degrade only the GNN."""
    try:
        return _load_state(root, executives)
    except GraphdetError as e:
        return OnlineState({}), "", [f"snapshot unavailable ({e}); every tenant starts cold"]
    except Exception as e:  # a manifest or table of a shape no check foresaw: still no crash
        logger.exception("snapshot of %s does not load", root)
        return OnlineState({}), "", [f"snapshot unavailable ({root / 'snapshot'}: {type(e).__name__}: {e}); "
                                     "every tenant starts cold"]


def _load_state(root: Path, executives: dict[str, tuple[str, ...]]) -> tuple[OnlineState, str, list[str]]:
    snap = load_snapshot(root / "snapshot", verify=False)
    bad_tables: list[str] = []
    bad_gnn: list[str] = []
    for relpath, meta in snap.manifest["files"].items():
        f = snap.path / relpath
        ok = f.exists() and sha256_file(f) == meta["sha256"]
        if not ok:
            (bad_gnn if "gnn" in Path(relpath).name or relpath.startswith("gnn/") else bad_tables).append(relpath)
    if bad_tables:
        return OnlineState({}), "", [f"snapshot {snap.path} corrupt ({', '.join(bad_tables[:3])}); every tenant "
                                     "starts cold"]
    problems = []
    if bad_gnn or not snap.manifest.get("gnn"):
        manifest = dict(snap.manifest)
        manifest["gnn"] = None  # the state then leaves GNN features unknown
        snap = Snapshot(snap.path, manifest)
        problems.append(f"GNN unavailable ({', '.join(bad_gnn[:3]) or 'not in the snapshot'}); GNN signals unknown")
    state = OnlineState.from_snapshot(snap, executives=executives)
    return state, snap.version, problems


def _build(root: Path, previous: _Bundle | None = None, tenants: TenantConfig | None = None, *,
           top_k: int = 5) -> _Bundle:
    fingerprint = _fingerprint(root)
    if tenants is None:
        tenants = load_tenant_config(root / "tenants.yaml" if (root / "tenants.yaml").exists() else None)
    ruleset = load_rules(root / "rules")
    degraded: list[str] = []
    decider: Decider | None = None
    policy = load_policy(root / "policy" if (root / "policy").is_dir() else None)
    settings_error: GraphdetError | None = None
    try:
        builder = FeatureBuilder.for_model(ruleset, root / "model")  # the model's cold-start cut
    except GraphdetError as e:  # the model cannot be fed what it was trained on
        builder, settings_error = FeatureBuilder(ruleset), e
    try:
        if settings_error is not None:
            raise settings_error
        combiner = Combiner.load(root / "model")
        if tuple(combiner.feature_names_) != builder.schema.names:
            raise GraphdetError(
                f"model features ({len(combiner.feature_names_)}) do not match the rules' feature schema "
                f"{builder.schema.version} ({len(builder.schema.names)}): retrain after changing rules"
            )
        reasons = ReasonBook.load(root / "reasons.yaml", {r.id: r.description for r in ruleset.rules}, builder.schema)
        decider = Decider(combiner, policy, reasons, ruleset, top_k=top_k)
    except GraphdetError as e:
        degraded.append(f"model unavailable ({e}); rules decide alone")
    except Exception as e:  # a model folder of a shape no check foresaw (JSON of the wrong shape...)
        logger.exception("model of %s does not load", root)
        degraded.append(f"model unavailable ({root / 'model'}: {type(e).__name__}: {e}); rules decide alone")
    executives = {t.name: t.executives for t in tenants.tenants}
    snapshot_version = previous.snapshot_version if previous else ""
    if previous is not None and _pointer(root) == previous.snapshot_version != "":
        state = previous.state  # same snapshot: keep the live deltas learnt since
        degraded += [d for d in previous.degraded if d.startswith(("snapshot", "GNN"))]
    else:
        state, snapshot_version, problems = _snapshot(root, executives)
        degraded += problems
        _prepare(state)
    versions = artifact_versions(root, snapshot=snapshot_version, model_loaded=decider is not None,
                                 rules=ruleset.version, features=builder.schema.version)
    if decider is not None:
        decider.versions = versions
    for d in degraded:
        logger.warning("degraded: %s", d)
    # with a tenant config, a message for a tenant it does not name (nor the snapshot) is decided
    # cold and teaches nothing: a misrouted or forged tenant must not grow the state
    known = frozenset(t.name for t in tenants.tenants) | frozenset(state.tenants) if tenants.configured else None
    return _Bundle(ruleset, builder, decider, state, tenants, policy, versions, fingerprint, tuple(degraded),
                   snapshot_version, known)


def _prepare(state: OnlineState) -> None:
    """Build each tenant's name tables, name indexes and look-alike references before the
    state serves (see :func:`graphdet.rules.prepare`); a failure only leaves it to the first
    decision that needs them."""
    for tenant, st in state.tenants.items():
        try:
            prepare(st)
        except Exception:
            logger.exception("preparing the signal tables of tenant %s failed; its first decisions build them", tenant)


def _collect() -> None:
    """One full garbage collection after a snapshot load. The load leaves hundreds of thousands
    of new objects for the collector; left to itself, it scanned them all in one of the first
    decisions (~150 ms for a 1M-edge tenant), and the next full collection now waits for the
    heap to grow by a quarter. At :meth:`DecisionEngine.load` nothing is decided yet; after a
    hot swap the collection holds the GIL like the one it replaces, so decisions on other
    threads wait for it (and it also scans the old state if decisions in flight still hold it)."""
    gc.collect()


def _pointer(root: Path) -> str:
    """The snapshot version ``snapshot/current`` names ("" when missing or unreadable)."""
    try:
        return (root / "snapshot" / "current").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _degradation(reason: str) -> str:
    """The kind of a degradation: what is unavailable ("snapshot", "GNN", "model")."""
    return reason.split(" ", 1)[0]


def _text(value: object, what: str) -> str:
    """``value`` if it is a string, else a placeholder naming its type (error decisions only)."""
    return value if isinstance(value, str) else f"<invalid {what}: {type(value).__name__}>"


def _stranger(tenant: str) -> str:
    return f"tenant {tenant!r} is in neither the tenant config nor the snapshot: decided cold, not learnt"


@dataclass
class _Pending:
    message: Message
    row: FeatureRow | None = None
    error: str = ""
    stranger: bool = False  # a tenant the artifacts do not know


class DecisionEngine:
    """Loads an artifacts folder and decides messages; see the module docstring."""

    def __init__(self, root: Path, bundle: _Bundle, config: ServingConfig) -> None:
        self.root = root
        self.config = config
        self._bundle = bundle
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._tenants_override: TenantConfig | None = None
        self._refused = ""  # fingerprint of artifacts a reload would not take
        self.reloads_refused = 0  # reloads that kept the running bundle (artifacts broken or more degraded)
        self.chronicle_failures = 0  # decisions the chronicle could not take (each logged)
        self.chronicle: Any = None
        if config.chronicle is not None:
            from serving.chronicle import DecisionLog

            # no fixed feature names: a hot swap may change the schema; each row records its
            # feature-schema version instead
            self.chronicle = DecisionLog(config.chronicle)
            self.chronicle.open()

    @classmethod
    def load(
        cls, artifacts: str | Path, *, config: ServingConfig | None = None, tenants: TenantConfig | None = None
    ) -> DecisionEngine:
        """Load and verify everything in ``artifacts`` (what ``graphdet train`` writes).

        ``tenants`` overrides the artifacts' ``tenants.yaml`` (which domains are whose).
        Invalid rules, policy or tenant config raise (nothing sensible can be decided);
        a missing or corrupt snapshot, GNN or model degrades, with the reason logged.
        """
        root = Path(artifacts)
        if not root.is_dir():
            raise GraphdetError(f"artifacts folder {root} does not exist")
        config = config or ServingConfig()
        engine = cls(root, _build(root, tenants=tenants, top_k=config.top_k), config)
        _collect()  # (first: buffers it frees go back with the rest)
        pa.default_memory_pool().release_unused()  # the snapshot's load buffers (~40 MB on a 1M-edge tenant)
        engine._tenants_override = tenants
        return engine

    @property
    def tenant_config(self) -> TenantConfig:
        """Which domains belong to which tenant (used by :meth:`decide_raw`)."""
        return self._bundle.tenants

    # ------------------------------------------------------------------ versions / reload

    @property
    def versions(self) -> dict[str, str]:
        return dict(self._bundle.versions)

    @property
    def degraded(self) -> tuple[str, ...]:
        return self._bundle.degraded

    def reload(self) -> bool:
        """Swap in a new bundle if the artifacts changed; True if swapped.

        The current bundle stays, and the reason is logged, when the new artifacts do not load
        (e.g. broken rules) or load *more degraded* than the current ones (a model or snapshot
        published half-written or corrupt): a bad publish must not turn a working model into
        rules alone. The same artifacts are not tried again until they change."""
        with self._reload_lock:
            current = self._bundle
            fingerprint = _fingerprint(self.root)
            if fingerprint in (current.fingerprint, self._refused):
                return False
            try:
                new = _build(self.root, previous=current, tenants=self._tenants_override, top_k=self.config.top_k)
            except Exception as e:
                if not isinstance(e, GraphdetError):
                    logger.exception("reload of %s raised", self.root)
                logger.error("reload of %s failed, keeping versions %s: %s", self.root, dict(current.versions), e)
                self._refused = fingerprint
                self.reloads_refused += 1
                return False
            worse = [d for d in new.degraded if _degradation(d) not in {_degradation(c) for c in current.degraded}]
            if worse:
                logger.error("reload of %s refused, keeping versions %s: the new artifacts are degraded: %s",
                             self.root, dict(current.versions), "; ".join(worse))
                self._refused = new.fingerprint
                self.reloads_refused += 1
                return False
            self._bundle = new  # one reference assignment: atomic for readers
            self._refused = ""
            logger.info("hot-swapped to %s", dict(new.versions))
            if new.state is not current.state:
                del current  # (the old state goes when the decisions in flight finish with it)
                _collect()
            return True

    # ------------------------------------------------------------------ deciding

    def _malformed(self, m: Message) -> str:
        """Why ``m`` cannot be decided as given ("" when it can): the fields a decision and the
        chronicle are keyed on, and a plausible time (checked before the state sees it)."""
        if not isinstance(m, Message):
            return f"malformed message: expected a Message, got {type(m).__name__}"
        if not isinstance(m.message_id, str):
            return f"malformed message: message_id must be a string, got {type(m.message_id).__name__}"
        if not isinstance(m.tenant, str):
            return f"malformed message {m.message_id!r}: tenant must be a string, got {type(m.tenant).__name__}"
        t = m.received_at
        if not isinstance(t, datetime) or t.tzinfo is None:  # (runs per message: no utcoffset() call)
            return f"malformed message {m.message_id!r}: received_at must be a timezone-aware datetime, got {t!r:.60}"
        first, last = self.config.years
        if not first <= t.year <= last:
            return (f"implausible received_at {t.isoformat()} of message {m.message_id!r}: not in the years "
                    f"{first}-{last}")
        return ""

    def decide(self, message: Message) -> Decision:
        """One message: :meth:`decide_batch` of ``[message]`` (the same decision) without the
        batch's bookkeeping."""
        bundle = self._bundle  # read once: one set of versions
        row: FeatureRow | None = None
        problem = self._malformed(message)
        if problem:
            d = self._invalid_decision(message, f"error: {problem}", bundle)
        else:
            known = bundle.known_tenants
            stranger = known is not None and message.tenant not in known
            try:
                if stranger:  # decided cold on a state of its own, learnt by none
                    row = bundle.builder.one(message, OnlineState({}), learn=False)
                else:
                    with self._lock:
                        row = bundle.builder.one(message, bundle.state, learn=self.config.learn)
            except Exception as e:
                logger.exception("cannot build features of %s", message.message_id)
                d = self._error_decision(message.message_id, message.tenant, f"error: {type(e).__name__}: {e}",
                                         bundle)
            else:
                try:
                    d = (bundle.decider.decide_one(message, row) if bundle.decider is not None
                         else self._rules_only(message, row, bundle))
                except Exception as e:
                    logger.exception("scoring failed for %s", message.message_id)
                    d = self._error_decision(message.message_id, message.tenant,
                                             f"error: scoring failed: {type(e).__name__}: {e}", bundle)
                else:
                    reasons = (*bundle.degraded, _stranger(message.tenant)) if stranger else bundle.degraded
                    if reasons:
                        d = replace(d, degraded=True, degraded_reason="; ".join(reasons))
        self._chronicle(d, message, row)
        return d

    def decide_raw(self, raw: bytes) -> list[Decision]:
        """Parse RFC 5322 bytes, assign tenants from the artifacts' tenant config, decide.

        One decision per tenant the message reaches; an unparseable message gives one error
        decision (never an exception), chronicled like any other.
        """
        bundle = self._bundle
        try:
            messages = parse_message(raw, bundle.tenants)
        except Exception as e:  # RecordError: what the parser says; anything else is its bug, not a crash
            if not isinstance(e, RecordError):
                logger.exception("parsing a raw message failed")
            mid = "<unparsed-" + hashlib.sha256(raw).hexdigest()[:16] + ">"
            why = str(e) if isinstance(e, RecordError) else f"parser error {type(e).__name__}: {e}"
            d = self._error_decision(mid, "", f"unparseable message: {why}", bundle)
            self._record(d, None, None)
            return [d]
        return self.decide_batch(messages)

    def decide_batch(self, messages: Sequence[Message]) -> list[Decision]:
        """Decide several messages with one booster call; state learns them in order."""
        bundle = self._bundle  # read once: one set of versions for the whole batch
        pending = [_Pending(m) for m in messages]
        for p in pending:
            problem = self._malformed(p.message)
            if problem:
                p.error = f"error: {problem}"
        known = bundle.known_tenants
        valid: list[_Pending] = []
        strangers: list[_Pending] = []
        for p in pending:
            if not p.error:
                (strangers if known is not None and p.message.tenant not in known else valid).append(p)
        with self._lock:
            self._rows(bundle, valid, bundle.state, self.config.learn)
        if strangers:  # decided cold on a state of their own, learnt by none
            self._rows(bundle, strangers, OnlineState({}), False)
            for p in strangers:
                p.stranger = True
        ok = [p for p in pending if p.row is not None]
        decided: dict[int, Decision] = {}
        try:
            if bundle.decider is not None:
                ds = bundle.decider.decide([p.message for p in ok], [p.row for p in ok if p.row is not None])
            else:
                ds = [self._rules_only(p.message, p.row, bundle) for p in ok if p.row is not None]
            decided = {id(p): d for p, d in zip(ok, ds, strict=True)}
        except Exception as e:
            logger.exception("scoring failed for a batch of %d", len(ok))
            for p in ok:
                p.error = f"error: scoring failed: {type(e).__name__}: {e}"
        out: list[Decision] = []
        for p in pending:
            d = decided.get(id(p))
            if d is None:
                d = self._invalid_decision(p.message, p.error or "error: undecided", bundle)
            elif bundle.degraded or p.stranger:
                reasons = (*bundle.degraded, _stranger(p.message.tenant)) if p.stranger else bundle.degraded
                d = replace(d, degraded=True, degraded_reason="; ".join(reasons))
            out.append(d)
            self._chronicle(d, p.message, p.row)
        return out

    @staticmethod
    def _rows(bundle: _Bundle, group: list[_Pending], state: OnlineState, learn: bool) -> None:
        """Feature rows of ``group`` from ``state``, in order; a failure is that message's error."""
        errors: dict[int, str] = {}
        rows = bundle.builder.rows([p.message for p in group], state, learn=learn, errors=errors)
        for i, (p, row) in enumerate(zip(group, rows, strict=True)):
            p.row = row
            if i in errors:
                p.error = f"error: {errors[i]}"

    def _chronicle(self, d: Decision, m: Message, row: FeatureRow | None) -> None:
        if self.chronicle is None:
            return
        t = getattr(m, "received_at", None)
        self._record(d, t if isinstance(t, datetime) and t.utcoffset() is not None else None, row)

    def _record(self, d: Decision, received_at: datetime | None, row: FeatureRow | None) -> None:
        """Append ``d`` to the chronicle (``received_at`` None: not known, the decision time is
        recorded). A chronicle failure is logged loudly; the decision stands."""
        if self.chronicle is None:
            return
        now = datetime.now(UTC)
        try:
            self.chronicle.append(d, received_at=received_at or now, decided_at=now,
                                  features=row.values if row is not None else None)
        except Exception as e:
            self.chronicle_failures += 1
            logger.error("chronicle append failed for %s: %s: %s", d.message_id, type(e).__name__, e,
                         exc_info=not isinstance(e, GraphdetError))

    def record_feedback(self, message: Message, category: Category | str) -> bool:
        """Late feedback: ``message`` turned out to be ``category``. An attack marks its
        recipients as attacked from the message's time on, as training's replay does when a
        label arrives (the ``rcpt_attacked_before`` feature of later messages to them); a safe
        verdict changes nothing. True if the state took it. An unknown category raises
        :class:`GraphdetError`. A new snapshot starts the tenants afresh, labels included, as it
        does the other live deltas."""
        try:
            cat = Category(category)
        except ValueError:
            raise GraphdetError(f"unknown category {category!r}; one of {[c.value for c in Category]}") from None
        if not cat.is_attack:
            return False
        bundle = self._bundle
        with self._lock:
            bundle.state.tenant(message.tenant).record_label(message, cat)
        return True

    def _rules_only(self, m: Message, row: FeatureRow, bundle: _Bundle) -> Decision:
        rules = {r.id: r for r in bundle.ruleset.rules}
        hit = [rules[h] for h in row.hits if h in rules]
        hard = [r for r in hit if r.hard]
        severe = [r for r in hit if r.severity in _SEVERE]
        if hard:
            verdict, cat, score = Verdict.MALICIOUS, Category(hard[0].category), 1.0
        elif severe:
            verdict, cat, score = Verdict.SUSPICIOUS, Category(severe[0].category), 0.5
        else:
            verdict, cat, score = Verdict.SAFE, Category.SAFE, 0.0
        return Decision(
            message_id=m.message_id, tenant=m.tenant, verdict=verdict, category=cat, score=score,
            reasons=tuple(f"rule {r.id}: {r.description}" for r in (hard or severe)[:5]),
            rule_hits=row.hits, versions=bundle.versions,
        )

    def _invalid_decision(self, m: Message, reason: str, bundle: _Bundle) -> Decision:
        """The error decision of a message whose id or tenant may not even be strings."""
        return self._error_decision(_text(getattr(m, "message_id", None), "message_id"),
                                    _text(getattr(m, "tenant", None), "tenant"), reason, bundle)

    def _error_decision(self, message_id: str, tenant: str, reason: str, bundle: _Bundle) -> Decision:
        verdict = Verdict.SAFE if self.config.fail_open else Verdict.SUSPICIOUS
        return Decision(
            message_id=message_id, tenant=tenant, verdict=verdict, category=Category.SAFE, score=float("nan"),
            reasons=(reason,), degraded=True, degraded_reason=reason, versions=bundle.versions,
        )

    def close(self) -> None:
        """Flush the chronicle (nothing decided is lost)."""
        if self.chronicle is not None:
            self.chronicle.close()

    def __enter__(self) -> DecisionEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
