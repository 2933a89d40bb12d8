"""Journal writes per settlement poll: deltas (one row per moved entry) against the whole
snapshot, with N settled entries still held, and after they are pruned.

Each poll here moves one transaction (one more confirmation): what a tracker poll writes when a
single swap is in flight beside N settled ones. Baseline, measured in the same run on the same
SQLite store: the format before journals were bounded, one snapshot holding every entry,
rewritten whole on each poll. Ours: :class:`~oms_chain.chain.journal.SnapshotMap` as the
tracker's journal uses it (that entry's row only; the index only when a key is added or
removed), then the same poll once the N settled entries were pruned (their rows deleted with
their seals). Bytes are the canonical JSON handed to ``save_snapshot``; times are wall-clock
per poll, including SQLite's commit (``synchronous=NORMAL``, WAL). Entries are shaped like the
tracker's (a signed EIP-1559 swap is about 400 bytes of raw transaction).

Target: bytes per poll independent of N (the baseline grows linearly), rows in the store equal
to the live entries after pruning.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from oms_chain.chain.journal import SnapshotMap
from oms_chain.store import open_store

SIZES = (100, 1_000, 10_000)
POLLS = 20


def _entry(n: int, status: str = "final", confirmations: int = 64) -> dict[str, Any]:
    return {
        "raw": "02f8" + f"{n:08x}" * 100,
        "tx_hash": f"0x{n:064x}",
        "sender": "0x" + "ab" * 20,
        "nonce": n,
        "status": status,
        "confirmations": confirmations,
        "block_number": 1_000 + n,
        "block_hash": f"0x{n + 7:064x}",
        "succeeded": True,
        "rebroadcasts": 0,
        "replaced_by": None,
        "history": ["submitted", "included", "confirmed", "final"],
    }


def _size(state: dict[str, Any]) -> int:
    return len(json.dumps(state, sort_keys=True, separators=(",", ":")))


class _Counting:
    """The store, counting the JSON bytes of every snapshot written."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.bytes = 0

    def save_snapshot(self, name: str, position: int, state: dict[str, Any]) -> None:
        self.bytes += _size(state)
        self._store.save_snapshot(name, position, state)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _polls(write: Any, counting: _Counting) -> tuple[float, float]:
    """(bytes per poll, milliseconds per poll) over POLLS polls of ``write(poll)``."""
    counting.bytes = 0
    started = time.perf_counter()
    for poll in range(POLLS):
        write(poll)
    elapsed = time.perf_counter() - started
    return counting.bytes / POLLS, 1e3 * elapsed / POLLS


def _rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0])


def _measure(n: int, path: Path) -> dict[str, Any]:
    with open_store(f"sqlite:///{path}") as store:
        counting = _Counting(store)
        settled = {str(i): _entry(i) for i in range(n)}
        live = _entry(n, "included", 0)

        def whole(poll: int) -> None:
            txs = [*settled.values(), {**live, "confirmations": poll + 1}]
            counting.save_snapshot("whole/1", store.last_position(), {"txs": txs})

        base_bytes, base_ms = _polls(whole, counting)
        journal = SnapshotMap(counting, "delta/1")  # type: ignore[arg-type]
        journal.put_many({**settled, "live": live})

        def delta(poll: int) -> None:
            journal.put("live", {**live, "confirmations": poll + 1})

        delta_bytes, delta_ms = _polls(delta, counting)
        started = time.perf_counter()
        journal.remove(list(settled))
        prune_ms = 1e3 * (time.perf_counter() - started)
        pruned_bytes, pruned_ms = _polls(delta, counting)
        reopened = SnapshotMap(store, "delta/1").load()
        assert list(reopened) == ["live"], list(reopened)[:3]
    return {
        f"n{n}_whole_bytes_per_poll": int(base_bytes),
        f"n{n}_delta_bytes_per_poll": int(delta_bytes),
        f"n{n}_bytes_ratio_whole_over_delta": round(base_bytes / delta_bytes, 1),
        f"n{n}_whole_ms_per_poll": round(base_ms, 3),
        f"n{n}_delta_ms_per_poll": round(delta_ms, 3),
        f"n{n}_pruned_bytes_per_poll": int(pruned_bytes),
        f"n{n}_pruned_delta_ms_per_poll": round(pruned_ms, 3),
        f"n{n}_prune_all_ms": round(prune_ms, 1),
        f"n{n}_rows_after_prune": _rows(path) - 1,  # less the baseline's whole snapshot
    }


def run() -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in SIZES:
            out.update(_measure(n, Path(tmp) / f"journal-{n}.db"))
    deltas = [out[f"n{n}_delta_bytes_per_poll"] for n in SIZES]
    out["delta_bytes_independent_of_n"] = max(deltas) - min(deltas) <= 8  # digits of counters
    out["rows_after_prune_are_the_live_ones"] = all(
        out[f"n{n}_rows_after_prune"] == 2
        for n in SIZES  # the index and the live entry
    )
    return out


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key}: {value}")
