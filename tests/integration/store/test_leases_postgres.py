"""Leases on a real PostgreSQL server: the shared behaviour, two worker processes racing for
the same parents, and a worker SIGSTOP'd past its lease being fenced when it resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lease_conformance import LeaseConformance

from oms_chain.store import PostgresEventStore, open_store, verify_audit
from oms_chain.store.leases import Leases

WORKER = Path(__file__).with_name("_lease_worker.py")
S = 1_000_000_000


class TestPostgresLeases(LeaseConformance):
    @pytest.fixture
    def store(self, postgres_url: str) -> Iterator[PostgresEventStore]:
        with open_store(postgres_url) as store:
            assert isinstance(store, PostgresEventStore)
            yield store


def test_database_clock_is_the_default_and_judges_expiry(postgres_url: str) -> None:
    with open_store(postgres_url) as store:
        assert isinstance(store, PostgresEventStore)
        leases = Leases(store)
        lease = leases.try_acquire("account:1:0xa", "a", ttl_ns=60 * S)
        assert lease is not None
        (info,) = leases.leases()
        assert info.live and info.expires_at_ns - info.acquired_at_ns == 60 * S


def test_two_worker_processes_racing_claim_each_parent_exactly_once(
    postgres_url: str, tmp_path: Path
) -> None:
    intents = [f"i{k:03d}" for k in range(120)]
    with open_store(postgres_url) as store:
        assert isinstance(store, PostgresEventStore)
        leases = Leases(store)
        for intent in intents:
            leases.enqueue(intent, {"k": intent})
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), "race", postgres_url, name, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("w1", "w2")
    ]
    go.touch()
    claimed: dict[str, list[str]] = {}
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        summary = json.loads(out)
        claimed[summary["name"]] = summary["claimed"]
    assert sorted(claimed["w1"] + claimed["w2"]) == intents  # each once, none lost
    assert claimed["w1"] and claimed["w2"]  # they really raced
    with open_store(postgres_url) as store:
        assert isinstance(store, PostgresEventStore)
        leases = Leases(store)
        assert leases.open_intents() == 0
        for name, mine in claimed.items():
            for intent in mine:
                (send,) = leases.sends(f"parent:{intent}")
                assert (send.owner, send.token) == (name, 1)
                (event,) = store.read_stream(f"parent-{intent}")
                assert event.payload == {"by": name}
        assert store.last_position() == len(intents)
        assert verify_audit(store).ok


def test_a_worker_sigstopped_past_its_lease_is_fenced_when_it_resumes(postgres_url: str) -> None:
    with open_store(postgres_url) as store:
        assert isinstance(store, PostgresEventStore)
        Leases(store).enqueue("p", {})
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "pause", postgres_url, "sleeper"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        first = json.loads(proc.stdout.readline())
        assert first == {"claimed": "p", "token": 1}
        os.kill(proc.pid, signal.SIGSTOP)
        with open_store(postgres_url) as store:
            assert isinstance(store, PostgresEventStore)
            # The taker's clock is two minutes ahead: the sleeper's 60 s lease has run out.
            db_now = Leases(store).leases()[0].heartbeat_at_ns
            taker = Leases(store, clock=lambda: db_now + 120 * S)
            (taken,) = taker.claim("taker", ttl_ns=600 * S)
            assert (taken.lease.token, taken.lease.taken_over_from) == (2, "sleeper")
        os.kill(proc.pid, signal.SIGCONT)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        outcome = json.loads(proc.stdout.readline())
        assert outcome["current"] == 2
        assert "fencing token 1 for 'parent:p' is stale" in outcome["refused"]
        assert "held by 'taker'" in outcome["refused"]
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.wait()


def test_a_store_from_before_leases_and_server_side_appends_opens_and_gains_them(
    postgres_url: str,
) -> None:
    import psycopg

    from oms_chain.store import NewEvent, verify_audit

    with open_store(postgres_url) as store:
        store.append("old", [NewEvent("old-1", "Happened", 1, {}, 1, 1)], 0)
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # what an older oms-chain left
        conn.execute("DROP FUNCTION oms_append_v1")
        assert conn.execute("SELECT to_regclass('leases') IS NULL").fetchone() == (True,)
    with open_store(postgres_url) as store:
        assert isinstance(store, PostgresEventStore)
        store.append("old", [NewEvent("old-2", "Happened", 1, {}, 2, 2)], 1)
        leases = Leases(store)
        lease = leases.try_acquire("account:1:0xa", "a", ttl_ns=60 * S)
        assert lease is not None and lease.token == 1
        assert [e.stream_version for e in store.read_stream("old")] == [1, 2]
        assert verify_audit(store).ok
