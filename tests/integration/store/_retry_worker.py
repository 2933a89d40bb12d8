"""Child process for the many-writers test (run as a script, not collected by pytest).

``python _retry_worker.py URL NAME ROUNDS GO_FILE``: waits for GO_FILE, then ROUNDS times

1. ``append_with_retry`` on stream ``counter``: the event's ``seq`` is the version it lands at
   (decided from the stream's version on every attempt), counting the attempts that lost;
2. appends to stream ``engine`` with ids derived from the cached version (``engine#<n>``, the
   scheme that used to raise DuplicateEvent): every loss must be a ConcurrencyConflict;
3. appends one event to its own parent stream ``parent-<NAME>-<round>`` (expected new).

Prints ``{"name", "retries", "engine_wins", "engine_conflicts"}``.
"""

from __future__ import annotations

import json
import os
import sys
import time

from oms_chain.store import ConcurrencyConflict, NewEvent, open_store
from oms_chain.store.concurrency import append_with_retry, new_event_id
from oms_chain.store.events import RecordedEvent


def main(url: str, name: str, rounds: int, go_file: str) -> None:
    retries = 0
    engine_wins: list[str] = []
    engine_conflicts = 0
    with open_store(url) as store:
        deadline = time.monotonic() + 30
        while not os.path.exists(go_file):
            if time.monotonic() > deadline:
                raise SystemExit("go file never appeared")
            time.sleep(0.001)
        engine_version = 0
        for r in range(rounds):
            tries = 0

            def build(version: int, fresh: list[RecordedEvent]) -> list[NewEvent]:
                nonlocal tries
                tries += 1
                now = time.time_ns()
                payload = {"by": name, "seq": version + 1}
                return [NewEvent(new_event_id(), "Counted", 1, payload, now, now)]

            append_with_retry(store, "counter", build, attempts=1000)
            retries += tries - 1
            now = time.time_ns()
            eid = f"engine#{engine_version + 1}"
            try:
                store.append(
                    "engine",
                    [NewEvent(eid, "Noted", 1, {"by": name}, now, now)],
                    engine_version,
                )
                engine_wins.append(eid)
                engine_version += 1
            except ConcurrencyConflict as exc:
                engine_conflicts += 1
                engine_version = exc.actual  # what a re-reading engine would do
            own = NewEvent(new_event_id(), "Worked", 1, {"r": r}, now, now)
            store.append(f"parent-{name}-{r}", [own], 0)
    print(
        json.dumps(
            {
                "name": name,
                "retries": retries,
                "engine_wins": engine_wins,
                "engine_conflicts": engine_conflicts,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
