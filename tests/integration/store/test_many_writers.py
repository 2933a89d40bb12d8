"""Four OS processes append at once to one shared stream (read-decide-append with retries), to
an engine-style stream whose ids come from a cached version, and to their own parent streams,
on a real PostgreSQL server: nothing lost, nothing duplicated, every loss a typed conflict, and
the audit chain (the checks of ``oms audit verify``) holds afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from oms_chain.store import open_store, state_problems, verify_audit

WORKER = Path(__file__).with_name("_retry_worker.py")
ROUNDS = 40
NAMES = ["w1", "w2", "w3", "w4"]


def test_four_processes_append_concurrently_without_loss_duplicates_or_a_forked_chain(
    postgres_url: str, tmp_path: Path
) -> None:
    open_store(postgres_url).close()
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), postgres_url, name, str(ROUNDS), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in NAMES
    ]
    go.touch()
    results = {}
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err  # a DuplicateEvent would have crashed a worker
        summary = json.loads(out)
        results[summary["name"]] = summary

    with open_store(postgres_url, read_only=True) as store:
        counter = store.read_stream("counter")
        # Every append_with_retry landed once, at the version it decided on.
        assert len(counter) == ROUNDS * len(NAMES)
        assert [e.payload["seq"] for e in counter] == [e.stream_version for e in counter]
        for name in NAMES:
            assert sum(e.payload["by"] == name for e in counter) == ROUNDS
        engine = store.read_stream("engine")
        wins = [eid for r in results.values() for eid in r["engine_wins"]]
        assert sorted(e.event_id for e in engine) == sorted(wins)
        assert [e.event_id for e in engine] == [f"engine#{n}" for n in range(1, len(engine) + 1)]
        for r in results.values():
            assert len(r["engine_wins"]) + r["engine_conflicts"] == ROUNDS
        for name in NAMES:
            for r in range(ROUNDS):
                (own,) = store.read_stream(f"parent-{name}-{r}")
                assert own.payload == {"r": r}
        total = len(counter) + len(engine) + ROUNDS * len(NAMES)
        assert store.last_position() == total
        positions = [e.position for e in store.read_all()]
        assert positions == list(range(1, total + 1))
        report = verify_audit(store, store_id=store.store_id())
        assert report.ok and report.checked == total
        assert state_problems(store) == []  # type: ignore[arg-type]
    assert sum(r["retries"] for r in results.values()) > 0  # they really contended
    oms = Path(sys.executable).with_name("oms")
    verified = subprocess.run(
        [str(oms), "audit", "verify", "--store", postgres_url, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    doc = json.loads(verified.stdout)
    assert doc["ok"] and doc["checked"] == total and doc["problems"] == []


def test_server_side_appends_chain_exactly_like_the_client_side_ones(postgres_url: str) -> None:
    # Small appends run as one PostgreSQL function call, big ones through COPY: the same events
    # must give the same positions, versions and hashes as SQLite's Python chaining.
    from oms_chain.store import NewEvent, SqliteEventStore

    def batch(tag: str, n: int) -> list[NewEvent]:
        return [
            NewEvent(f"{tag}-{i}", "Happened", 1, {"i": i, "s": "é\u2603"}, i, i, None, tag)
            for i in range(n)
        ]

    requests = [
        [("a", batch("a1", 1), 0)],
        [("a", batch("a2", 64), 1), ("b", batch("b1", 2), None)],
        [("c", batch("c1", 65), 0)],
        [("a", batch("a3", 3), 65), ("a", batch("a4", 2), 68), ("d", batch("d1", 1), -1)],
    ]
    with open_store(postgres_url) as pg, SqliteEventStore(":memory:") as lite:
        for items in requests:
            assert pg.append_batch(items) == lite.append_batch(items)
        assert pg.head() == lite.head()
        assert list(pg.read_audit_rows()) == list(lite.read_audit_rows())
        assert verify_audit(pg).ok
