"""Snapshot seals in SQL: write them for old rows, and say why a row does not match its seal.

Shared by both backends through :class:`~oms_chain.store._sql.SqlEventStore`; ``q`` is the
store's placeholder translation (``?`` to the driver's style). The seal itself is
:func:`~oms_chain.store.events.snapshot_seal`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def snapshot_problem(
    q: Callable[[str], str], cur: Cursor, name: str, row: Sequence[Any] | None
) -> str | None:
    """Why the snapshot row ``row`` (``position, state``) of ``name`` cannot be trusted."""
    cur.execute(q("SELECT seal FROM snapshot_seals WHERE name = ?"), (name,))
    found = cur.fetchone()
    if row is None:
        if found is None:
            return None
        return "its seal is recorded but the snapshot row is gone (deleted)"
    if found is None:
        return "the snapshot has no seal (added or re-inserted outside oms-chain)"
    position, state = int(row[0]), str(row[1])
    digest = chain_hash_at(q, cur, position)
    if digest is None:
        return (
            f"it claims position {position}, which is not in the event log (the log was "
            f"truncated, or the row was moved)"
        )
    if snapshot_seal(name, position, state, digest) != found[0]:
        return (
            f"its content or position does not match its seal, or the event at position "
            f"{position} it was taken at was rewritten"
        )
    return None
