"""Two OS processes append to the same stream at once: one wins each version, the other gets
ConcurrencyConflict, and the global hash chain stays gap-free and valid (SQLite and PostgreSQL).

See ``_append_worker.py`` for what each process does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from oms_chain.store import open_store, verify_audit

WORKER = Path(__file__).with_name("_append_worker.py")
ATTEMPTS = 120


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_two_processes_appending_to_one_stream_conflict_cleanly(
    shared_url: str, tmp_path: Path
) -> None:
    open_store(shared_url).close()  # create the schema before the race
    go = tmp_path / "go"
    names = ["alice", "bob"]
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), shared_url, name, str(ATTEMPTS), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    go.touch()
    results = {}
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        summary = json.loads(out)
        results[summary["name"]] = summary

    # Phase 1, every process appends at every version 0..ATTEMPTS-1 of stream "fixed": exactly
    # one wins each version, the other gets ConcurrencyConflict naming a later actual version.
    fixed = {name: results[name]["fixed"] for name in names}
    assert set(fixed["alice"]["wins"]).isdisjoint(fixed["bob"]["wins"])
    assert set(fixed["alice"]["wins"]) | set(fixed["bob"]["wins"]) == set(range(ATTEMPTS))
    for name in names:
        lost = [version for version, _ in fixed[name]["conflicts"]]
        assert sorted(lost + fixed[name]["wins"]) == list(range(ATTEMPTS))
        assert all(actual > version for version, actual in fixed[name]["conflicts"])

    # Phase 2, read-then-append races on stream "shared": one winner per version, none lost.
    wins = {name: set(results[name]["shared"]["wins"]) for name in names}
    conflicts = {name: results[name]["shared"]["conflicts"] for name in names}
    total = len(wins["alice"]) + len(wins["bob"])
    assert wins["alice"].isdisjoint(wins["bob"])
    assert wins["alice"] | wins["bob"] == set(range(total))
    for name in names:
        assert len(wins[name]) + len(conflicts[name]) == ATTEMPTS
        assert all(actual > version for version, actual in conflicts[name])
    assert wins["alice"] and wins["bob"]  # they really ran at the same time

    with open_store(shared_url) as store:
        shared = store.read_stream("shared")
        assert [e.stream_version for e in shared] == list(range(1, total + 1))
        for event in shared:
            assert event.payload["v"] == event.stream_version - 1
            assert event.payload["v"] in wins[event.payload["by"]]
        assert [e.stream_version for e in store.read_stream("fixed")] == list(
            range(1, ATTEMPTS + 1)
        )
        expected_events = ATTEMPTS + total + 2 * ATTEMPTS
        positions = [e.position for e in store.read_all()]
        assert positions == list(range(1, expected_events + 1))
        report = verify_audit(store)
        assert report.ok, report
        assert report.checked == expected_events
