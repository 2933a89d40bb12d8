"""Snapshot seals in SQL: write them for old rows, and say why a row does not match its seal.

Shared by both backends through :class:`~oms_chain.store._sql.SqlEventStore`; ``q`` is the
store's placeholder translation (``?`` to the driver's style). The seal itself is
:func:`~oms_chain.store.events.snapshot_seal`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oms_chain.store.events import GENESIS_HASH, snapshot_seal

__all__: list[str] = []

Cursor = Any


def chain_hash_at(q: Callable[[str], str], cur: Cursor, position: int) -> str | None:
    """Hash of the event at ``position`` (the genesis hash for 0), ``None`` if missing."""
    if position == 0:
        return GENESIS_HASH
    cur.execute(q("SELECT hash FROM events WHERE position = ?"), (position,))
    row = cur.fetchone()
    return None if row is None else str(row[0])


def seal_unsealed(q: Callable[[str], str], cur: Cursor) -> None:
    """Inside the writer's setup: seal snapshot rows saved before seals existed."""
    cur.execute(
        "SELECT name, position, state FROM snapshots "
        "WHERE name NOT IN (SELECT name FROM snapshot_seals)"
    )
    for name, position, state in cur.fetchall():
        digest = chain_hash_at(q, cur, int(position)) or ""
        cur.execute(
            q("INSERT INTO snapshot_seals (name, seal) VALUES (?, ?)"),
            (name, snapshot_seal(name, int(position), state, digest)),
        )


_ROW_AND_SEAL = (
    "SELECT s.position, s.state, x.seal FROM snapshots s "
    "LEFT JOIN snapshot_seals x ON x.name = s.name WHERE s.name = ?"
)


def read_snapshot(
    q: Callable[[str], str], cur: Cursor, name: str, *, sealed: bool = True
) -> tuple[tuple[int, str] | None, str | None]:
    """``((position, state text) or None, problem or None)`` of snapshot ``name``.

    The row and its seal are read in one statement, so a concurrent ``save_snapshot`` (another
    process on a shared store) is never mistaken for tampering. ``sealed=False``: a store that
    has no seal table (opened read-only, older than seals): the row unchecked.
    """
    if not sealed:
        cur.execute(q("SELECT position, state FROM snapshots WHERE name = ?"), (name,))
        plain = cur.fetchone()
        return (None if plain is None else (int(plain[0]), str(plain[1]))), None
    for _ in range(2):
        cur.execute(q(_ROW_AND_SEAL), (name,))
        row = cur.fetchone()
        if row is not None:
            break
        cur.execute(q("SELECT seal FROM snapshot_seals WHERE name = ?"), (name,))
        if cur.fetchone() is None:
            return None, None
        # A seal without its row: deleted, unless a first save landed in between; look again.
    else:
        return None, "its seal is recorded but the snapshot row is gone (deleted)"
    position, state, seal = int(row[0]), str(row[1]), row[2]
    found = (position, state)
    if seal is None:
        return found, "the snapshot has no seal (added or re-inserted outside oms-chain)"
    digest = chain_hash_at(q, cur, position)
    if digest is None:
        return found, (
            f"it claims position {position}, which is not in the event log (the log was "
            f"truncated, or the row was moved)"
        )
    if snapshot_seal(name, position, state, digest) != seal:
        return found, (
            f"its content or position does not match its seal, or the event at position "
            f"{position} it was taken at was rewritten"
        )
    return found, None
