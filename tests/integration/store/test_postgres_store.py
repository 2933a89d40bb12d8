"""The PostgreSQL backend against a real server: the shared conformance suite, plus PG specifics."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from store_conformance import EventStoreConformance, ev

from oms_chain.store import PostgresEventStore, StoreUnavailable, open_store, verify_audit
from oms_chain.testing.postgres import PostgresCluster


class TestPostgresEventStore(EventStoreConformance):
    @pytest.fixture
    def store_url(self, postgres_url: str) -> str:
        return postgres_url

    def raw_sql(self, url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(url, autocommit=True) as conn:
            cur = conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def table_columns(self, url: str) -> dict[str, list[str]]:
        rows = self.raw_sql(
            url,
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
        )
        found: dict[str, list[str]] = {}
        for table, column in rows:
            found.setdefault(table, []).append(column)
        return found


def test_each_test_gets_its_own_empty_schema(postgres_url: str) -> None:
    with open_store(postgres_url) as store:
        assert store.last_position() == 0
        store.append("a", [ev(1)], 0)


def test_unreachable_server_gives_store_unavailable_without_the_password(
    postgres_cluster: PostgresCluster,
) -> None:
    url = f"postgresql://trader:s3cret@127.0.0.1:{postgres_cluster.port}/no_such_db"
    with pytest.raises(StoreUnavailable) as caught:
        open_store(url)
    assert "s3cret" not in str(caught.value) and "***" in str(caught.value)


def test_two_stores_opening_the_same_new_database_at_once_both_work(postgres_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: open_store(postgres_url), range(4)))
    try:
        for n, store in enumerate(stores):
            store.append(f"s{n}", [ev(n)], 0)
        assert verify_audit(stores[0]).checked == 4
    finally:
        for store in stores:
            store.close()


def test_postgres_url_scheme_alias_opens_the_postgres_backend(postgres_url: str) -> None:
    with open_store(postgres_url.replace("postgresql://", "postgres://", 1)) as store:
        assert isinstance(store, PostgresEventStore)


def test_dropped_connection_fails_one_call_then_reconnects(postgres_url: str) -> None:
    with open_store(postgres_url + "&application_name=doomed") as store:
        store.append("a", [ev(1)], 0)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'doomed'"
            )
        with pytest.raises(StoreUnavailable, match="append the same events again"):
            store.append("a", [ev(2)], 1)
        # the outcome of the failed append is unknown to the caller: retrying it is safe
        store.append("a", [ev(2)], 1)
        assert [e.event_id for e in store.read_stream("a")] == ["e1", "e2"]
        assert verify_audit(store).ok


def test_read_prefix_is_by_code_point_in_a_database_with_a_natural_language_collation(
    postgres_cluster: PostgresCluster,
) -> None:
    # An ICU 'en-US' database sorts punctuation before letters and folds case: the range
    # ['desk/z', 'desk/{') is empty there although 'desk/z1' starts with 'desk/z'.
    name = f"oms_icu_{postgres_cluster.port}"
    with psycopg.connect(postgres_cluster.url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(
            f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' "
            "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        )
    try:
        ids = ["safe-proposals/1/0xab", "safe-proposals0", "safeproposals/2", "Safe-proposals/1"]
        ids += ["safe-proposals/2/0xcd", "safe-proposals.", "safe-proposals/", "desk/z1", "desk/Z"]
        with psycopg.connect(postgres_cluster.url_for(name), autocommit=True) as conn:
            order = [
                r[0] for r in conn.execute("SELECT v FROM unnest(%s::text[]) v ORDER BY v", (ids,))
            ]
        assert order != sorted(ids)  # the database really collates differently
        with open_store(postgres_cluster.url_for(name)) as store:
            for n, sid in enumerate(ids, start=1):
                store.append(sid, [ev(n)], 0)
            for prefix in ("safe-proposals/", "desk/z"):
                got = [r.stream_id for r in store.read_prefix(prefix)]
                assert got == [s for s in ids if s.startswith(prefix)], prefix
    finally:
        with psycopg.connect(postgres_cluster.url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
