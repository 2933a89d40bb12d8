"""Tamper suite: someone with write access to the database edits it behind oms-chain's back.

Every case runs on SQLite and on a real PostgreSQL server. What the hash chain alone cannot see
(a truncated log with its head rewritten, a fully re-hashed log, a tail appended and rewritten)
is caught against anchors published earlier; snapshots and client-order-id reservations are
caught by their seals and by re-deriving them from the events — before anything trusts them.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from store_conformance import ev

from oms_chain.engine import SNAPSHOT_NAME, Engine
from oms_chain.model import Asset, Intent, ManualClock, SpotPair
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.store import (
    GENESIS_HASH,
    Anchor,
    StoreTampered,
    check_restart_state,
    open_store,
    state_problems,
    verify_audit,
)
from oms_chain.store.events import canonical_record, chain_hash, snapshot_seal
from oms_chain.venues import PaperVenue

ETH = Asset.cex("paper", "ETH", 8)
USDC = Asset.cex("paper", "USDC", 6)
PAIR = SpotPair(base=ETH, quote=USDC)


class Db:
    """Raw SQL on the store's database, as an intruder (or a careless admin) would run it."""

    def __init__(self, url: str, sqlite_path: Path | None) -> None:
        self.url = url
        self.sqlite_path = sqlite_path

    def sql(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.sqlite_path is not None:
            with closing(sqlite3.connect(self.sqlite_path)) as db, db:
                return db.execute(sql, params).fetchall()
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    if request.param == "sqlite":
        path = tmp_path / "oms.db"
        yield Db(f"sqlite:///{path}", path)
    else:
        yield Db(request.getfixturevalue("postgres_url"), None)


def _fill(url: str, n: int, start: int = 1) -> Anchor:
    """Append events ``start .. start+n-1`` and return the head as an anchor."""
    with open_store(url) as store:
        for i in range(start, start + n):
            store.append(f"s{i % 3}", [ev(i)], None)
        head = store.head()
        return Anchor(head.position, head.hash, store.store_id(), f"anchor@{head.position}")


def _rehash_from(db: Db, first: int) -> None:
    """Recompute prev_hash/hash of every row from ``first`` on, and the head (a forgery)."""
    rows = db.sql(
        "SELECT position, stream_id, stream_version, event_id, event_type, version, payload, "
        "ts_event, ts_init, causation_id, correlation_id FROM events ORDER BY position"
    )
    prev = GENESIS_HASH
    for r in rows:
        if r[0] >= first:
            record = canonical_record(
                position=r[0], stream_id=r[1], stream_version=r[2], event_id=r[3],
                event_type=r[4], version=r[5], payload_json=r[6], ts_event=r[7], ts_init=r[8],
                causation_id=r[9], correlation_id=r[10],
            )  # fmt: skip
            digest = chain_hash(prev, record)
            db.sql(
                "UPDATE events SET prev_hash = ?, hash = ? WHERE position = ?", (prev, digest, r[0])
            )
        else:
            digest = db.sql("SELECT hash FROM events WHERE position = ?", (r[0],))[0][0]
        prev = digest
    db.sql("UPDATE chain_head SET position = ?, hash = ? WHERE id = 1", (len(rows), prev))


def _verify(url: str, anchors: list[Anchor] = ()) -> Any:  # type: ignore[assignment]
    with open_store(url, read_only=True) as store:
        return verify_audit(store, anchors=anchors, store_id=store.store_id())


def test_truncation_with_head_rewrite_passes_the_chain_but_not_the_anchor(db: Db) -> None:
    anchor = _fill(db.url, 8)
    db.sql("DELETE FROM events WHERE position > 5")
    (h5,) = db.sql("SELECT hash FROM events WHERE position = 5")[0]
    db.sql("UPDATE chain_head SET position = 5, hash = ? WHERE id = 1", (h5,))
    assert _verify(db.url).ok  # the chain alone cannot know
    report = _verify(db.url, [anchor])
    assert not report.ok and report.first_bad_position == 6
    assert "ends at position 5" in (report.reason or "") and "anchor@8" in (report.reason or "")


def test_full_rehash_after_an_edit_passes_the_chain_but_not_the_anchor(db: Db) -> None:
    anchor = _fill(db.url, 6)
    db.sql("UPDATE events SET payload = ? WHERE position = 2", ('{"n":"999"}',))
    assert not _verify(db.url).ok
    _rehash_from(db, 2)
    assert _verify(db.url).ok
    report = _verify(db.url, [anchor])
    assert not report.ok and report.first_bad_position == 6
    assert "differs from anchor@6" in (report.reason or "")


def test_tail_appended_after_an_anchor_then_rewritten_is_caught_by_the_next_anchor(db: Db) -> None:
    first = _fill(db.url, 4)
    second = _fill(db.url, 3, start=5)
    assert _verify(db.url, [first, second]).ok
    # Truncate back to the first anchor and append other events in their place.
    db.sql("DELETE FROM events WHERE position > 4")
    db.sql("UPDATE chain_head SET position = 4, hash = ? WHERE id = 1", (first.hash,))
    with open_store(db.url) as store:
        for i in (50, 51, 52):
            store.append(f"s{i % 3}", [ev(i)], None)
    assert _verify(db.url, [first]).ok  # consistent up to the older anchor
    report = _verify(db.url, [first, second])
    assert not report.ok and report.first_bad_position == 7
    assert "anchor@7" in (report.reason or "")


def test_an_anchor_of_another_store_is_refused(db: Db) -> None:
    anchor = _fill(db.url, 2)
    db.sql("UPDATE store_meta SET value = ? WHERE key = 'store_id'", ("f" * 32,))
    report = _verify(db.url, [anchor])
    assert not report.ok and "identity rewritten" in (report.reason or "")


def test_deleted_head_row_is_reported_and_not_recreated(db: Db) -> None:
    _fill(db.url, 3)
    db.sql("DELETE FROM chain_head")
    report = _verify(db.url)
    assert not report.ok and "chain_head row is missing" in (report.reason or "")
    assert db.sql("SELECT COUNT(*) FROM chain_head") == [(0,)]


# -- snapshots ---------------------------------------------------------------------------------


def _journal(url: str) -> None:
    with open_store(url) as store:
        store.append("s", [ev(1), ev(2)], 0)
        store.save_snapshot("nonces/31337/0xabc", 2, {"next": 7, "released": []})
        store.save_snapshot("amm-orders/31337/0xabc", 1, {"orders": {"c1": {"tx": "0x01"}}})


def _load(url: str, name: str) -> Any:
    with open_store(url) as store:
        return store.load_snapshot(name)


def test_an_untouched_snapshot_loads(db: Db) -> None:
    _journal(db.url)
    assert _load(db.url, "nonces/31337/0xabc") == (2, {"next": 7, "released": []})


def test_a_snapshot_edited_in_place_is_refused_naming_table_and_row(db: Db) -> None:
    _journal(db.url)
    db.sql(
        "UPDATE snapshots SET state = ? WHERE name = ?",
        ('{"next":3,"released":[]}', "nonces/31337/0xabc"),
    )
    with pytest.raises(StoreTampered) as caught:
        _load(db.url, "nonces/31337/0xabc")
    assert (caught.value.table, caught.value.row) == ("snapshots", "nonces/31337/0xabc")
    assert "does not match its seal" in str(caught.value)
    assert _load(db.url, "amm-orders/31337/0xabc") is not None  # the other row is fine


def test_a_deleted_snapshot_is_refused_instead_of_looking_like_a_fresh_start(db: Db) -> None:
    _journal(db.url)
    db.sql("DELETE FROM snapshots WHERE name = ?", ("amm-orders/31337/0xabc",))
    with pytest.raises(StoreTampered, match="deleted"):
        _load(db.url, "amm-orders/31337/0xabc")


def test_a_snapshot_moved_to_another_position_or_name_is_refused(db: Db) -> None:
    _journal(db.url)
    db.sql("UPDATE snapshots SET position = 1 WHERE name = ?", ("nonces/31337/0xabc",))
    db.sql("INSERT INTO snapshots (name, position, state) VALUES (?, ?, ?)", ("x", 0, "{}"))
    with open_store(db.url, read_only=True) as store:
        problems = {p.row: p.problem for p in state_problems(store)}
    assert set(problems) == {"nonces/31337/0xabc", "x"}
    assert "no seal" in problems["x"]


def test_a_snapshot_left_over_from_a_rewritten_chain_is_refused(db: Db) -> None:
    _journal(db.url)
    db.sql("UPDATE events SET payload = ? WHERE position = 2", ('{"n":"x"}',))
    _rehash_from(db, 2)
    with pytest.raises(StoreTampered, match="position 2 it was taken at was rewritten"):
        _load(db.url, "nonces/31337/0xabc")


# -- state derived from the events: projections snapshot, client order ids ---------------------


async def _trade(url: str) -> None:
    """An engine session on the store: three filled intents and a projections snapshot."""
    clock = ManualClock()
    with open_store(url) as store:
        engine = _engine(store, clock)
        await engine.start()
        for i in range(3):
            intent = Intent.create(
                intent_id=f"i{i}", account="acct", instrument=PAIR, side="buy", quantity="0.5",
                venues=["paper"], now_ns=clock.now_ns(), max_slippage_bps=50,
            )  # fmt: skip
            await engine.submit(intent)
        assert engine.save_snapshot()
        await engine.stop()


def _engine(store: Any, clock: ManualClock) -> Engine:
    venue = PaperVenue("paper", clock=clock, prices={PAIR.id: Decimal(2000)})
    engine = Engine(
        store=store, venues=[venue], risk=RiskGate(RiskLimits(), clock=clock), clock=clock
    )
    engine.set_reference_price(PAIR.id, Decimal(2000))
    return engine


async def _restart(url: str) -> None:
    with open_store(url) as store:
        engine = _engine(store, ManualClock())
        try:
            await engine.start()
        finally:
            await engine.stop()


async def test_an_untouched_engine_store_restarts(db: Db) -> None:
    await _trade(db.url)
    await _restart(db.url)
    with open_store(db.url, read_only=True) as store:
        assert state_problems(store, projections_snapshot=SNAPSHOT_NAME) == []


def _forge_projections(db: Db, *, reseal: bool) -> None:
    ((position, state),) = db.sql(
        "SELECT position, state FROM snapshots WHERE name = ?", (SNAPSHOT_NAME,)
    )
    forged = state.replace('"filled_quantity":"0.5"', '"filled_quantity":"0.1"', 1)
    assert forged != state
    db.sql("UPDATE snapshots SET state = ? WHERE name = ?", (forged, SNAPSHOT_NAME))
    if reseal:
        (digest,) = db.sql("SELECT hash FROM events WHERE position = ?", (position,))[0]
        db.sql(
            "UPDATE snapshot_seals SET seal = ? WHERE name = ?",
            (snapshot_seal(SNAPSHOT_NAME, position, forged, digest), SNAPSHOT_NAME),
        )


async def test_an_edited_projections_snapshot_stops_the_restart(db: Db) -> None:
    await _trade(db.url)
    _forge_projections(db, reseal=False)
    with pytest.raises(StoreTampered) as caught:
        await _restart(db.url)
    assert (caught.value.table, caught.value.row) == ("snapshots", SNAPSHOT_NAME)


async def test_a_resealed_forged_projections_snapshot_stops_the_engine_restart(db: Db) -> None:
    """The engine does not trust a snapshot on its seal alone: it re-derives it at start."""
    await _trade(db.url)
    _forge_projections(db, reseal=True)
    with pytest.raises(StoreTampered) as caught:
        await _restart(db.url)
    assert (caught.value.table, caught.value.row) == ("snapshots", SNAPSHOT_NAME)
    assert "re-derived from the events" in str(caught.value)


async def test_a_resealed_forged_projections_snapshot_is_caught_by_re_deriving_it(db: Db) -> None:
    await _trade(db.url)
    _forge_projections(db, reseal=True)
    with open_store(db.url, read_only=True) as store:
        check_restart_state(store, projections_snapshot=SNAPSHOT_NAME)  # the seal is fooled
        with pytest.raises(StoreTampered) as caught:
            check_restart_state(
                store, projections_snapshot=SNAPSHOT_NAME, rederive_projections=True
            )
    assert (caught.value.table, caught.value.row) == ("snapshots", SNAPSHOT_NAME)
    assert "re-derived from the events in orders" in str(caught.value)
    proc = subprocess.run(
        [sys.executable, "-m", "oms_chain.cli", "audit", "verify", "--store", db.url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3 and SNAPSHOT_NAME in proc.stderr, proc.stderr


async def test_a_deleted_client_order_id_reservation_stops_the_restart(db: Db) -> None:
    await _trade(db.url)
    ((coid,),) = db.sql(
        "SELECT client_order_id FROM client_order_ids ORDER BY client_order_id LIMIT 1"
    )
    db.sql("DELETE FROM client_order_ids WHERE client_order_id = ?", (coid,))
    with pytest.raises(StoreTampered) as caught:
        await _restart(db.url)
    assert (caught.value.table, caught.value.row) == ("client_order_ids", coid)
    assert "could be sent again" in str(caught.value)


async def test_a_client_order_id_given_to_another_order_stops_the_restart(db: Db) -> None:
    await _trade(db.url)
    ((coid,),) = db.sql(
        "SELECT client_order_id FROM client_order_ids ORDER BY client_order_id LIMIT 1"
    )
    db.sql("UPDATE client_order_ids SET order_id = 'o-intruder' WHERE client_order_id = ?", (coid,))
    with open_store(db.url, read_only=True) as store, pytest.raises(StoreTampered) as caught:
        check_restart_state(store, projections_snapshot=SNAPSHOT_NAME)
    assert caught.value.row == coid and "reserved for order 'o-intruder'" in str(caught.value)


async def test_an_edited_event_stops_the_restart_before_any_snapshot_is_used(db: Db) -> None:
    await _trade(db.url)
    db.sql("UPDATE events SET ts_init = ts_init + 1 WHERE position = 3")
    with pytest.raises(StoreTampered) as caught:
        await _restart(db.url)
    assert (caught.value.table, caught.value.row) == ("events", "3")


def test_snapshots_of_a_store_from_before_seals_are_sealed_once_then_never_again(db: Db) -> None:
    _journal(db.url)
    # A store as an older oms-chain left it: no seals, no marker.
    db.sql("DELETE FROM snapshot_seals")
    db.sql("DELETE FROM store_meta WHERE key = 'snapshot_seals'")
    assert _load(db.url, "nonces/31337/0xabc") == (2, {"next": 7, "released": []})
    # From now on an unsealed row is not blessed by the next writer.
    db.sql("DELETE FROM snapshot_seals WHERE name = ?", ("nonces/31337/0xabc",))
    with pytest.raises(StoreTampered, match="no seal"):
        _load(db.url, "nonces/31337/0xabc")


# -- the journals that restart loads, through their own classes ---------------------------------


def test_the_journals_restart_loads_refuse_tampered_rows(db: Db) -> None:
    from oms_chain.chain.nonces import StoreNonceJournal
    from oms_chain.chain.tracker import StoreTrackerJournal
    from oms_chain.venues.amm.account import AmmOrderJournal

    addr = "0x" + "ab" * 20
    with open_store(db.url) as store:
        store.append("s", [ev(1)], 0)
        StoreNonceJournal(store).save(31337, addr, 12, (10,))
        StoreTrackerJournal(store).save(31337, [{"tx_hash": "0x01", "nonce": 11}])
        AmmOrderJournal(store, 31337, addr).put("coid-1", {"order_id": "o1", "raw": "0x02"})
    with open_store(db.url) as store:  # untouched: everything loads
        assert StoreNonceJournal(store).load(31337, addr) == (12, (10,))
        assert AmmOrderJournal(store, 31337, addr).get("coid-1") == {
            "order_id": "o1",
            "raw": "0x02",
            "state": "pending",
        }
    db.sql(
        "UPDATE snapshots SET state = ? WHERE name LIKE ?", ('{"next":5,"released":[]}', "nonces/%")
    )
    db.sql("DELETE FROM snapshots WHERE name LIKE ?", ("amm-orders/%",))
    db.sql("UPDATE snapshots SET state = ? WHERE name LIKE ?", ('{"txs":[]}', "settlement/%"))
    with open_store(db.url) as store:
        with pytest.raises(StoreTampered) as nonces:
            StoreNonceJournal(store).load(31337, addr)
        with pytest.raises(StoreTampered) as orders:
            AmmOrderJournal(store, 31337, addr)
        with pytest.raises(StoreTampered) as tracker:
            StoreTrackerJournal(store).load(31337)
    # (names as the journals write them today; only their prefixes are relied on)
    assert nonces.value.table == "snapshots" and nonces.value.row.startswith("nonces/")
    assert orders.value.row.startswith("amm-orders/") and "deleted" in str(orders.value)
    assert tracker.value.row.startswith("settlement/31337")
