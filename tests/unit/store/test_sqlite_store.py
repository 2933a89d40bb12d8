"""The SQLite backend: the shared conformance suite plus SQLite-specific behaviour."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from store_conformance import EventStoreConformance, ev

from oms_chain.store import (
    InvalidStoreUrl,
    SqliteEventStore,
    StoreSchemaMismatch,
    StoreUnavailable,
    open_store,
    verify_audit,
)


def _path(url: str) -> str:
    return url[len("sqlite:///") :]


class TestSqliteEventStore(EventStoreConformance):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'events.db'}"

    def raw_sql(self, url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with sqlite3.connect(_path(url)) as conn:
            return conn.execute(sql, params).fetchall()

    def table_columns(self, url: str) -> dict[str, list[str]]:
        with sqlite3.connect(_path(url)) as conn:
            tables = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            return {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in tables}


def test_file_store_uses_wal_and_normal_synchronous_by_default(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'x.db'}") as store:
        assert isinstance(store, SqliteEventStore)
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_synchronous_full_can_be_chosen_in_the_url(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'x.db'}?synchronous=full") as store:
        assert isinstance(store, SqliteEventStore)
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_four_slashes_mean_an_absolute_path_and_three_a_relative_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_store(f"sqlite:///{tmp_path}/abs.db") as store:  # tmp_path starts with "/"
        store.append("a", [ev(1)], 0)
    assert (tmp_path / "abs.db").exists()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    with open_store("sqlite:///sub/rel.db") as store:
        store.append("a", [ev(1)], 0)
    assert (tmp_path / "sub" / "rel.db").exists()


def test_memory_store_works_and_is_private() -> None:
    with open_store("sqlite:///:memory:") as one, open_store("sqlite:///:memory:") as two:
        one.append("a", [ev(1)], 0)
        assert two.last_position() == 0
        assert verify_audit(one).ok


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("mysql://localhost/db", "unsupported store URL scheme 'mysql'"),
        ("oms.db", "must look like"),
        ("sqlite://", "has no path"),
        ("sqlite:///", "has no path"),
        ("sqlite:///x.db?synchronous=sometimes", "synchronous"),
        ("sqlite:///x.db?busy_timeout_ms=soon", "busy_timeout_ms"),
        ("sqlite:///x.db?journal=delete", "unknown SQLite store option"),
        ("sqlite:////no/such/dir/x.db", "does not exist"),
    ],
)
def test_bad_urls_give_clear_errors(url: str, match: str) -> None:
    with pytest.raises(InvalidStoreUrl, match=match) as caught:
        open_store(url)
    assert isinstance(caught.value, ValueError)


def test_bad_url_never_echoes_a_password() -> None:
    with pytest.raises(InvalidStoreUrl) as caught:
        open_store("mysql://trader:s3cret@db.example/oms")
    assert "s3cret" not in str(caught.value)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / "junk.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InvalidStoreUrl, match="not a usable SQLite store"):
        open_store(f"sqlite:///{tmp_path / 'junk.db'}")


def test_a_store_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    open_store(url).close()
    with sqlite3.connect(tmp_path / "x.db") as conn:
        conn.execute("UPDATE store_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreSchemaMismatch, match="version 99"):
        open_store(url)


def test_writer_locked_out_past_the_timeout_gets_store_unavailable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}?busy_timeout_ms=50"
    with open_store(url) as store:
        blocker = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreUnavailable, match="busy"):
                store.append("a", [ev(1)], 0)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        store.append("a", [ev(1)], 0)
        assert verify_audit(store).ok


def test_store_can_be_shared_between_threads(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with open_store(f"sqlite:///{tmp_path / 'x.db'}") as store:

        def work(n: int) -> None:
            for i in range(20):
                store.append(f"s{n}", [ev(f"{n}-{i}")], None)

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(work, range(4)))
        assert store.last_position() == 80
        assert verify_audit(store).ok
