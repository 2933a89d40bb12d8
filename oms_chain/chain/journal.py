"""A durable map of JSON entries in an event store's snapshots, written as deltas.

The chain layer's journals (settlement tracker, the AMM order journal) used to keep all their
entries in one snapshot rewritten whole on every change (the tracker's on every poll), growing
with every transaction ever sent. :class:`SnapshotMap` keeps one snapshot per entry plus an index
of the live keys: changing an entry writes that entry only, adding or removing one also writes
the index (its keys only), and a removed entry's row is deleted with its seal, so neither the
rows nor their size grow with the history. A map saved in the old single-snapshot format is read
and migrated on load.

Every row stays under the store's snapshot seals: an entry row edited, deleted or re-inserted
outside oms-chain is :class:`~oms_chain.store.errors.StoreTampered` on load, and so is a key the
(sealed) index lists whose row is gone (rows are written before the index names them and
removed after it stops naming them, so a crash never leaves such a key).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from oms_chain.model.errors import InvalidInput
from oms_chain.store.base import EventStore
from oms_chain.store.errors import StoreTampered

__all__ = ["SnapshotMap"]

_FORMAT = 2


class SnapshotMap:
    """Entries (JSON-safe dicts) by key, in ``store`` under snapshot ``name`` (the index) and
    ``name + "/" + key`` (one per entry).

    ``legacy`` turns a snapshot of the old whole-map format found under ``name`` into entries
    by key; it is migrated to this format on :meth:`load`.
    """

    def __init__(
        self,
        store: EventStore,
        name: str,
        *,
        legacy: Callable[[Mapping[str, Any]], dict[str, dict[str, Any]]] | None = None,
    ) -> None:
        if not name:
            raise InvalidInput("a SnapshotMap needs a snapshot name")
        self._store = store
        self._name = name
        self._legacy = legacy
        self._keys: dict[str, None] = {}
        #: Snapshot rows written and deleted so far (monitoring and tests).
        self.writes = 0
        self.deletes = 0

    def load(self) -> dict[str, dict[str, Any]]:
        """Every live entry by key (and the index becomes this map's)."""
        found = self._store.load_snapshot(self._name)
        if found is None:
            self._keys = {}
            return {}
        state = found[1]
        if state.get("format") != _FORMAT:
            entries = self._legacy(state) if self._legacy is not None else {}
            self._keys = {}
            self.put_many(entries)
            return entries
        out: dict[str, dict[str, Any]] = {}
        for key in state.get("keys", []):
            row = self._store.load_snapshot(self._entry(key))
            if row is None:
                raise StoreTampered(
                    "snapshots",
                    self._entry(key),
                    f"the index {self._name!r} lists it but the row is gone",
                )
            if row[1]:  # an entry emptied by an earlier version's remove()
                out[key] = row[1]
        self._keys = dict.fromkeys(out)
        return out

    def put(self, key: str, entry: Mapping[str, Any]) -> None:
        """Write one entry; durable when this returns."""
        self.put_many({key: entry})

    def put_many(self, entries: Mapping[str, Mapping[str, Any]]) -> None:
        """Write several entries (each its own row), then the index if a key is new."""
        if not entries:
            return
        position = self._store.last_position()
        for key, entry in entries.items():
            self._store.save_snapshot(self._entry(key), position, dict(entry))
            self.writes += 1
        new = [k for k in entries if k not in self._keys]
        if new:
            self._keys.update(dict.fromkeys(new))
            self._save_index(position)

    def remove(self, keys: Iterable[str]) -> None:
        """Drop entries: out of the index first, then their rows deleted."""
        gone = list(dict.fromkeys(k for k in keys if k in self._keys))
        if not gone:
            return
        for key in gone:
            del self._keys[key]
        self._save_index(self._store.last_position())
        self._store.delete_snapshots([self._entry(key) for key in gone])
        self.deletes += len(gone)

    def _entry(self, key: str) -> str:
        return f"{self._name}/{key}"

    def _save_index(self, position: int) -> None:
        self._store.save_snapshot(
            self._name, position, {"format": _FORMAT, "keys": list(self._keys)}
        )
        self.writes += 1
