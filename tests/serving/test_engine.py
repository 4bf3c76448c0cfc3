"""DecisionEngine: train/serve equality, hot swap under load, degraded modes, thread safety."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import threading
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from graphdet.combiner import Combiner, Decider, ReasonBook
from graphdet.combiner.pipeline import load_train_config, train_pipeline
from graphdet.exceptions import GraphdetError
from graphdet.features import FeatureBuilder, OnlineState, replay
from graphdet.messagelog import read_labels, read_messages, table_to_messages
from graphdet.policy import load_policy
from graphdet.rules import load_rules
from graphdet.schema import Category, Message, Verdict
from graphdet.synth import SynthConfig, generate, write_generated
from graphdet.tenants import load_tenant_config
from serving import DecisionEngine, ServingConfig
from serving.chronicle import read_decisions


@dataclasses.dataclass
class World:
    artifacts: Path
    stream: list[Message]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("engine")
    write_generated(generate(SynthConfig(seed=9, tenants=2, days=40, employees=25)), root / "log")
    report = train_pipeline(root / "log", root / "art", config=dataclasses.replace(load_train_config(), gnn_epochs=20))
    table = read_messages(root / "log")
    cut = report["cut"]
    table = table.filter(pc.greater_equal(table.column("received_at"), pa.scalar(datetime.fromisoformat(cut),
                                                                                   pa.timestamp("us", tz="UTC"))))
    table = table.sort_by([("received_at", "ascending"), ("message_id", "ascending")])
    return World(root / "art", list(table_to_messages(table.slice(0, 600))))


@pytest.fixture
def artifacts(world: World, tmp_path: Path) -> Path:
    dst = tmp_path / "art"
    shutil.copytree(world.artifacts, dst, symlinks=True)
    return dst


def test_decisions_equal_the_training_time_scores(world: World) -> None:
    engine = DecisionEngine.load(world.artifacts)
    served = engine.decide_batch(world.stream)
    # the training-side path: a fresh OnlineState from the same snapshot, replay, Decider
    ruleset = load_rules(world.artifacts / "rules")
    builder = FeatureBuilder(ruleset)
    tenants = load_tenant_config(world.artifacts / "tenants.yaml")
    state = OnlineState.from_snapshot(world.artifacts / "snapshot",
                                      executives={t.name: t.executives for t in tenants.tenants})
    rows = [row for _, row in replay(world.stream, state, builder)]
    combiner = Combiner.load(world.artifacts / "model")
    reasons = ReasonBook.load(world.artifacts / "reasons.yaml", {r.id: r.description for r in ruleset.rules},
                              builder.schema)
    offline = Decider(combiner, load_policy(world.artifacts / "policy"), reasons, ruleset).decide(world.stream, rows)
    assert [d.score for d in served] == [d.score for d in offline]
    assert [(d.verdict, d.category, d.reasons) for d in served] == [(d.verdict, d.category, d.reasons) for d in offline]
    assert {d.verdict for d in served} >= {Verdict.SAFE}
    assert all(dict(d.versions) == engine.versions for d in served)


def test_single_and_batch_decisions_agree(world: World) -> None:
    one = DecisionEngine.load(world.artifacts)
    many = DecisionEngine.load(world.artifacts)
    singles = [one.decide(m) for m in world.stream[:150]]
    batch = many.decide_batch(world.stream[:150])
    assert [d.score for d in singles] == [d.score for d in batch]


def test_a_loaded_snapshot_is_prepared_before_it_decides(artifacts: Path, world: World,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """Each tenant's name tables and look-alike references are built at load and at a hot swap
    to another snapshot, not by its first decision; a failure there is logged and only leaves
    them to the first decision."""
    def prepared(engine: DecisionEngine) -> bool:
        states = engine._bundle.state.tenants
        assert len(states) == 2 and all(st.available for st in states.values())
        return all(st._refs is not None and len(st._name_tables) == 2 for st in states.values())

    engine = DecisionEngine.load(artifacts)
    assert prepared(engine)
    old = engine._bundle.state
    version = (artifacts / "snapshot" / "current").read_text().strip()
    shutil.copytree(artifacts / "snapshot" / version, artifacts / "snapshot" / f"{version}-again")
    (artifacts / "snapshot" / "current").write_text(f"{version}-again\n")
    assert engine.reload() is True and engine._bundle.state is not old and prepared(engine)
    engine = DecisionEngine.load(world.artifacts)

    def broken(ctx: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("serving.engine.prepare", broken)
    unprepared = DecisionEngine.load(world.artifacts)
    assert all(st._refs is None for st in unprepared._bundle.state.tenants.values())
    assert caplog.text.count("preparing the signal tables of tenant") == 2 and "boom" in caplog.text
    assert [d.score for d in unprepared.decide_batch(world.stream[:100])] == \
        [d.score for d in engine.decide_batch(world.stream[:100])]


def _retrained_model(artifacts: Path, stream: list[Message]) -> None:
    """Replace the model with another one (different boosting rounds): a new model version."""
    ruleset = load_rules(artifacts / "rules")
    builder = FeatureBuilder(ruleset)
    state = OnlineState.from_snapshot(artifacts / "snapshot")
    rows = np.stack([r.values for _, r in replay(stream, state, builder)])
    old = Combiner.load(artifacts / "model")
    y = np.where(old.predict_proba(rows) > 0.5, old.predict_category(rows), "safe")
    half = len(rows) // 2
    new = Combiner(num_boost_round=40, seed=1).fit(rows[:half], y[:half], rows[half:], y[half:],
                                                   feature_names=list(builder.schema.names))
    staging = artifacts / "model.new"
    new.save(staging)
    for f in staging.iterdir():
        f.replace(artifacts / "model" / f.name)
    staging.rmdir()


def test_hot_swap_under_concurrent_decisions(artifacts: Path, world: World) -> None:
    engine = DecisionEngine.load(artifacts)
    before = tuple(sorted(engine.versions.items()))
    stop = threading.Event()
    results: list[tuple[tuple[str, str], ...]] = []
    sent = [0]
    lock = threading.Lock()

    def worker(k: int) -> None:
        i = 0
        while not stop.is_set():
            m = world.stream[(k * 97 + i) % len(world.stream)]
            d = engine.decide(m)
            with lock:
                sent[0] += 1
                results.append(tuple(sorted(d.versions)))
            i += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    _retrained_model(artifacts, world.stream[:300])
    assert engine.reload() is True
    after = tuple(sorted(engine.versions.items()))
    for _ in range(600):  # let the workers decide on the new bundle for a while (bounded)
        with lock:
            if sum(1 for r in results if r == after) >= 30:
                break
        threading.Event().wait(0.05)
    stop.set()
    for t in threads:
        t.join()
    assert before != after
    assert len(results) == sent[0]  # none lost
    assert set(results) <= {before, after}  # every decision used one complete set of versions
    assert after in set(results)
    assert engine.reload() is False  # nothing changed since


def test_broken_rules_reload_keeps_the_last_good_bundle(artifacts: Path, world: World) -> None:
    engine = DecisionEngine.load(artifacts)
    versions = engine.versions
    (artifacts / "rules" / "zz_broken.yaml").write_text("rules:\n  - id: lower_case_id\n    nonsense: [\n")
    assert engine.reload() is False
    assert engine.versions == versions
    assert engine.decide(world.stream[0]).verdict in set(Verdict)


def test_missing_snapshot_degrades_to_cold_start(artifacts: Path, world: World) -> None:
    (artifacts / "snapshot" / "current").unlink()
    engine = DecisionEngine.load(artifacts)
    d = engine.decide(world.stream[0])
    assert d.degraded and "snapshot unavailable" in d.degraded_reason
    assert engine.versions["snapshot"] == "none"


def test_corrupt_gnn_degrades_only_the_gnn(artifacts: Path, world: World) -> None:
    gnn_file = next((artifacts / "snapshot").rglob("gnn_src.npy"))
    gnn_file.write_bytes(b"\x00" * 64)
    engine = DecisionEngine.load(artifacts)
    d = engine.decide(world.stream[0])
    assert d.degraded and "GNN unavailable" in d.degraded_reason and "snapshot unavailable" not in d.degraded_reason
    assert engine.versions["snapshot"] != "none" and engine.versions["model"] != "none"


def test_missing_model_leaves_the_rules_deciding(artifacts: Path, world: World) -> None:
    (artifacts / "model" / "binary.txt").unlink()
    engine = DecisionEngine.load(artifacts)
    decisions = engine.decide_batch(world.stream[:100])
    assert all(d.degraded and "model unavailable" in d.degraded_reason for d in decisions)
    assert engine.versions["model"] == "none"
    for d in decisions:
        assert d.verdict in (Verdict.SAFE, Verdict.SUSPICIOUS, Verdict.MALICIOUS)
        if d.verdict is not Verdict.SAFE:
            assert d.reasons and d.reasons[0].startswith("rule ")


def test_the_engine_uses_the_models_cold_start_cut(artifacts: Path, world: World) -> None:
    """features.json says which cold-start cut the model was trained with; serving follows it
    (a longer cut than the tenants' history leaves every graph feature unknown)."""
    path = artifacts / "model" / "features.json"
    settings = json.loads(path.read_text())
    assert settings["min_history_days"] == load_train_config().min_history_days
    settings["min_history_days"] = 10_000
    path.write_text(json.dumps(settings))
    engine = DecisionEngine.load(artifacts)
    assert engine._bundle.builder.min_history_days == 10_000 and not engine.degraded
    ruleset = load_rules(artifacts / "rules")
    cold = FeatureBuilder(ruleset, min_history_days=10_000)
    state = OnlineState.from_snapshot(artifacts / "snapshot",
                                      executives={t.name: t.executives for t in engine.tenant_config.tenants})
    rows = [row for _, row in replay(world.stream[:200], state, cold)]
    assert all(not r.mature for r in rows)
    served = engine.decide_batch(world.stream[:200])
    combiner = Combiner.load(artifacts / "model")
    assert [d.score for d in served] == combiner.predict_proba(np.stack([r.values for r in rows])).tolist()


@pytest.mark.parametrize("text", ['{"min_history_days": "soon"}', "not json", '{"min_history_days": -3}'])
def test_unreadable_feature_settings_leave_the_rules_deciding(artifacts: Path, world: World, text: str) -> None:
    (artifacts / "model" / "features.json").write_text(text)
    engine = DecisionEngine.load(artifacts)
    decisions = engine.decide_batch(world.stream[:50])
    assert all(d.degraded and "model unavailable" in d.degraded_reason and "features.json" in d.degraded_reason
               for d in decisions)
    assert engine.versions["model"] == "none"


def test_feedback_gives_serving_the_features_training_replay_had(world: World, tmp_path: Path) -> None:
    """Labels fed back after each decision (as training's replay records them when they arrive)
    give the same rows and scores as that replay, ``rcpt_attacked_before`` included."""
    labels = read_labels(world.artifacts.parent / "log")
    label_of = dict(zip(labels.column("message_id").to_pylist(), labels.column("category").to_pylist(), strict=True))
    engine = DecisionEngine.load(world.artifacts, config=ServingConfig(chronicle=tmp_path / "chronicle"))
    served = []
    for m in world.stream:
        served.append(engine.decide(m))
        if label_of.get(m.message_id, "safe") != "safe":
            assert engine.record_feedback(m, label_of[m.message_id]) is True
    engine.close()
    logged = np.stack(read_decisions(tmp_path / "chronicle").column("features").to_pylist())
    ruleset = load_rules(world.artifacts / "rules")
    builder = FeatureBuilder.for_model(ruleset, world.artifacts / "model")
    state = OnlineState.from_snapshot(world.artifacts / "snapshot",
                                      executives={t.name: t.executives for t in engine.tenant_config.tenants})
    rows = []
    for m, row in replay(world.stream, state, builder):
        rows.append(row)
        if label_of.get(m.message_id, "safe") != "safe":
            state.tenant(m.tenant).record_label(m, Category(label_of[m.message_id]))
    x = np.stack([r.values for r in rows])
    attacked = x[:, builder.schema.names.index("rcpt_attacked_before")]
    assert attacked.sum() >= 1  # the stream really has mail to recipients of earlier attacks
    assert np.array_equal(logged, x, equal_nan=True)  # the very rows serving decided on
    assert [d.score for d in served] == Combiner.load(world.artifacts / "model").predict_proba(x).tolist()
    assert engine.record_feedback(world.stream[0], "safe") is False
    with pytest.raises(GraphdetError, match="unknown category 'nonsense'"):
        engine.record_feedback(world.stream[0], "nonsense")


def test_malformed_messages_give_error_decisions(artifacts: Path, world: World) -> None:
    engine = DecisionEngine.load(artifacts)
    broken = dataclasses.replace(world.stream[0], received_at=None)  # type: ignore[arg-type]
    decisions = engine.decide_batch([broken, world.stream[1]])
    assert decisions[0].degraded and decisions[0].degraded_reason.startswith("error:")
    assert decisions[0].verdict is Verdict.SAFE  # fail-open by default
    assert math.isnan(decisions[0].score)
    assert not decisions[1].degraded_reason.startswith("error:")
    raw = engine.decide_raw(b"\x00\x01 not mail")
    assert len(raw) == 1 and raw[0].degraded and "unparseable message" in raw[0].degraded_reason
    closed = DecisionEngine.load(artifacts, config=ServingConfig(fail_open=False))
    assert closed.decide_raw(b"garbage")[0].verdict is Verdict.SUSPICIOUS


def test_concurrent_decisions_update_the_state_exactly_once_each(artifacts: Path, world: World) -> None:
    engine = DecisionEngine.load(artifacts)
    stream = world.stream[:400]
    tenant = stream[0].tenant
    st = engine._bundle.state.tenant(tenant)
    sent_before = sum(st.sent)
    chunks = [stream[i::4] for i in range(4)]
    threads = [threading.Thread(target=lambda c=c: [engine.decide(m) for m in c]) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(st.sent) - sent_before == sum(1 for m in stream if m.tenant == tenant)


def test_missing_artifacts_folder_is_a_clear_error(tmp_path: Path) -> None:
    from graphdet.exceptions import GraphdetError

    with pytest.raises(GraphdetError, match="does not exist"):
        DecisionEngine.load(tmp_path / "nope")


def _sender_count(engine: DecisionEngine, tenant: str) -> int:
    return sum(engine._bundle.state.tenant(tenant).sent)


def test_messages_with_unusable_keys_or_times_get_error_decisions_and_teach_nothing(
    artifacts: Path, world: World, tmp_path: Path
) -> None:
    """An id or tenant that is no string, a time without zone, or a time outside the plausible
    window (one message dated year 1 made a tenant 739,000 days old) is an error decision, is
    chronicled once, and leaves the state as it was; the good messages around it are decided."""
    from datetime import UTC

    engine = DecisionEngine.load(artifacts, config=ServingConfig(chronicle=tmp_path / "chronicle"))
    good = world.stream[0]
    bad = [
        dataclasses.replace(good, message_id=None),  # type: ignore[arg-type]
        dataclasses.replace(good, tenant=None),  # type: ignore[arg-type]
        dataclasses.replace(good, received_at="2026-01-01T00:00:00Z"),  # type: ignore[arg-type]
        dataclasses.replace(good, received_at=good.received_at.replace(tzinfo=None)),
        dataclasses.replace(good, received_at=datetime(1, 1, 2, tzinfo=UTC)),
        dataclasses.replace(good, received_at=datetime(2200, 1, 1, tzinfo=UTC)),
    ]
    before = _sender_count(engine, good.tenant)
    history = engine._bundle.state.tenant(good.tenant).history_start_us
    batch = engine.decide_batch([*bad, good])
    singles = [engine.decide(m) for m in bad]
    for d in [*batch[:-1], *singles]:
        assert d.degraded and d.degraded_reason.startswith("error: ") and math.isnan(d.score)
        assert d.verdict is Verdict.SAFE and isinstance(d.message_id, str) and isinstance(d.tenant, str)
    reasons = [d.degraded_reason for d in batch[:-1]]
    assert "message_id must be a string, got NoneType" in reasons[0] and "<invalid message_id" in batch[0].message_id
    assert "tenant must be a string" in reasons[1]
    assert all("timezone-aware datetime" in r for r in reasons[2:4])
    assert all("implausible received_at" in r for r in reasons[4:6])
    assert not batch[-1].degraded_reason.startswith("error:")
    assert _sender_count(engine, good.tenant) == before + 1  # only the good message was learnt
    assert engine._bundle.state.tenant(good.tenant).history_start_us == history
    engine.close()
    logged = read_decisions(tmp_path / "chronicle")
    assert logged.num_rows == len(batch) + len(singles)  # every decision, the error ones too


def test_an_unparseable_raw_message_is_chronicled(artifacts: Path, tmp_path: Path) -> None:
    engine = DecisionEngine.load(artifacts, config=ServingConfig(chronicle=tmp_path / "chronicle"))
    (d,) = engine.decide_raw(b"\x00\x01 not mail")
    engine.close()
    (row,) = read_decisions(tmp_path / "chronicle").to_pylist()
    assert row["message_id"] == d.message_id and "unparseable message" in row["degraded_reason"]


@pytest.mark.parametrize(("name", "content"), [
    ("model/combiner.json", b"{}"),
    ("model/combiner.json", b"[]"),
    ("model/combiner.json", b"\xff\xfe not utf-8"),
])
def test_a_model_file_of_any_shape_degrades_to_the_rules(artifacts: Path, world: World, name: str,
                                                          content: bytes) -> None:
    (artifacts / name).write_bytes(content)
    engine = DecisionEngine.load(artifacts)
    d = engine.decide(world.stream[0])
    assert d.degraded and "model unavailable" in d.degraded_reason and str(artifacts / "model") in d.degraded_reason
    assert engine.versions["model"] == "none"


@pytest.mark.parametrize("content", [b"[]", b"{}", b"\xff not utf-8"])
def test_a_snapshot_manifest_of_any_shape_starts_the_tenants_cold(artifacts: Path, world: World,
                                                                   content: bytes) -> None:
    next((artifacts / "snapshot").rglob("manifest.json")).write_bytes(content)
    engine = DecisionEngine.load(artifacts)
    d = engine.decide(world.stream[0])
    assert d.degraded and "snapshot unavailable" in d.degraded_reason
    assert engine.versions["snapshot"] == "none"


def test_a_reload_never_trades_a_working_model_for_a_broken_one(artifacts: Path, world: World) -> None:
    """A half-written model publish (or a corrupt snapshot) is not swapped in: the current
    bundle keeps deciding; a good publish afterwards is."""
    engine = DecisionEngine.load(artifacts)
    versions = engine.versions
    binary = artifacts / "model" / "binary.txt"
    good = binary.read_bytes()
    binary.write_bytes(good[:1000])  # truncated mid-publish
    assert engine.reload() is False
    assert engine.reload() is False  # the same broken artifacts are not loaded again
    assert engine.versions == versions and not engine.degraded
    assert not engine.decide(world.stream[0]).degraded
    binary.write_bytes(good)
    _retrained_model(artifacts, world.stream[:300])  # the publish completed, with a new model
    assert engine.reload() is True
    assert engine.versions["model"] not in ("none", versions["model"]) and not engine.degraded


def test_versions_name_the_policy_reasons_and_every_model_file(artifacts: Path, world: World) -> None:
    """A policy edit or a new threshold in combiner.json changes decisions: the versions say so."""
    engine = DecisionEngine.load(artifacts)
    v0 = engine.versions
    assert set(v0) == {"snapshot", "model", "rules", "features", "policy", "reasons"}
    with (artifacts / "policy" / "default.yaml").open("a") as f:
        f.write("\n# edited\n")
    assert engine.reload() is True
    v1 = engine.versions
    assert v1["policy"] != v0["policy"] and v1["model"] == v0["model"]
    settings = json.loads((artifacts / "model" / "combiner.json").read_text())
    (artifacts / "model" / "combiner.json").write_text(json.dumps(settings, indent=1))  # same numbers, new bytes
    assert engine.reload() is True
    assert engine.versions["model"] != v1["model"]
    assert dict(engine.decide(world.stream[0]).versions) == engine.versions


def test_top_k_bounds_the_attributions(world: World) -> None:
    wide = DecisionEngine.load(world.artifacts).decide_batch(world.stream)
    narrow = DecisionEngine.load(world.artifacts, config=ServingConfig(top_k=1)).decide_batch(world.stream)
    flagged = [(w, n) for w, n in zip(wide, narrow, strict=True) if w.attribution]
    assert flagged, "the stream has flagged messages"
    assert all(len(n.attribution) == 1 and n.attribution[0] == w.attribution[0] for w, n in flagged)
    assert max(len(w.attribution) for w, _ in flagged) > 1


def test_a_tenant_the_artifacts_do_not_know_is_decided_cold_flagged_and_not_learnt(world: World) -> None:
    """With a tenant config, a message for a tenant neither it nor the snapshot names (a
    misrouted or forged tenant field) is decided on its message signals alone, flagged, and
    allocates no state: 200 such tenants left 200 new tenant states behind before."""
    engine = DecisionEngine.load(world.artifacts)
    assert engine.tenant_config.configured
    tenants_before = set(engine._bundle.state.tenants)
    strangers = [dataclasses.replace(m, tenant=f"bogus{i}") for i, m in enumerate(world.stream[:40])]
    batch = engine.decide_batch([*strangers[:20], world.stream[50]])
    singles = [engine.decide(m) for m in strangers[20:]]
    for d in [*batch[:20], *singles]:
        assert d.degraded and "is in neither the tenant config nor the snapshot" in d.degraded_reason
        assert not math.isnan(d.score)
    assert not batch[20].degraded
    assert set(engine._bundle.state.tenants) == tenants_before
    # decided exactly as a brand-new tenant's first message would be: cold, nothing learnt
    cold = DecisionEngine.load(world.artifacts, config=ServingConfig(learn=False))
    for m, d in zip(strangers, [*batch[:20], *singles], strict=True):
        fresh = cold._bundle.builder.one(m, OnlineState({}), learn=False)
        assert d.score == cold._bundle.decider.decide_one(m, fresh).score  # type: ignore[union-attr]


def test_a_parser_bug_is_an_error_decision_not_an_exception(
    artifacts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """decide_raw never raises: should the parser fail in a way it does not foresee (fuzzing
    found four: codecs, recursion), the message still gets its one chronicled error decision."""
    import serving.engine as engine_module

    def broken(raw: bytes, tenants: object) -> list[Message]:
        raise RecursionError("maximum recursion depth exceeded")

    engine = DecisionEngine.load(artifacts, config=ServingConfig(chronicle=tmp_path / "chronicle"))
    monkeypatch.setattr(engine_module, "parse_message", broken)
    (d,) = engine.decide_raw(b"From: a@b.example\n\nhi\n")
    assert d.degraded and "unparseable message: parser error RecursionError" in d.degraded_reason
    engine.close()
    assert read_decisions(tmp_path / "chronicle").num_rows == 1
