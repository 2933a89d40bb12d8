"""Child process for the concurrent-appenders test (run as a script, not collected by pytest).

``python _append_worker.py URL NAME ATTEMPTS GO_FILE``: waits for GO_FILE, then

1. for every v in 0..ATTEMPTS-1 appends one event to stream ``fixed`` with ``expected_version=v``:
   across the processes exactly one append wins each version, all others get ConcurrencyConflict;
2. ATTEMPTS times
reads the version v of stream ``shared`` and appends one event there with ``expected_version=v``
(when another process got in between, that append must fail with ConcurrencyConflict), then
appends one event to its private stream, so the global chain interleaves the processes.

Prints a JSON summary (per phase: versions won, ``[version, actual]`` of each conflict) on stdout.
"""

from __future__ import annotations

import json
import os
import sys
import time

from oms_chain.store import ConcurrencyConflict, NewEvent, open_store


def main(url: str, name: str, attempts: int, go_file: str) -> None:
    fixed_wins: list[int] = []
    fixed_conflicts: list[list[int]] = []
    wins: list[int] = []
    conflicts: list[list[int]] = []
    with open_store(url) as store:
        deadline = time.monotonic() + 30
        while not os.path.exists(go_file):
            if time.monotonic() > deadline:
                raise SystemExit("go file never appeared")
            time.sleep(0.001)
        for v in range(attempts):
            now = time.time_ns()
            event = NewEvent(f"{name}-fixed-{v}", "Raced", 1, {"by": name, "v": v}, now, now)
            try:
                store.append("fixed", [event], expected_version=v)
                fixed_wins.append(v)
            except ConcurrencyConflict as exc:
                fixed_conflicts.append([v, exc.actual])
        for attempt in range(attempts):
            v = store.stream_version("shared")
            now = time.time_ns()
            event = NewEvent(f"{name}-{attempt}", "Raced", 1, {"by": name, "v": v}, now, now)
            try:
                store.append("shared", [event], expected_version=v)
                wins.append(v)
            except ConcurrencyConflict as exc:
                conflicts.append([v, exc.actual])
            mine = NewEvent(f"{name}-own-{attempt}", "Worked", 1, {"v": v}, now, now)
            store.append(f"private-{name}", [mine], expected_version=attempt)
    print(
        json.dumps(
            {
                "name": name,
                "fixed": {"wins": fixed_wins, "conflicts": fixed_conflicts},
                "shared": {"wins": wins, "conflicts": conflicts},
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
