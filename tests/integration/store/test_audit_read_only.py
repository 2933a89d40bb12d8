"""``oms audit verify`` / ``anchor`` / ``export`` never change the store they audit.

SQLite: the bytes of the database (and of its WAL, when a writer is open) are the same before
and after, and a cleanly closed store gets no side files. PostgreSQL: no table, row or schema
appears. An empty or missing store is an error, never "OK: 0 events".
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from store_conformance import ev

from oms_chain.store import StoreReadOnly, open_store


def _oms(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oms_chain.cli", *args], capture_output=True, text=True, timeout=120
    )


def _files(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    folder = tmp_path / "db"
    folder.mkdir()
    path = folder / "oms.db"
    with open_store(f"sqlite:///{path}") as store:
        for i in range(1, 6):
            store.append(f"s{i % 2}", [ev(i)], None)
        store.save_snapshot("nonces/1/0xabc", 5, {"next": 3})
    return path


def test_verify_and_export_leave_a_closed_sqlite_store_byte_identical(
    store_file: Path, tmp_path: Path
) -> None:
    before = _files(store_file.parent)
    assert set(before) == {"oms.db"}
    verify = _oms("audit", "verify", "--store", f"sqlite:///{store_file}")
    assert verify.returncode == 0, verify.stderr
    assert "OK: 5 events" in verify.stdout
    out = tmp_path / "export.jsonl"
    assert (
        _oms("audit", "export", "--store", f"sqlite:///{store_file}", "--out", str(out)).returncode
        == 0
    )
    assert _files(store_file.parent) == before  # no -wal / -shm either


def test_verify_while_a_writer_is_open_leaves_the_database_and_wal_unchanged(
    store_file: Path,
) -> None:
    with open_store(f"sqlite:///{store_file}") as writer:
        writer.append("s9", [ev(9)], None)  # committed, still in the WAL
        before = _files(store_file.parent)
        assert "oms.db-wal" in before
        verify = _oms("audit", "verify", "--store", f"sqlite:///{store_file}")
        after = _files(store_file.parent)
    assert verify.returncode == 0 and "OK: 6 events" in verify.stdout, verify.stderr
    # The wal-index (-shm) is SQLite's shared memory, rebuilt from the WAL; it holds no data.
    assert {k: v for k, v in after.items() if k != "oms.db-shm"} == {
        k: v for k, v in before.items() if k != "oms.db-shm"
    }


def test_verify_reports_a_deleted_head_row_without_recreating_it(store_file: Path) -> None:
    with closing(sqlite3.connect(store_file)) as db, db:
        db.execute("DELETE FROM chain_head")
    before = _files(store_file.parent)
    assert set(before) == {"oms.db"}
    verify = _oms("audit", "verify", "--store", f"sqlite:///{store_file}")
    assert verify.returncode == 3 and "chain_head row is missing" in verify.stderr
    assert _files(store_file.parent) == before
    with closing(sqlite3.connect(store_file)) as db:
        assert db.execute("SELECT COUNT(*) FROM chain_head").fetchone() == (0,)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_verify_of_a_database_without_a_store_is_an_error_and_switches_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "other.db"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE unrelated (x)")
    before = _files(tmp_path)
    verify = _oms("audit", "verify", "--store", f"sqlite:///{path}")
    assert verify.returncode == 2 and "no event store" in verify.stderr
    assert "Traceback" not in verify.stderr
    assert _files(tmp_path) == before
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_verify_of_a_store_with_no_events_is_an_error_not_ok(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    open_store(f"sqlite:///{path}").close()
    verify = _oms("audit", "verify", "--store", f"sqlite:///{path}")
    assert verify.returncode == 2 and "holds no events" in verify.stderr
    assert "OK" not in verify.stdout


def test_a_store_opened_read_only_refuses_every_write(store_file: Path) -> None:
    with open_store(f"sqlite:///{store_file}", read_only=True) as store:
        assert store.last_position() == 5
        for write in (
            lambda: store.append("s", [ev(99)], None),
            lambda: store.save_snapshot("x", 0, {}),
            lambda: store.reserve_client_order_id("c", "o"),
        ):
            with pytest.raises(StoreReadOnly, match="read-only"):
                write()


def test_anchor_file_then_verify_catches_a_truncated_and_rewritten_log(
    store_file: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{store_file}"
    anchors = tmp_path / "anchors.jsonl"
    before = _files(store_file.parent)
    made = _oms("audit", "anchor", "--store", url, "--file", str(anchors), "--json")
    assert made.returncode == 0, made.stderr
    assert _files(store_file.parent) == before  # anchoring reads the store, never writes it
    line = json.loads(anchors.read_text())
    assert (line["position"], line["hash"]) == (
        json.loads(made.stdout)["position"],
        json.loads(made.stdout)["hash"],
    )
    assert line["position"] == 5 and len(line["store_id"]) == 32
    assert _oms("audit", "verify", "--store", url, "--anchor", str(anchors)).returncode == 0
    # Truncate to 3 events and rewrite the head: the chain alone is consistent again.
    with closing(sqlite3.connect(store_file)) as db, db:
        db.execute("DELETE FROM events WHERE position > 3")
        (h3,) = db.execute("SELECT hash FROM events WHERE position = 3").fetchone()
        db.execute("UPDATE chain_head SET position = 3, hash = ? WHERE id = 1", (h3,))
        db.execute("UPDATE snapshots SET position = 3")
    plain = _oms("audit", "verify", "--store", url)
    assert plain.returncode == 3  # the moved snapshot's seal no longer matches
    assert "nonces/1/0xabc" in plain.stderr
    anchored = _oms("audit", "verify", "--store", url, "--anchor", str(anchors))
    assert anchored.returncode == 3
    assert "BROKEN at position 4" in anchored.stderr and "line 1" in anchored.stderr


def test_anchor_refuses_a_broken_chain_and_bad_options(store_file: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{store_file}"
    nowhere = _oms("audit", "anchor", "--store", url)
    assert nowhere.returncode == 2 and "--file" in nowhere.stderr
    missing_dir = _oms(
        "audit", "anchor", "--store", url, "--file", str(tmp_path / "no" / "a.jsonl")
    )
    assert missing_dir.returncode == 2 and "does not exist" in missing_dir.stderr
    with closing(sqlite3.connect(store_file)) as db, db:
        db.execute("UPDATE events SET payload = '{}' WHERE position = 2")
    anchors = tmp_path / "a.jsonl"
    broken = _oms("audit", "anchor", "--store", url, "--file", str(anchors))
    assert broken.returncode == 3 and "not anchored" in broken.stderr
    assert not anchors.exists()


def test_a_damaged_anchor_file_is_an_error_naming_the_line(
    store_file: Path, tmp_path: Path
) -> None:
    anchors = tmp_path / "a.jsonl"
    anchors.write_text('{"format": "oms-audit-anchor/1", "position": 1, "hash": "zz"}\n')
    proc = _oms("audit", "verify", "--store", f"sqlite:///{store_file}", "--anchor", str(anchors))
    assert proc.returncode == 2 and "line 1" in proc.stderr and "Traceback" not in proc.stderr


def _pg_tables(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url, autocommit=True) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() ORDER BY table_name"
            )
        ]
        counts = []
        for name in names:
            row = conn.execute(
                f"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)), COUNT(*) FROM {name} t"
            ).fetchone()
            assert row is not None
            counts.append((f"{name}:{row[0]}", int(row[1])))
        return counts


def test_verify_on_an_empty_postgres_schema_is_an_error_and_creates_nothing(
    postgres_url: str,
) -> None:
    proc = _oms("audit", "verify", "--store", postgres_url)
    assert proc.returncode == 2 and "no event store" in proc.stderr, proc.stderr
    assert _pg_tables(postgres_url) == []


def test_verify_on_postgres_changes_no_table_or_row(postgres_url: str) -> None:
    with open_store(postgres_url) as store:
        for i in range(1, 4):
            store.append("s", [ev(i)], None)
        store.save_snapshot("nonces/1/0xabc", 3, {"next": 1})
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("DELETE FROM chain_head")
    before = _pg_tables(postgres_url)
    proc = _oms("audit", "verify", "--store", postgres_url)
    assert proc.returncode == 3 and "chain_head row is missing" in proc.stderr
    assert _pg_tables(postgres_url) == before


def test_a_postgres_store_opened_read_only_is_refused_writes_by_the_server_too(
    postgres_url: str,
) -> None:
    open_store(postgres_url).close()
    with open_store(postgres_url, read_only=True) as store:
        conn = store._conn  # the session itself: the server refuses writes
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO store_meta (key, value) VALUES ('x', 'y')")


def test_export_to_a_missing_folder_is_a_one_line_error(store_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "missing" / "export.jsonl"
    proc = _oms("audit", "export", "--store", f"sqlite:///{store_file}", "--out", str(out))
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
