"""The one schema both backends share: same tables, same columns, dialect-specific types only.

``events``            one row per recorded event; ``payload`` is canonical JSON text (not JSONB)
                      so the audit chain can be verified from the stored bytes.
``chain_head``        a single row (id = 1): position and hash of the last event. Writers lock it
                      (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: ``SELECT ... FOR UPDATE``), which
                      serializes appends so the global chain cannot fork.
``client_order_ids``  every client order id ever reserved, and its order.
``snapshots``         named projection snapshots: position and canonical JSON state.
``snapshot_seals``    one seal per snapshot: ``sha256`` over the name, position, state and the
                      chain hash at that position (see :mod:`oms_chain.store.integrity`), so an
                      edited, moved or deleted snapshot row is found before it is trusted.
``store_meta``        key/value, holds ``schema_version`` and ``store_id`` (random, set when the
                      store is created; anchors name the store by it).
"""

from __future__ import annotations

from typing import Literal

__all__ = ["SCHEMA_VERSION", "TABLE_COLUMNS", "schema_statements"]

SCHEMA_VERSION = "1"

Dialect = Literal["sqlite", "postgresql"]

# table -> [(column, sqlite type, postgresql type, constraint)]
_TABLES: dict[str, list[tuple[str, str, str, str]]] = {
    "events": [
        ("position", "INTEGER", "BIGINT", "PRIMARY KEY"),
        ("stream_id", "TEXT", "TEXT", "NOT NULL"),
        ("stream_version", "INTEGER", "BIGINT", "NOT NULL"),
        ("event_id", "TEXT", "TEXT", "NOT NULL UNIQUE"),
        ("event_type", "TEXT", "TEXT", "NOT NULL"),
        ("version", "INTEGER", "INTEGER", "NOT NULL"),
        ("payload", "TEXT", "TEXT", "NOT NULL"),
        ("ts_event", "INTEGER", "BIGINT", "NOT NULL"),
        ("ts_init", "INTEGER", "BIGINT", "NOT NULL"),
        ("causation_id", "TEXT", "TEXT", ""),
        ("correlation_id", "TEXT", "TEXT", ""),
        ("prev_hash", "TEXT", "TEXT", "NOT NULL"),
        ("hash", "TEXT", "TEXT", "NOT NULL"),
    ],
    "chain_head": [
        ("id", "INTEGER", "INTEGER", "PRIMARY KEY CHECK (id = 1)"),
        ("position", "INTEGER", "BIGINT", "NOT NULL"),
        ("hash", "TEXT", "TEXT", "NOT NULL"),
    ],
    "client_order_ids": [
        ("client_order_id", "TEXT", "TEXT", "PRIMARY KEY"),
        ("order_id", "TEXT", "TEXT", "NOT NULL"),
    ],
    "snapshots": [
        ("name", "TEXT", "TEXT", "PRIMARY KEY"),
        ("position", "INTEGER", "BIGINT", "NOT NULL"),
        ("state", "TEXT", "TEXT", "NOT NULL"),
    ],
    "snapshot_seals": [
        ("name", "TEXT", "TEXT", "PRIMARY KEY"),
        ("seal", "TEXT", "TEXT", "NOT NULL"),
    ],
    "store_meta": [
        ("key", "TEXT", "TEXT", "PRIMARY KEY"),
        ("value", "TEXT", "TEXT", "NOT NULL"),
    ],
}

_TABLE_CONSTRAINTS = {"events": ["UNIQUE (stream_id, stream_version)"]}

_INDEXES = [
    "CREATE INDEX IF NOT EXISTS events_correlation ON events (correlation_id) "
    "WHERE correlation_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS events_ts_event ON events (ts_event)",
]

TABLE_COLUMNS: dict[str, list[str]] = {t: [c[0] for c in cols] for t, cols in _TABLES.items()}
"""Column names per table, identical for both backends (checked by the tests)."""


def schema_statements(dialect: Dialect) -> list[str]:
    """``CREATE ... IF NOT EXISTS`` statements for ``dialect``, safe to run on every open."""
    statements = []
    for table, columns in _TABLES.items():
        parts = [
            f"{name} {sqlite_type if dialect == 'sqlite' else pg_type} {constraint}".rstrip()
            for name, sqlite_type, pg_type, constraint in columns
        ]
        parts += _TABLE_CONSTRAINTS.get(table, [])
        statements.append(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(parts)})")
    statements += _INDEXES
    return statements
