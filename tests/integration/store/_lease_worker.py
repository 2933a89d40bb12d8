"""Child process for the lease tests (run as a script, not collected by pytest).

``python _lease_worker.py race URL NAME GO_FILE``: waits for GO_FILE, then claims intents one
or two at a time until the queue is empty; for each one records a send (with its event, in the
same transaction) under the claimed lease and finishes it. Prints ``{"name", "claimed"}``.

``python _lease_worker.py pause URL NAME``: claims one intent (lease 60 s on the database's
clock), prints ``{"claimed", "token"}``, waits for a line on stdin (the test SIGSTOPs and later
SIGCONTs it in between), then tries to record a send and prints the outcome.
"""

from __future__ import annotations

import json
import os
import sys
import time

from oms_chain.store import NewEvent, PostgresEventStore, open_store
from oms_chain.store.concurrency import new_event_id
from oms_chain.store.leases import Leases, StaleFencingToken

S = 1_000_000_000


def race(url: str, name: str, go_file: str) -> None:
    claimed: list[str] = []
    with open_store(url) as store:
        assert isinstance(store, PostgresEventStore)
        leases = Leases(store)
        deadline = time.monotonic() + 30
        while not os.path.exists(go_file):
            if time.monotonic() > deadline:
                raise SystemExit("go file never appeared")
            time.sleep(0.001)
        while True:
            batch = leases.claim(name, ttl_ns=60 * S, limit=1 + len(claimed) % 2)
            if not batch:
                break
            for item in batch:
                lease = item.lease
                now = time.time_ns()
                event = NewEvent(new_event_id(), "OrderSent", 1, {"by": name}, now, now)
                leases.record_send(
                    lease.resource,
                    lease.token,
                    f"{item.intent_id}/send",
                    {"by": name},
                    appends=[(f"parent-{item.intent_id}", [event], 0)],
                )
                leases.finish(lease, "filled")
                claimed.append(item.intent_id)
    print(json.dumps({"name": name, "claimed": claimed}))


def pause(url: str, name: str) -> None:
    with open_store(url) as store:
        assert isinstance(store, PostgresEventStore)
        leases = Leases(store)
        (item,) = leases.claim(name, ttl_ns=60 * S)
        print(json.dumps({"claimed": item.intent_id, "token": item.lease.token}), flush=True)
        sys.stdin.readline()
        try:
            leases.record_send(item.lease.resource, item.lease.token, "late-send", {})
            print(json.dumps({"sent": True}), flush=True)
        except StaleFencingToken as exc:
            print(json.dumps({"refused": str(exc), "current": exc.current}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "race":
        race(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        pause(sys.argv[2], sys.argv[3])
