"""The AMM order journal: entry states move only along AMM_ORDER_TRANSITIONS, their unwrap step
only along UNWRAP_TRANSITIONS, and what earlier versions stored still loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms_chain.model.amm_orders import (
    AMM_ORDER_TRANSITIONS,
    UNWRAP_TRANSITIONS,
    AmmOrderState,
    UnwrapState,
    check_amm_order_transition,
    check_unwrap_transition,
)
from oms_chain.model.errors import IllegalTransition, InvalidInput
from oms_chain.store import open_store
from oms_chain.venues.amm.journal import AmmOrderJournal, entry_state, unwrap_state

A = AmmOrderState
ADDRESS = "0x" + "ab" * 20


def _entry() -> dict[str, Any]:
    return {"venue": "uniswap-v3-31337", "tx": {"hash": "0x" + "11" * 32}, "spend": "5"}


def test_the_table_allows_exactly_the_documented_moves() -> None:
    edges = {(a, b) for a, nxt in AMM_ORDER_TRANSITIONS.items() for b in nxt}
    assert edges == {(A.PENDING, A.MINED), (A.PENDING, A.ENDED), (A.MINED, A.ENDED)}
    assert set(AMM_ORDER_TRANSITIONS) == set(AmmOrderState)


@given(st.sampled_from(list(AmmOrderState)), st.sampled_from(list(AmmOrderState)))
def test_a_move_outside_the_table_raises_and_one_inside_does_not(
    current: AmmOrderState, to: AmmOrderState
) -> None:
    if to in AMM_ORDER_TRANSITIONS[current]:
        check_amm_order_transition("c", current, to)
    else:
        with pytest.raises(IllegalTransition, match=f"from {current.value} to {to.value}"):
            check_amm_order_transition("c", current, to)


def test_an_entry_starts_pending_moves_along_the_table_and_survives_a_reopen(
    tmp_path: Path,
) -> None:
    with open_store(f"sqlite:///{tmp_path / 's.db'}") as store:
        journal = AmmOrderJournal(store, 31337, ADDRESS)
        journal.put("c1", _entry())
        assert journal.state("c1") is A.PENDING
        journal.advance("c1", A.MINED)
        with pytest.raises(IllegalTransition):
            journal.advance("c1", A.PENDING)  # a reorg does not take the reservation again
        journal.advance("c1", A.ENDED, ended_ns=42)
        with pytest.raises(IllegalTransition):
            journal.advance("c1", A.ENDED)
        journal.advance_unwrap("c1", UnwrapState.PENDING)
        entry = journal.get("c1")
        assert entry is not None
        entry["note"] = "x"
        journal.put("c1", entry)  # other fields change freely; the states stay
        again = AmmOrderJournal(store, 31337, ADDRESS)
        assert again.state("c1") is A.ENDED
        assert again.get("c1") == {
            **_entry(),
            "state": "ended",
            "ended_ns": 42,
            "unwrap": "pending",
            "note": "x",
        }
        assert unwrap_state(again.get("c1") or {}) is UnwrapState.PENDING


def test_put_cannot_move_a_state_and_unknown_ids_are_refused(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 's.db'}") as store:
        journal = AmmOrderJournal(store, 31337, ADDRESS)
        journal.put("c1", _entry())
        with pytest.raises(InvalidInput, match="use advance"):
            journal.put("c1", {**_entry(), "state": "ended"})
        assert journal.state("c1") is A.PENDING
        with pytest.raises(InvalidInput, match="'nope'"):
            journal.advance("nope", A.MINED)


@pytest.mark.parametrize(
    ("fields", "state"),
    [({}, A.PENDING), ({"settled": True}, A.MINED), ({"settled": True, "ended_ns": 9}, A.ENDED)],
)
def test_entries_journaled_before_states_existed_read_as_their_state(
    fields: dict[str, Any], state: AmmOrderState, tmp_path: Path
) -> None:
    assert entry_state({**_entry(), **fields}) is state
    with open_store(f"sqlite:///{tmp_path / 's.db'}") as store:
        store.save_snapshot(
            f"amm-orders/31337/{ADDRESS}", 0, {"orders": {"old": {**_entry(), **fields}}}
        )
        journal = AmmOrderJournal(store, 31337, ADDRESS)  # the whole-map format, migrated
        assert journal.state("old") is state
        if state is not A.ENDED:
            journal.advance("old", A.ENDED, ended_ns=1)
            found = journal.get("old")
            assert found is not None and "settled" not in found


U = UnwrapState


def test_the_unwrap_table_starts_once_and_ends_sent_or_failed() -> None:
    edges = {(a, b) for a, nxt in UNWRAP_TRANSITIONS.items() for b in nxt}
    assert edges == {(U.NOT_STARTED, U.PENDING), (U.PENDING, U.SENT), (U.PENDING, U.FAILED)}
    for current in U:
        for to in U:
            if (current, to) in edges:
                check_unwrap_transition("c", current, to)
            else:
                with pytest.raises(IllegalTransition, match=f"from {current.value} to {to.value}"):
                    check_unwrap_transition("c", current, to)


@pytest.mark.parametrize(
    ("stored", "state"),
    [
        (None, U.NOT_STARTED),
        ("pending", U.PENDING),
        ("0x" + "22" * 32, U.SENT),
        ("failed: insufficient funds", U.FAILED),
    ],
)
def test_unwraps_stored_by_earlier_versions_read_as_their_state(
    stored: str | None, state: UnwrapState, tmp_path: Path
) -> None:
    fields = {} if stored is None else {"unwrap": stored}
    assert unwrap_state({**_entry(), **fields}) is state
    with open_store(f"sqlite:///{tmp_path / 's.db'}") as store:
        store.save_snapshot(
            f"amm-orders/31337/{ADDRESS}", 0, {"orders": {"old": {**_entry(), **fields}}}
        )
        journal = AmmOrderJournal(store, 31337, ADDRESS)
        found = journal.get("old")
        assert found is not None and unwrap_state(found) is state


def test_an_unwrap_moves_along_its_table_is_stored_as_before_and_survives_a_reopen(
    tmp_path: Path,
) -> None:
    tx = "0x" + "33" * 32
    with open_store(f"sqlite:///{tmp_path / 's.db'}") as store:
        journal = AmmOrderJournal(store, 31337, ADDRESS)
        journal.put("c1", _entry())
        journal.put("c2", _entry())
        with pytest.raises(IllegalTransition):
            journal.advance_unwrap("c1", U.SENT, tx)  # never started
        journal.advance_unwrap("c1", U.PENDING)
        with pytest.raises(InvalidInput, match="tx hash"):
            journal.advance_unwrap("c1", U.SENT, "")
        journal.advance_unwrap("c1", U.SENT, tx)
        with pytest.raises(IllegalTransition):
            journal.advance_unwrap("c1", U.FAILED, "late")
        journal.advance_unwrap("c2", U.PENDING)
        journal.advance_unwrap("c2", U.FAILED, "no WETH")
        with pytest.raises(InvalidInput, match="advance_unwrap"):
            journal.put("c1", {**_entry(), "unwrap": "pending"})
        with pytest.raises(InvalidInput, match="'nope'"):
            journal.advance_unwrap("nope", U.PENDING)
        again = AmmOrderJournal(store, 31337, ADDRESS)
        assert (again.get("c1") or {})["unwrap"] == tx  # the stored form of earlier versions
        assert (again.get("c2") or {})["unwrap"] == "failed: no WETH"
        assert [unwrap_state(again.get(c) or {}) for c in ("c1", "c2")] == [U.SENT, U.FAILED]


def test_an_unwrap_left_pending_by_a_dead_process_is_marked_failed_and_the_entry_pruned(
    tmp_path: Path,
) -> None:
    from oms_chain.chain.registry import chain_info
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.custody.local import LocalSigner
    from oms_chain.venues.amm.account import ChainAccount

    key = "0x" + f"{7:064x}"
    with open_store(f"sqlite:///{tmp_path / 's.db'}") as store:
        before = ChainAccount(
            RpcClient(["http://127.0.0.1:9"]), chain_info(31337), LocalSigner(key), store
        )
        for coid in ("died", "running"):
            before.journal.put(coid, {**_entry(), "tx": {"hash": "0x" + coid.encode().hex()}})
            before.journal.advance(coid, A.ENDED, ended_ns=1)
            before.journal.advance_unwrap(coid, U.PENDING)
        # a new process: "running" is this process's own unwrap, still going
        account = ChainAccount(
            RpcClient(["http://127.0.0.1:9"]),
            chain_info(31337),
            LocalSigner(key),
            store,
            journal_retention_s=0,
            clock_ns=lambda: 10**12,
        )
        account.unwrapping.add("running")
        assert account.prune() == ["died"]
        assert unwrap_state(account.journal.get("running") or {}) is U.PENDING
        again = AmmOrderJournal(store, 31337, account.address)
        assert again.get("died") is None
        account.unwrapping.discard("running")
        assert account.prune() == ["running"]
