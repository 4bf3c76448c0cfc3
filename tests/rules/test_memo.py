"""The context memos (display-name match, look-alike distance) are exact: a memoised answer
equals the one computed from scratch, and a changed name table or reference list (a live
TenantState learning names and domains between messages) invalidates or extends it."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from hypothesis import given, settings, strategies

from graphdet.features import state as state_module
from graphdet.features.state import TenantState
from graphdet.rules import StaticContext, TenantContext, extract
from graphdet.rules import extractors as ex
from graphdet.rules.memo import TableMemo
from graphdet.rules.signals import default_lexicon
from graphdet.rules.text import decode_domain, skeleton
from graphdet.rules.view import MessageView
from graphdet.schema import Address, Direction, Message, Url

T0 = datetime(2024, 1, 1, tzinfo=UTC)
_ids = count()

EXTERNAL = [  # (display name, address, link) of external senders, several of them repeated
    ("Jane Doe", "jane.doe@evil.example", "https://c0ntoso-logistics.com/pay"),
    ("Jаne Dое", "ceo@gmall.com", "https://acme.com.login.example/x"),
    ("Jane Doe", "jane.doe@evil.example", "https://globalsupplies.com/invoice"),
    ("Robert Chen", "robert@rnicrosoft.com", "https://rnicrosoft.com/a"),
    ("R0bert Chen", "rc@contoso-logistic.com", "https://fabrlkam.com"),
    ("Mark Lee", "mark@marklee.example", "https://marklee.example"),
    ("IT Service Desk", "it-desk@acrne.com", "https://acrne.com/reset"),
    ("Alice Baker", "alice.baker@fabrikam.com", "https://fabrikam.com"),
]


def _msg(name: str, addr: str, *, to: str = "alice.baker@acme.com", link: str | None = None,
         direction: Direction = Direction.INBOUND) -> Message:
    return Message("acme", f"<m{next(_ids)}@x>", T0 + timedelta(minutes=next(_ids)), Address(addr, name),
                   to=(Address(to),), urls=(Url(link),) if link else (), direction=direction)


def _internal(name: str, addr: str, to: str = "alice.baker@acme.com") -> Message:
    """A message from the tenant (TenantState then counts its sender's domain as internal)."""
    return _msg(name, addr, to=to, direction=Direction.INTERNAL if to.endswith("@acme.com") else Direction.OUTBOUND)


def _uncached(ctx: TenantContext, m: Message) -> tuple[float, float, int, int]:
    """The context signals computed without any memo."""
    v = MessageView(m, ctx, default_lexicon())
    refs = ex._references(ctx)[1]

    def lookalike(domain: str) -> int:
        if not ctx.available or not domain or ctx.knows_domain(domain) or ctx.is_internal_domain(domain):
            return ex.NO_LOOKALIKE
        return ex._closest(domain, refs) if refs else ex.NO_LOOKALIKE

    urls = {link.domain for link in v.links}
    return (ex._name_match_uncached(v, False)[0], ex._name_match_uncached(v, True)[0], lookalike(v.from_domain),
            min(map(lookalike, urls), default=ex.NO_LOOKALIKE))


def _signals(ctx: TenantContext, m: Message) -> tuple[float, float, int, int]:
    s = extract(m, ctx)
    return (s["display_name_internal_similarity"], s["display_name_exec_similarity"],  # type: ignore[return-value]
            s["sender_domain_lookalike_distance"], s["url_lookalike_distance"])


@pytest.fixture(autouse=True)
def _fresh_memos() -> None:
    ex._NAME_MEMO.clear()
    ex._LOOKALIKE_MEMO.clear()
    ex._INDEX_MEMO.clear()


def test_table_memo_is_per_table_object_and_bounded() -> None:
    memo: TableMemo[str, int] = TableMemo(max_owners=2, max_entries=3)
    t1, t2 = tuple(["a"]), tuple(["a"])  # equal, but not the same object
    assert t1 == t2 and t1 is not t2
    answers = memo.answers("o", t1)
    answers["x"] = 1
    assert memo.answers("o", t1) is answers and memo.answers("o", t1)["x"] == 1
    assert memo.answers("o", t2) == {}  # another table object: the answers are gone
    assert memo.answers("o", t1) == {}
    answers = memo.answers("o", t1)
    answers.update(x=1, y=2, z=3)
    assert memo.answers("o", t1) == {}  # full: cleared before it grows past max_entries
    memo.answers("p", t1)["x"] = 1
    memo.answers("q", t1)["x"] = 1  # a third owner: the oldest ("o") goes
    assert len(memo) == 2 and memo.answers("p", t1) == {"x": 1}


def test_table_memo_takes_concurrent_owners_within_its_bound() -> None:
    """Engines (and an engine's reload thread preparing a snapshot) ask the module-wide memos at
    once: evicting the oldest owner while another thread adds one must neither raise nor let
    the owners grow past the bound."""
    memo: TableMemo[str, int] = TableMemo(max_owners=8, max_entries=4)
    table = ("t",)
    errors: list[BaseException] = []
    interval = sys.getswitchinterval()

    def ask(k: int) -> None:
        try:
            for i in range(20_000):
                memo.answers((k, i), table)["x"] = i
        except BaseException as e:  # noqa: BLE001  (what the race raised: RuntimeError)
            errors.append(e)

    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=ask, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == [] and len(memo._owners) <= 8


def test_static_context_memo_equals_uncached_and_does_not_leak_between_contexts(acme_ctx: StaticContext) -> None:
    other = StaticContext.build(internal_domains=["acme.com"], known_domains=["globalsupplies.com"],
                                display_names={"Jane Dough": ["jd@acme.com"]}, executives=["jd@acme.com"])
    seen: dict[int, set[tuple[float, float, int, int]]] = {id(acme_ctx): set(), id(other): set()}
    for _ in range(3):  # the second and third rounds answer from the memos
        for ctx in (acme_ctx, other):
            for name, addr, link in EXTERNAL:
                m = _msg(name, addr, link=link)
                got = _signals(ctx, m)
                assert got == _uncached(ctx, m), (name, addr, link)
                seen[id(ctx)].add(got)
    assert len(ex._NAME_MEMO) > 0 and len(ex._LOOKALIKE_MEMO) > 0
    assert seen[id(acme_ctx)] != seen[id(other)]
    jane = _msg("Jane Doe", "jane.doe@evil.example")
    assert _signals(acme_ctx, jane)[:2] == (100.0, 100.0)
    assert 70 <= _signals(other, jane)[0] < 100  # not acme's answer for the same sender


def test_live_tenant_state_name_memo_follows_new_internal_names() -> None:
    st = TenantState("acme", executives=["jane.doe@acme.com"])
    st.observe(_internal("Alice Baker", "alice.baker@acme.com", to="mark.lee@acme.com"))
    spoof = _msg("Jane Doe", "jane.doe@evil.example")
    assert _signals(st, spoof)[:2] == (0.0, 0.0) == _uncached(st, spoof)[:2]
    assert _signals(st, spoof)[:2] == (0.0, 0.0)  # asked again: from the memo
    table = st.name_table(False, 4)
    st.observe(_internal("Jane Doe", "jane.doe@acme.com"))  # a new internal name: a new name table
    assert st.name_table(False, 4) is not table
    assert _signals(st, spoof)[:2] == (100.0, 100.0) == _uncached(st, spoof)[:2]
    table = st.name_table(False, 4)
    st.observe(_internal("Jane Doe", "jane.doe@acme.com"))  # nothing new: the same table, memo kept
    assert st.name_table(False, 4) is table
    st.observe(_internal("Jane Dough", "jane.dough@acme.com"))  # another internal name (not an executive)
    assert _signals(st, spoof)[:2] == (100.0, 100.0) == _uncached(st, spoof)[:2]
    dough = _msg("Jane Dough", "jd@evil.example")
    got = _signals(st, dough)
    assert got[0] == 100.0 and 70 <= got[1] < 100 and got[:2] == _uncached(st, dough)[:2]


def test_live_tenant_state_lookalike_memo_extends_with_new_domains() -> None:
    st = TenantState("acme")
    st.observe(_internal("Alice Baker", "alice.baker@acme.com", to="bob@fabrikam.com"))
    assert st.internal_domains == {"acme.com"}
    lookalike = _msg("AP", "ap@c0ntoso-logistics.com", link="https://globalsupplie.com/x")
    first = _signals(st, lookalike)
    assert first[2:] == (ex.NO_LOOKALIKE, ex.NO_LOOKALIKE) == _uncached(st, lookalike)[2:]
    assert _signals(st, lookalike) == first  # from the memo
    refs = st.lookalike_references()[1]
    # new correspondents: the same reference list object grows; the memo compares the new ones
    st.observe(_msg("AP", "ap@contoso-logistics.com"))
    st.observe(_internal("Alice Baker", "alice.baker@acme.com", to="sales@globalsupplies.com"))
    assert st.lookalike_references()[1] is refs and len(refs) == 4
    got = _signals(st, lookalike)
    assert got[2:] == (0, 1) == _uncached(st, lookalike)[2:]
    from_scratch = [skeleton(decode_domain(d)) for d in st.domain_first_us]
    assert got[2:] == tuple(ex._closest(d, from_scratch) for d in ("c0ntoso-logistics.com", "globalsupplie.com"))
    # the look-alike domain itself becomes known: no longer a look-alike (checked before the memo)
    st.observe(_msg("AP", "ap@c0ntoso-logistics.com"))
    assert _signals(st, lookalike)[2] == ex.NO_LOOKALIKE == _uncached(st, lookalike)[2]


@pytest.mark.parametrize("indexed_names", [ex.INDEXED_NAMES, 1], ids=["scored", "indexed"])
def test_live_tenant_state_replay_memo_equals_uncached(indexed_names: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream where names and domains keep appearing: every message's context signals with
    the memos equal the ones computed from scratch, before and after the state learns it. With
    ``indexed_names`` 1, every name table is searched through its NameIndex (the uncached
    reference scores every name)."""
    monkeypatch.setattr(ex, "INDEXED_NAMES", indexed_names)
    st = TenantState("acme", executives=["jane.doe@acme.com", "robert.chen@acme.com"])
    internal = [("Jane Doe", "jane.doe@acme.com"), ("Robert Chen", "robert.chen@acme.com"),
                ("Mark Lee", "mark.lee@acme.com"), ("IT Service Desk", "it@acme.com")]
    externals = EXTERNAL * 2
    for i, (name, addr, link) in enumerate(externals):
        if i < len(internal):
            st.observe(_internal(*internal[i], to=f"x@{('contoso-logistics.com', 'fabrikam.com')[i % 2]}"))
        m = _msg(name, addr, link=link)
        assert _signals(st, m) == _uncached(st, m), (i, name, addr, link)
        st.observe(m)
    assert len(ex._NAME_MEMO) > 0
    # the live state keeps (and patches) one index per table kind itself: none in the shared memo
    assert len(st._name_indexes) == (2 if indexed_names == 1 else 0) and len(ex._INDEX_MEMO) == 0


def test_acme_fixture_answers_match_across_repeats(acme_ctx: StaticContext) -> None:
    """Golden values stay put when answered from the memo (see test_homoglyph)."""
    m = _msg("Jоhn Smith", "ar@rnicrosoft.com", link="https://xn--cme-5cd.com/")
    first = _signals(acme_ctx, m)
    assert first == (100.0, 0.0, 0, 0)
    assert all(_signals(acme_ctx, m) == first for _ in range(3))


def test_prepare_builds_what_the_first_message_would_and_changes_no_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """After ``prepare``, no external message builds a name table, name index or look-alike
    reference list (the engine prepares each tenant when it loads a snapshot), and the signals
    are those of an unprepared twin."""
    monkeypatch.setattr(ex, "INDEXED_NAMES", 1)

    def tenant() -> TenantState:
        st = TenantState("acme", executives=["jane.doe@acme.com"])
        st.observe(_internal("Jane Doe", "jane.doe@acme.com", to="x@fabrikam.com"))
        st.observe(_internal("Mark Lee", "mark.lee@acme.com", to="y@contoso-logistics.com"))
        return st

    cold = TenantState("cold")
    ex.prepare(cold)  # no history, no context: nothing to build, no error
    assert cold._name_tables == {} and cold._refs is None
    prepared, twin = tenant(), tenant()
    ex.prepare(prepared)
    assert set(prepared._name_tables) == {(False, ex._MIN_NAME), (True, ex._MIN_NAME)}
    assert prepared._refs == sorted(prepared.domain_first_us) and len(prepared._name_indexes) == 2
    refs = prepared._refs
    built: list[str] = []
    index = state_module.NameIndex
    monkeypatch.setattr(state_module, "NameIndex", lambda names: built.append("index") or index(names))
    name_table = TenantState.name_table
    monkeypatch.setattr(TenantState, "name_table", lambda self, *a: (
        built.append("table") if a not in self._name_tables else None) or name_table(self, *a))
    for k, (name, addr, link) in enumerate(EXTERNAL):
        m = _msg(name, addr, link=link)
        expected = _signals(twin, m)
        assert built == (["table", "index"] * 2 if k == 0 else [])  # the unprepared twin's first message builds
        built.clear()
        assert _signals(prepared, m) == expected == _uncached(prepared, m), (name, addr, link)
        assert built == [] and prepared._refs is refs


_PEOPLE = [("jane.doe@acme.com", "Jane Doe"), ("jd@acme.com", "Jane Doe"), ("mark.lee@acme.com", "Mark Lee"),
           ("it@acme.com", "IT Service Desk"), ("it@acme.com", "Service Desk"), ("bo@acme.com", "Bo"),
           ("robert.chen@acme.com", "Robert Chen"), ("robert.chen@acme.com", "Bob Chen"),
           ("ann@acme.com", "Ann Baker"), ("x@evil.example", "Jane Doe"), ("zed@acme.com", "JANE  DOE"),
           ("robert.chen@acme.com", "Mark Lee"), ("a@acme.com", "Aaron Abbot")]


@settings(max_examples=200, deadline=None)
@given(stream=strategies.lists(strategies.tuples(strategies.sampled_from(_PEOPLE),
                                                 strategies.sampled_from([(), (False,), (True,), (False, True)])),
                               max_size=25))
def test_patched_name_tables_and_indexes_equal_a_rebuild(
        stream: list[tuple[tuple[str, str], tuple[bool, ...]]]) -> None:
    """The live state patches its name tables and their indexes as internal names and addresses
    are added (asked after some messages, one table or both, so several changes are patched at
    once): always what a rebuild from its names gives, the names tuple kept when only addresses
    changed, and the table itself kept when nothing of it changed."""
    tenant = TenantState("acme", executives=["jane.doe@acme.com", "robert.chen@acme.com"])
    tenant.observe(_internal("Jane Doe", "jane.doe@acme.com"))  # acme.com is internal from here on
    for (addr, name), ask in stream:
        before = dict(tenant._name_tables)
        tenant.observe(_internal(name, addr) if addr.endswith("@acme.com") else _msg(name, addr))
        for execs_only in ask:
            table = tenant.name_table(execs_only, 4)
            items = sorted((n, tuple(sorted(a))) for n, a in tenant.internal_names.items()
                           if len(n) >= 4 and (not execs_only or any(x in tenant.executives for x in a)))
            assert table == (tuple(n for n, _ in items), tuple(a for _, a in items))
            old = before.get((execs_only, 4))
            if old is not None and old == table:
                assert table is old  # nothing of it changed: the same object, the memos keep their answers
            elif old is not None and old[0] == table[0]:
                assert table[0] is old[0]  # only addresses changed: the same names (and index)
            current, index = tenant.name_index(execs_only, 4)
            rebuilt = ex.NameIndex(table[0])
            assert current is table and [index.lengths.tolist(), index.low.tolist(), index.high.tolist()] == \
                [rebuilt.lengths.tolist(), rebuilt.low.tolist(), rebuilt.high.tolist()]


def test_addresses_joining_a_name_are_patched_in_sorted_order() -> None:
    tenant = TenantState("acme")
    tenant.observe(_internal("Jane Doe", "m@acme.com"))
    names, _ = tenant.name_table(False, 4)
    for addr in ("z@acme.com", "b@acme.com", "y@acme.com", "a@acme.com"):  # one patch for all four
        tenant.observe(_internal("Jane Doe", addr))
    table = tenant.name_table(False, 4)
    assert table == (("jane doe",), (("a@acme.com", "b@acme.com", "m@acme.com", "y@acme.com", "z@acme.com"),))
    assert table[0] is names


def test_a_caller_holding_an_older_table_gets_that_tables_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ex, "INDEXED_NAMES", 1)
    tenant = TenantState("acme")
    tenant.observe(_internal("Jane Doe", "jane@acme.com"))
    old = tenant.name_table(False, ex._MIN_NAME)
    tenant.observe(_internal("Aaron Abbot", "aaron@acme.com"))
    index = ex._name_index(tenant, False, old)
    assert index is not None and len(index.lengths) == len(old[0]) == 1
    new = tenant.name_table(False, ex._MIN_NAME)
    assert ex._name_index(tenant, False, new) is tenant.name_index(False, ex._MIN_NAME)[1]


def test_a_name_leaving_a_table_rebuilds_it_and_its_index() -> None:
    """Names and their users only grow today; should one leave a table (its only executive
    address dropped), the table and its index are rebuilt rather than patched."""
    tenant = TenantState("acme", executives=["jane.doe@acme.com"])
    for name, addr in (("Jane Doe", "jane.doe@acme.com"), ("Mark Lee", "mark@acme.com")):
        tenant.observe(_internal(name, addr))
    table, index = tenant.name_index(True, 4)
    assert table[0] == ("jane doe",) and len(index.lengths) == 1
    tenant.internal_names["jane doe"] = {"other@acme.com"}  # (as if the executive's address left)
    tenant._name_pending[(True, 4)].add("jane doe")
    table, index = tenant.name_index(True, 4)
    assert table == ((), ()) and len(index.lengths) == 0
