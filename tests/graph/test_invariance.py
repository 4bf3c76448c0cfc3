"""Graph invariants: input order, tenant isolation and point-in-time correctness."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from graphdet.exceptions import NothingToBuild
from graphdet.graph import TABLES, Snapshot, load_snapshot
from graphdet.graph.snapshot import sha256_file

from .conftest import run_rebuild
from .logs import write_log
from .strategies import AS_OF, LOOKBACK, messages

START = AS_OF - timedelta(days=LOOKBACK)


def _build(tmp: Path, name: str, msgs: list[tuple[Any, ...]], **log_kw: Any) -> Snapshot | None:
    write_log(tmp / f"log-{name}", msgs, **log_kw)
    try:
        run_rebuild(tmp / f"log-{name}", tmp / f"out-{name}")
    except NothingToBuild:
        return None
    return load_snapshot(tmp / f"out-{name}")


def _digests(snap: Snapshot, tenant: str) -> dict[str, str]:
    folder = snap.manifest["tenants"][tenant]["folder"]
    return {name: sha256_file(snap.path / folder / f"{name}.parquet") for name in TABLES}


def _assert_same_tenant(a: Snapshot, b: Snapshot, tenant: str) -> None:
    for name in TABLES:
        assert a.table(tenant, name).equals(b.table(tenant, name)), (tenant, name)
    assert _digests(a, tenant) == _digests(b, tenant)
    assert a.manifest["tenants"][tenant] == b.manifest["tenants"][tenant]


@settings(max_examples=12, deadline=None)
@given(messages(max_size=40), st.integers(0, 2**32 - 1), st.integers(1, 4))
def test_snapshot_ignores_message_order_and_parts(msgs: list[tuple[Any, ...]], seed: int, parts: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        a = _build(Path(d), "a", msgs)
        b = _build(Path(d), "b", msgs, shuffle=seed, parts=parts)
        assert (a is None) == (b is None)
        if a is None or b is None:
            return
        assert a.tenants == b.tenants
        for tenant in a.tenants:
            _assert_same_tenant(a, b, tenant)


def _renamed(msgs: list[tuple[Any, ...]], prefix: str) -> list[tuple[Any, ...]]:
    """The same messages with ids no other message uses (and In-Reply-To kept)."""
    return [(*m[:5], f"<{prefix}{m[5][1:]}", *m[6:]) for m in msgs]


@settings(max_examples=12, deadline=None)
@given(messages(max_size=30, tenants=["acme", "globex"]), messages(max_size=15, tenants=["acme"]))
def test_traffic_of_one_tenant_changes_no_byte_of_another(
    msgs: list[tuple[Any, ...]], extra: list[tuple[Any, ...]]
) -> None:
    # the extra acme mail reuses globex addresses and (In-Reply-To) globex message ids
    with tempfile.TemporaryDirectory() as d:
        a = _build(Path(d), "a", msgs)
        b = _build(Path(d), "b", msgs + _renamed(extra, "x"))
        if a is None or "globex" not in a.tenants:
            return
        assert b is not None and "globex" in b.tenants
        _assert_same_tenant(a, b, "globex")


def _outside(msgs: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Copies of the messages moved just outside the window (and later), with fresh ids."""
    times = [AS_OF, AS_OF + timedelta(microseconds=1), AS_OF + timedelta(days=2),
             START - timedelta(microseconds=1), START - timedelta(days=30)]
    return [(*m[:4], times[i % len(times)], f"<out{i}@h>", *m[6:]) for i, m in enumerate(msgs)]


@settings(max_examples=12, deadline=None)
@given(messages(max_size=30, inside=True))
def test_messages_outside_the_window_are_not_used(msgs: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        a = _build(Path(d), "a", msgs)
        b = _build(Path(d), "b", msgs + _outside(msgs))
        assert a is not None and b is not None
        assert a.tenants == b.tenants
        for tenant in a.tenants:
            _assert_same_tenant(a, b, tenant)


def test_window_bounds_are_start_inclusive_and_as_of_exclusive(tmp_path: Path) -> None:
    msgs = [
        ("acme", "a@x.com", ["b@x.com"], [], START, "<1>", None, "internal"),
        ("acme", "a@x.com", ["b@x.com"], [], AS_OF - timedelta(microseconds=1), "<2>", None, "internal"),
        ("acme", "a@x.com", ["b@x.com"], [], AS_OF, "<3>", None, "internal"),
        ("acme", "a@x.com", ["c@x.com"], [], START - timedelta(microseconds=1), "<4>", None, "internal"),
    ]
    snap = _build(tmp_path, "a", msgs)
    assert snap is not None
    (edge,) = snap.table("acme", "edges").to_pylist()
    assert (edge["dst"], edge["msgs"], edge["first_seen"], edge["last_seen"]) == (
        "b@x.com", 2, START, AS_OF - timedelta(microseconds=1))
    assert snap.table("acme", "nodes").column("addr").to_pylist() == ["a@x.com", "b@x.com"]


def test_a_reply_counts_only_when_its_parent_is_before_as_of(tmp_path: Path) -> None:
    day = timedelta(days=1)
    msgs = [
        # b answers a's message from before the window: a reply (the parent may be old)
        ("acme", "a@x.com", ["b@x.com"], [], START - 10 * day, "<old>", None, "internal"),
        ("acme", "b@x.com", ["a@x.com"], [], AS_OF - day, "<r1>", "<old>", "internal"),
        # c "answers" a message a sends only after as_of: not a reply as of as_of
        ("acme", "c@x.com", ["a@x.com"], [], AS_OF - day, "<r2>", "<future>", "internal"),
        ("acme", "a@x.com", ["c@x.com"], [], AS_OF + day, "<future>", None, "internal"),
        # d answers its own message: In-Reply-To must point at a message the recipient sent
        ("acme", "d@x.com", ["a@x.com"], [], AS_OF - 2 * day, "<d1>", None, "internal"),
        ("acme", "d@x.com", ["a@x.com"], [], AS_OF - day, "<d2>", "<d1>", "internal"),
        # the same id in another tenant is not a parent
        ("globex", "a@x.com", ["e@x.com"], [], AS_OF - 2 * day, "<p>", None, "internal"),
        ("acme", "e@x.com", ["a@x.com"], [], AS_OF - day, "<r3>", "<p>", "internal"),
    ]
    snap = _build(tmp_path, "a", msgs)
    assert snap is not None
    replies = {(e["src"], e["dst"]): e["replies"] for e in snap.table("acme", "edges").to_pylist()}
    assert replies == {("b@x.com", "a@x.com"): 1, ("c@x.com", "a@x.com"): 0,
                       ("d@x.com", "a@x.com"): 0, ("e@x.com", "a@x.com"): 0}
