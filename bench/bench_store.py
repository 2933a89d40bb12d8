"""Event store throughput: batched appends (SQLite, PostgreSQL) and replay of 1M events.

Baseline, measured in the same run: the same rows inserted by plain ``sqlite3`` ``executemany``
into an unindexed table with one transaction per batch — the floor of what any SQLite event store
can do. The store's numbers include argument checks, stream version checks, hash chaining, four
secondary indexes and the commit; building the ``NewEvent`` values (which validates them and
precomputes their canonical JSON) is measured separately. Rates are wall-clock; ``*_per_cpu_s``
divide by this process's CPU time instead, which is steadier on a shared machine (it leaves out
waiting for a CPU and for the disk).

Event ids are ``<stream>#<version>``, as the engine builds them; random UUID4 ids scatter the
``event_id`` index and are reported separately.

Targets on this machine: >= 50k events/s on SQLite with batching.

Several writers on PostgreSQL (``postgres_writers``): 1, 2 and 4 processes each append single
events (one transaction each, ``expected_version`` checked, UUIDv7 ids) to their own parent
streams, all through the one chain head; the baseline is the same number of processes each
committing one-row ``INSERT`` transactions into an unindexed table (the server's floor for a
committed write, fsync included). ``postgres_leases``: latency p50 / p90 / p99 of ``claim``,
``heartbeat`` and ``record_send`` (with one event) against a one-row ``UPDATE`` transaction.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from oms_chain.store import NewEvent, open_store

BATCH_EVENTS = 1000  # one transaction
STREAMS_PER_BATCH = 10  # 100 events per stream per batch
REPLAY_EVENTS = 1_000_000
RANDOM_ID_EVENTS = 30_000
BASELINE_EVENTS = 100_000
PG_EVENTS = 50_000
T0 = 1_700_000_000_000_000_000


PER_STREAM = BATCH_EVENTS // STREAMS_PER_BATCH


def _stream(i: int) -> str:
    return f"order-{i // PER_STREAM}"


def _events(n: int, *, start: int = 0, random_ids: bool = False) -> Iterator[NewEvent]:
    for i in range(start, start + n):
        event_id = uuid.uuid4().hex if random_ids else f"{_stream(i)}#{i % PER_STREAM + 1}"
        yield NewEvent(
            event_id,
            "FillRecorded",
            1,
            {"order_id": f"o-{i // 100}", "qty": "1.25", "price": "3012.55", "venue": "binance"},
            T0 + i * 1000,
            T0 + i * 1000 + 7,
            None,
            f"intent-{i // 100}",
        )


def _batches(
    events: list[NewEvent], offset: int = 0
) -> Iterator[list[tuple[str, list[NewEvent], int]]]:
    """Transactions of BATCH_EVENTS events: STREAMS_PER_BATCH new streams of PER_STREAM each.

    ``events[0]`` is event number ``offset`` of the run (which fixes its stream).
    """
    for start in range(0, len(events), BATCH_EVENTS):
        yield [
            (_stream(offset + first), events[first : first + PER_STREAM], 0)
            for first in range(start, min(start + BATCH_EVENTS, len(events)), PER_STREAM)
        ]


def _append_rate(url: str, n: int, *, random_ids: bool = False) -> tuple[float, float, float]:
    """Events/s appended (wall, CPU) and built, for ``n`` events in batches."""
    appending = cpu = building = 0.0
    with open_store(url) as store:
        for start in range(0, n, BATCH_EVENTS):
            started = time.perf_counter()
            events = list(_events(min(BATCH_EVENTS, n - start), start=start, random_ids=random_ids))
            batch = next(_batches(events, start))
            built = time.perf_counter()
            cpu_started = time.process_time()
            store.append_batch(batch)
            cpu += time.process_time() - cpu_started
            appending += time.perf_counter() - built
            building += built - started
    return n / appending, n / cpu, n / building


def _baseline_rate(path: Path, n: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE rows (position INTEGER, stream_id TEXT, stream_version INTEGER,"
        " event_id TEXT, event_type TEXT, version INTEGER, payload TEXT, ts_event INTEGER,"
        " ts_init INTEGER, causation_id TEXT, correlation_id TEXT, prev_hash TEXT, hash TEXT)"
    )
    rows = [
        (i, _stream(i), i % PER_STREAM + 1, e.event_id, e.event_type, 1, e.payload_json,
         e.ts_event, e.ts_init, None, e.correlation_id, "0" * 64, "f" * 64)
        for i, e in enumerate(_events(n))
    ]  # fmt: skip
    started = time.perf_counter()
    for start in range(0, len(rows), BATCH_EVENTS):
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO rows VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows[start : start + BATCH_EVENTS],
        )
        conn.execute("COMMIT")
    rate = len(rows) / (time.perf_counter() - started)
    conn.close()
    return rate


def _postgres(results: dict[str, Any]) -> None:
    try:
        from oms_chain.testing.postgres import PostgresCluster
    except ImportError as exc:  # pragma: no cover - psycopg missing
        results["postgres_skipped"] = str(exc)
        return
    try:
        cluster = PostgresCluster(durable=True).start()
    except Exception as exc:
        results["postgres_skipped"] = str(exc).splitlines()[0]
        return
    try:
        rate, _, _ = _append_rate(cluster.create_database("bench"), PG_EVENTS)
        results["postgres_batched_events_per_s"] = round(rate)
        results["postgres_writers"] = _writers(cluster)
        results["postgres_leases"] = _lease_latency(cluster.create_database("leases"))
    finally:
        cluster.stop()


WRITER_APPENDS = 600
LEASE_SAMPLES = 400


def _writer(url: str, name: str, n: int, baseline: bool, barrier: Any, out: Any) -> None:
    from oms_chain.store.concurrency import new_event_id

    if baseline:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            barrier.wait()
            started = time.perf_counter()
            for i in range(n):
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO floor_rows (stream_id, payload) VALUES (%s, %s)",
                        (f"{name}-{i}", '{"qty":"1.25"}'),
                    )
            out.put(time.perf_counter() - started)
        return
    with open_store(url) as store:
        barrier.wait()
        started = time.perf_counter()
        for i in range(n):
            now = T0 + i
            event = NewEvent(new_event_id(), "OrderSent", 1, {"qty": "1.25"}, now, now)
            store.append(f"parent-{name}-{i // 10}", [event], i % 10)
        out.put(time.perf_counter() - started)


def _writers(cluster: Any) -> dict[str, Any]:
    """Committed single-event appends/s with 1, 2, 4 writer processes, and the floor."""
    import psycopg

    ctx = multiprocessing.get_context("fork")
    table: dict[str, Any] = {"appends_per_writer": WRITER_APPENDS}
    for writers in (1, 2, 4):
        for baseline in (True, False):
            url = cluster.create_database()
            if baseline:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("CREATE TABLE floor_rows (stream_id TEXT, payload TEXT)")
            else:
                open_store(url).close()
            barrier, out = ctx.Barrier(writers + 1), ctx.Queue()
            procs = [
                ctx.Process(
                    target=_writer, args=(url, f"w{k}", WRITER_APPENDS, baseline, barrier, out)
                )
                for k in range(writers)
            ]
            for proc in procs:
                proc.start()
            barrier.wait()
            started = time.perf_counter()
            for proc in procs:
                proc.join()
            wall = time.perf_counter() - started
            assert all(proc.exitcode == 0 for proc in procs)
            key = "baseline_insert_tx" if baseline else "store_append"
            table[f"{key}_{writers}_writers_per_s"] = round(writers * WRITER_APPENDS / wall)
        table[f"store_vs_baseline_{writers}_writers"] = round(
            table[f"store_append_{writers}_writers_per_s"]
            / table[f"baseline_insert_tx_{writers}_writers_per_s"],
            3,
        )
    return table


def _percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "p50_us": round(cuts[49] * 1e6, 1),
        "p90_us": round(cuts[89] * 1e6, 1),
        "p99_us": round(cuts[98] * 1e6, 1),
    }


def _lease_latency(url: str) -> dict[str, Any]:
    """claim / heartbeat / record_send latency on the database clock, vs a one-row UPDATE."""
    import psycopg

    from oms_chain.store import PostgresEventStore
    from oms_chain.store.concurrency import new_event_id
    from oms_chain.store.leases import Leases

    ttl = 60 * 1_000_000_000
    out: dict[str, Any] = {"samples": LEASE_SAMPLES}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE floor_one (id INT PRIMARY KEY, n BIGINT)")
        conn.execute("INSERT INTO floor_one VALUES (1, 0)")
        samples = []
        for _ in range(LEASE_SAMPLES):
            started = time.perf_counter()
            with conn.transaction():
                conn.execute("UPDATE floor_one SET n = n + 1 WHERE id = 1")
            samples.append(time.perf_counter() - started)
        out["baseline_update_tx"] = _percentiles(samples)
    with open_store(url) as store:
        assert isinstance(store, PostgresEventStore)
        leases = Leases(store)
        for k in range(LEASE_SAMPLES):
            leases.enqueue(f"i{k:05d}", {"k": k})
        claims, beats, sends = [], [], []
        for k in range(LEASE_SAMPLES):
            started = time.perf_counter()
            (item,) = leases.claim("bench", ttl_ns=ttl)
            claimed = time.perf_counter()
            lease = leases.heartbeat(item.lease, ttl_ns=ttl)
            beat = time.perf_counter()
            event = NewEvent(new_event_id(), "OrderSent", 1, {"k": k}, T0, T0)
            leases.record_send(
                lease.resource, lease.token, f"s{k}", {"k": k},
                appends=[(f"parent-{item.intent_id}", [event], 0)],
            )  # fmt: skip
            sent = time.perf_counter()
            claims.append(claimed - started)
            beats.append(beat - claimed)
            sends.append(sent - beat)
        out["claim"] = _percentiles(claims)
        out["heartbeat"] = _percentiles(beats)
        out["record_send_with_event"] = _percentiles(sends)
    return out


def run() -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        baseline = _baseline_rate(root / "baseline.db", BASELINE_EVENTS)
        results["baseline_plain_sqlite_rows_per_s"] = round(baseline)

        url = f"sqlite:///{root / 'replay.db'}"
        rate, cpu_rate, build = _append_rate(url, REPLAY_EVENTS)
        results["sqlite_batched_events_per_s"] = round(rate)
        results["sqlite_batched_events_per_cpu_s"] = round(cpu_rate)
        results["sqlite_vs_baseline"] = round(rate / baseline, 3)
        results["new_event_build_per_s"] = round(build)

        rate, _, _ = _append_rate(
            f"sqlite:///{root / 'random.db'}", RANDOM_ID_EVENTS, random_ids=True
        )
        results["sqlite_batched_random_uuid4_ids_events_per_s"] = round(rate)

        with open_store(url) as store:
            started = time.perf_counter()
            cpu_started = time.process_time()
            count = sum(1 for _ in store.read_all())
            replay = time.perf_counter() - started
            replay_cpu = time.process_time() - cpu_started
        assert count == REPLAY_EVENTS, count
        results["sqlite_replay_events"] = count
        results["sqlite_replay_seconds"] = round(replay, 2)
        results["sqlite_replay_events_per_s"] = round(count / replay)
        results["sqlite_replay_events_per_cpu_s"] = round(count / replay_cpu)

    _postgres(results)
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
