"""Child process for the kill -9 test (run as a script, not collected by pytest).

``python _batch_writer.py URL READY_FILE``: appends batches of BATCH events (spread over several
streams, one transaction each) until killed, touching READY_FILE after the first commit.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

from oms_chain.store import NewEvent, open_store

BATCH = 10


def main(url: str, ready: str) -> None:
    with open_store(url) as store:
        for n in itertools.count():
            events = [
                NewEvent(f"b{n}-{i}", "Wrote", 1, {"batch": n, "i": i}, n, n) for i in range(BATCH)
            ]
            store.append_batch(
                [(f"stream-{n % 3}", events[:5], None), (f"other-{n % 2}", events[5:], None)]
            )
            if n == 0:
                Path(ready).touch()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
