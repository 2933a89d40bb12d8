"""Journals kept as deltas: one snapshot row per entry plus an index, bounded by what is live."""

from __future__ import annotations

from pathlib import Path

from oms_chain.chain.journal import SnapshotMap
from oms_chain.chain.tracker import StoreTrackerJournal
from oms_chain.store import open_store


def _entry(n: int) -> dict[str, object]:
    return {"tx_hash": f"0x{n:064x}", "status": "submitted", "n": n}


def test_changing_one_entry_writes_one_row_and_a_new_entry_adds_the_index(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'j.db'}") as store:
        journal = SnapshotMap(store, "j/1")
        journal.put_many({str(i): _entry(i) for i in range(50)})
        assert journal.writes == 51  # fifty rows and the index once
        journal.put("7", {**_entry(7), "status": "final"})
        assert journal.writes == 52  # an update: that row only, whatever the size of the map
        journal.put("new", _entry(99))
        assert journal.writes == 54  # a new key: its row and the index
        reopened = SnapshotMap(store, "j/1").load()
        assert len(reopened) == 51 and reopened["7"]["status"] == "final"


def test_removed_entries_leave_the_index_and_their_rows_are_emptied(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'j.db'}") as store:
        journal = SnapshotMap(store, "j/1")
        journal.put_many({str(i): _entry(i) for i in range(5)})
        journal.remove(["1", "3", "not-there"])
        assert set(SnapshotMap(store, "j/1").load()) == {"0", "2", "4"}
        assert store.load_snapshot("j/1/1") == (store.last_position(), {})
        journal.remove(["1"])  # nothing left to remove: nothing written
        assert journal.writes == 6 + 1 + 2


def test_a_journal_saved_whole_by_an_earlier_version_is_read_and_migrated(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'j.db'}") as store:
        old = [_entry(1), _entry(2)]
        store.save_snapshot("settlement/31337", store.last_position(), {"txs": old})
        journal = StoreTrackerJournal(store)
        assert sorted(e["n"] for e in journal.load(31337)) == [1, 2]  # type: ignore[type-var]
        found = store.load_snapshot("settlement/31337")
        assert found is not None and found[1]["format"] == 2
        again = StoreTrackerJournal(store).load(31337)
        assert sorted(e["n"] for e in again) == [1, 2]  # type: ignore[type-var]
        journal.forget(31337, [str(old[0]["tx_hash"])])
        assert [e["n"] for e in StoreTrackerJournal(store).load(31337)] == [2]


def test_an_empty_store_has_an_empty_journal(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'j.db'}") as store:
        assert SnapshotMap(store, "nothing").load() == {}
        assert StoreTrackerJournal(store, suffix="/0xabc").load(1) == []
