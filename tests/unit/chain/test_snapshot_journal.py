"""Journals kept as deltas: one snapshot row per entry plus an index, bounded by what is live."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from oms_chain.chain.journal import SnapshotMap
from oms_chain.chain.tracker import StoreTrackerJournal
from oms_chain.store import InvalidEvent, StoreTampered, open_store, state_problems


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


def test_removed_entries_leave_the_index_and_their_rows_are_deleted(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'j.db'}") as store:
        journal = SnapshotMap(store, "j/1")
        journal.put_many({str(i): _entry(i) for i in range(5)})
        journal.remove(["1", "3", "not-there"])
        assert set(SnapshotMap(store, "j/1").load()) == {"0", "2", "4"}
        assert store.load_snapshot("j/1/1") is None
        assert store.load_snapshot("j/1/3") is None
        journal.remove(["1"])  # nothing left to remove: nothing written
        assert (journal.writes, journal.deletes) == (6 + 1, 2)
        assert state_problems(store) == []  # deleted with their seals: nothing looks tampered
    with sqlite3.connect(tmp_path / "j.db") as db:
        rows = db.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0]
    assert rows == 1 + 3  # the index and the live entries, whatever was removed


def test_a_row_the_index_lists_deleted_outside_oms_chain_is_tampering(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'j.db'}") as store:
        SnapshotMap(store, "j/1").put_many({str(i): _entry(i) for i in range(3)})
        store.delete_snapshots(["j/1/1"])  # row and seal gone together
        with pytest.raises(StoreTampered) as caught:
            SnapshotMap(store, "j/1").load()
        assert caught.value.row == "j/1/1" and "lists it" in caught.value.problem


def test_an_entry_row_edited_outside_oms_chain_is_tampering(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'j.db'}") as store:
        SnapshotMap(store, "j/1").put_many({str(i): _entry(i) for i in range(3)})
    with sqlite3.connect(tmp_path / "j.db") as db:  # someone edits the file outside oms-chain
        db.execute("UPDATE snapshots SET state = ? WHERE name = 'j/1/2'", ('{"n": 7}',))
    with open_store(f"sqlite:///{tmp_path / 'j.db'}") as store:
        with pytest.raises(StoreTampered) as caught:
            SnapshotMap(store, "j/1").load()
        assert caught.value.row == "j/1/2"
        assert [p.row for p in state_problems(store)] == ["j/1/2"]


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


@pytest.mark.parametrize("names", ["j/1/1", None, [1], [""], ["a\x00b"]])
def test_delete_snapshots_refuses_bad_names_before_deleting_anything(
    names: object, tmp_path: Path
) -> None:
    with open_store(f"sqlite:///{tmp_path / 'j.db'}") as store:
        SnapshotMap(store, "j/1").put_many({"1": _entry(1)})
        with pytest.raises(InvalidEvent, match="name"):
            store.delete_snapshots(["j/1/1", *names] if isinstance(names, list) else names)  # type: ignore[arg-type]
        assert SnapshotMap(store, "j/1").load() == {"1": _entry(1)}


class _DiesBeforeDeleting:
    """The store of a process killed after the index was written, before the rows went."""

    def __init__(self, store: object) -> None:
        self._store = store

    def delete_snapshots(self, names: object) -> None:
        raise KeyboardInterrupt

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


def test_a_crash_between_the_index_and_the_row_deletes_leaves_a_consistent_journal(
    tmp_path: Path,
) -> None:
    with open_store(f"sqlite:///{tmp_path / 'j.db'}") as store:
        SnapshotMap(store, "j/1").put_many({str(i): _entry(i) for i in range(3)})
        dying = SnapshotMap(_DiesBeforeDeleting(store), "j/1")  # type: ignore[arg-type]
        dying.load()
        with pytest.raises(KeyboardInterrupt):
            dying.remove(["0", "2"])
        # restart: the index no longer names them; their rows linger, sealed and unread
        assert SnapshotMap(store, "j/1").load() == {"1": _entry(1)}
        assert state_problems(store) == []
