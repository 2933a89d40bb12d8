"""Several OMS workers on one PostgreSQL store: intent → venue ack latency end to end, and the
intake and completion rates, with 1, 2 and 4 workers.

Setup, all on loopback: a throwaway PostgreSQL cluster (``PostgresCluster``, fsync off: the
OMS is measured, not the disk), the exchange simulator in a thread of this process with no
agents and one maker account quoting a deep two-sided book (so every marketable buy fills at
once and the book never moves), and N worker processes (``tests/faults/_scale_worker.py``: a
:class:`~oms_chain.service.Worker` with a CcxtVenue through ccxt, unmodified). This process
enqueues direct buy intents (marketable limit orders of 0.01 ETH).

- **latency**: intents enqueued one at a time, paced (``PACED_PER_S``), so nothing queues up;
  per intent, from just before ``Leases.enqueue`` to the venue's answer recorded in the store
  (the child's first event after its ``OrderSubmitted``: accepted / filled), p50 and p99, and
  the part of it from the worker's claim (lease ``acquired_at``) to that answer. Worker poll
  interval 5 ms (an idle worker's round; its wait is in the end-to-end figure).
- **intake / completion**: ``BURST`` intents enqueued at once; intake = intents claimed per
  second (first claim to last claim), completion = intents finished per second until the
  queue is empty.
- **where the CPU goes** during the burst: the workers' CPU, this process's (the simulator's
  thread: REST, matching, user streams) and PostgreSQL's (the postmaster's backends), per
  intent, from ``/proc``; ``cpu_ceiling_per_s`` = 2 cores / that total: the completion rate
  no number of workers can pass on this machine.
- **idle** (before the paced part, ``IDLE_S``): transactions committed per second in the
  store's database (``pg_stat_database``) and the workers' CPU. Workers are woken by the
  queue's ``NOTIFY``; one round with 1 worker claiming every 5 ms round (``listen=False``, the
  code before ``LISTEN/NOTIFY``) stays as a reference.
- **baseline**, same run: ``CcxtVenue.place`` of the same order straight from this process
  (no store, no queue, no risk gate): what the venue round trip costs by itself. Ratios are
  OMS latency / bare place latency, and N workers' completion rate / 1 worker's.

Where it stops scaling, and why: the machine has 2 cores shared with other jobs, and every
intent costs CPU in three places — the worker (ccxt request signing and JSON, the engine's
events, the lease transactions), the simulator (one Python thread: REST, matching, the user
stream pushing each execution to every worker's websocket) and PostgreSQL (claim, send record,
event appends). Workers can scale only while CPU is left; here it is not: measured on this
machine (two runs, docs/scale-out.md), completion fell from 1 to 2 to 4 workers (80 → 50 → 18
and 36 → 20 → 13 intents/s) with the cores 99–100 % busy during the bursts and this
benchmark's processes getting only 22–30 % of them. And the worker CPU per intent grows with
the number of workers (7 → 8 → 20 ms; 10 → 16 → 24 ms): every worker's user stream of the one
API key receives and parses every execution, so N workers pay that N times (one shared user
stream per API key is the fix, not done). The run prints this verdict from its own figures
(``scaling_verdict``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt.pro as ccxt_pro

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "faults"))

WORKER = HERE.parent / "tests" / "faults" / "_scale_worker.py"
API_KEY, SECRET = "bench-key", "bench-secret"
MAKER = "bench-maker"
PACED = 60
PACED_PER_S = 15
BURST = 120
BARE = 60
IDLE_S = 2.0
COUNTS = (1, 2, 4)
ASK, BID = Decimal("2000.00"), Decimal("1990.00")
_NS = 1_000_000_000


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _intent(instrument: Any, intent_id: str, now_ns: int) -> Any:
    from oms_chain.model import Intent, Side

    return Intent.create(
        intent_id=intent_id,
        account="bench",
        instrument=instrument,
        side=Side.BUY,
        quantity="0.01",
        venues=["binance"],
        now_ns=now_ns,
        limit_price=str(ASK),
    )


def _acks(records: list[Any]) -> dict[str, tuple[int, int]]:
    """Intent id -> (child submitted ts, venue answer ts) from the store's events."""
    from oms_chain.model import FillRecorded, IntentId, event_from_payload, parent_order_id

    submitted: dict[str, int] = {}
    out: dict[str, tuple[int, int]] = {}
    for r in records:
        e = event_from_payload(r.event_type, r.version, r.payload)
        oid = e.fill.order_id if isinstance(e, FillRecorded) else getattr(e, "order_id", None)
        intent = str(e.correlation_id or "")
        if oid is None or oid == parent_order_id(IntentId(intent)):
            continue  # the parent's own events
        if r.event_type == "OrderSubmitted":
            submitted[str(oid)] = e.ts_init
        elif str(oid) in submitted and intent not in out:
            out[intent] = (submitted[str(oid)], e.ts_init)
    return out


async def _bare_place(cfg: dict[str, Any]) -> tuple[list[float], Any]:
    from _cex_worker import SYMBOL, venue_config

    from oms_chain.model import IntentId, Side, SystemClock, client_order_id
    from oms_chain.venues import PlaceOrder
    from oms_chain.venues.cex import CcxtVenue

    venue = CcxtVenue(venue_config(cfg), clock=SystemClock())
    await venue.start()
    try:
        instrument = venue.market(SYMBOL).instrument
        out = []
        for i in range(BARE):
            order = PlaceOrder(
                client_order_id=client_order_id(IntentId(f"bare{i}"), 0, prefix="bare"),
                instrument=instrument,
                side=Side.BUY,
                quantity=Decimal("0.01"),
                limit_price=ASK,
            )
            started = time.perf_counter()
            await venue.place(order)
            out.append((time.perf_counter() - started) * 1e3)
        return out, instrument
    finally:
        await venue.close()


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pg_cpu_s(cluster: Any) -> float:
    """CPU seconds of the cluster's postmaster and its backends so far."""
    data = Path(cluster._root) / "data"
    master = int((data / "postmaster.pid").read_text().splitlines()[0])
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(proc.name) == master or int(stat[1]) == master:
            total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, every core (``/proc/stat``)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    total = sum(fields) / os.sysconf("SC_CLK_TCK")
    idle = (fields[3] + fields[4]) / os.sysconf("SC_CLK_TCK")
    return total - idle, total


def _commits(store: Any) -> int:
    """Transactions committed in the store's database so far (PostgreSQL statistics)."""
    conn = store._live_connection()
    conn.execute("SELECT pg_stat_force_next_flush()")
    row = conn.execute(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    return int(row[0])


def _round(
    cluster: Any, sim: Any, urls: Any, instrument: Any, workers: int, listen: bool
) -> dict[str, Any]:
    from oms_chain.store import Leases, open_store

    url = cluster.create_database(f"w{workers}{'l' if listen else 'p'}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        cfg = {"api_key": API_KEY, "secret": SECRET, "urls": urls, "store": url}
        cfg |= {"ttl_s": 15.0, "poll_s": 0.005, "max_parents": 64, "listen": listen}
        (workdir / "cfg.json").write_text(json.dumps(cfg))
        store = open_store(url)
        leases = Leases(store)
        names = [f"b{k}" for k in range(workers)]
        procs = [
            subprocess.Popen(
                [sys.executable, str(WORKER), str(workdir), n],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for n in names
        ]
        try:
            deadline = time.monotonic() + 90
            while not all((workdir / f"ready-{n}").exists() for n in names):
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise RuntimeError("workers did not start: " + procs[0].stderr.read().decode())  # type: ignore[union-attr]
                time.sleep(0.05)
            # idle: what waiting for work costs (claim transactions, worker CPU)
            time.sleep(1.0)  # past the workers' start-up work
            cpu0, commits0, t0 = [_cpu_s(p.pid) for p in procs], _commits(store), time.monotonic()
            time.sleep(IDLE_S)
            idle_s = time.monotonic() - t0
            idle_commits = _commits(store) - commits0
            idle_cpu = sum(_cpu_s(p.pid) - c for p, c in zip(procs, cpu0, strict=True))
            work_cpu0 = sum(_cpu_s(p.pid) for p in procs)
            # paced: latency without queueing
            enqueued: dict[str, int] = {}
            for i in range(PACED):
                iid = f"p{i}"
                now = time.time_ns()
                enqueued[iid] = now
                leases.enqueue(iid, _intent(instrument, iid, now).to_payload())
                time.sleep(1 / PACED_PER_S)
            _drain(leases, 60)
            # burst: completion rate
            payloads = [
                (f"u{i}", _intent(instrument, f"u{i}", time.time_ns())) for i in range(BURST)
            ]
            burst_w0 = sum(_cpu_s(p.pid) for p in procs)
            burst_me0, burst_pg0 = time.process_time(), _pg_cpu_s(cluster)
            busy0, all0 = _machine_cpu()
            started = time.perf_counter()
            for iid, intent in payloads:
                leases.enqueue(iid, intent.to_payload())
            _drain(leases, 120)
            burst_s = time.perf_counter() - started
            rate = BURST / burst_s
            busy1, all1 = _machine_cpu()
            burst_cpu = {
                "workers": sum(_cpu_s(p.pid) for p in procs) - burst_w0,
                "simulator_and_bench": time.process_time() - burst_me0,
                "postgres": _pg_cpu_s(cluster) - burst_pg0,
            }
            work_cpu = sum(_cpu_s(p.pid) for p in procs) - work_cpu0
            acquired = {
                r.resource.removeprefix("parent:"): r.acquired_at_ns for r in leases.leases()
            }
            records = list(store.read_all())
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
            store.close()
    claims = sorted(acquired[i] for i, _ in payloads if i in acquired)
    intake = (len(claims) - 1) / ((claims[-1] - claims[0]) / _NS) if len(claims) > 1 else 0.0
    cpu_ms = {k: 1e3 * v / BURST for k, v in burst_cpu.items()}
    ours = sum(burst_cpu.values()) / (all1 - all0)  # of all cores' time in the burst
    acks = _acks(records)
    e2e = [(acks[i][1] - t) / 1e6 for i, t in enqueued.items() if i in acks]
    claim = [(acks[i][1] - acquired[i]) / 1e6 for i in enqueued if i in acks and i in acquired]
    send = [(acks[i][1] - acks[i][0]) / 1e6 for i in enqueued if i in acks]
    return {
        "answered": len(e2e),
        "e2e_p50_ms": round(statistics.median(e2e), 2),
        "e2e_p99_ms": round(_pct(e2e, 0.99), 2),
        "claim_to_ack_p50_ms": round(statistics.median(claim), 2),
        "claim_to_ack_p99_ms": round(_pct(claim, 0.99), 2),
        "send_to_ack_p50_ms": round(statistics.median(send), 2),
        "intake_per_s": round(intake, 1),
        "completed_per_s": round(rate, 1),
        **{f"burst_cpu_ms_per_intent_{k}": round(v, 2) for k, v in cpu_ms.items()},
        "cpu_ceiling_per_s": round(2e3 / sum(cpu_ms.values()), 1),
        "burst_machine_busy_pct": round(100 * (busy1 - busy0) / (all1 - all0), 1),
        "burst_ours_pct": round(100 * ours, 1),
        "idle_commits_per_s": round(idle_commits / idle_s, 1),
        "idle_worker_cpu_pct": round(100 * idle_cpu / idle_s, 1),
        "worker_cpu_ms_per_intent": round(1e3 * work_cpu / (PACED + BURST), 2),
    }


def _drain(leases: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while leases.open_intents():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{leases.open_intents()} intents still open after {timeout} s")
        time.sleep(0.02)


def _verdict(r: dict[str, Any]) -> str:
    """Where the completion rate stops growing with workers, and what the CPU figures say."""
    rates = {n: r[f"listen_workers{n}_completed_per_s"] for n in COUNTS}
    grown = [n for a, n in itertools.pairwise(COUNTS) if rates[n] < 1.15 * rates[a]]
    at = grown[0] if grown else COUNTS[-1]
    share = {
        k: r[f"listen_workers{at}_burst_cpu_ms_per_intent_{k}"]
        for k in ("workers", "simulator_and_bench", "postgres")
    }
    total = sum(share.values())
    parts = ", ".join(f"{k} {v:.1f} ms ({100 * v / total:.0f}%)" for k, v in share.items())
    ceiling = r[f"listen_workers{at}_cpu_ceiling_per_s"]
    busy = r[f"listen_workers{at}_burst_machine_busy_pct"]
    ours = r[f"listen_workers{at}_burst_ours_pct"]
    growth = (
        r[f"listen_workers{at}_burst_cpu_ms_per_intent_workers"]
        / r["listen_workers1_burst_cpu_ms_per_intent_workers"]
    )
    where = f"stops scaling at {at} workers" if grown else f"still scaling at {at} workers"
    if busy >= 85:
        why = (
            f"the 2 cores were saturated ({busy:.0f}% busy, {ours:.0f}% of it this benchmark's "
            f"processes, the rest other jobs): more workers only divide the same CPU"
        )
    else:
        why = (
            f"cores were left ({busy:.0f}% busy): the limit is serial work (the simulator's one "
            f"Python thread, each worker's request round trips)"
        )
    return (
        f"completion {', '.join(f'{n}w {rates[n]}/s' for n in COUNTS)}: {where}; CPU per "
        f"intent at {at}w: {parts} (2 cores / {total:.1f} ms = {ceiling}/s); {why}. Worker CPU "
        f"per intent {growth:.1f}x that of 1 worker"
        + (
            ": every worker's user stream of the one API key receives and parses every "
            "execution (and the simulator pushes each to every stream), paid N times"
            if growth > 1.3
            else ""
        )
    )


def run() -> dict[str, Any]:
    from oms_chain.devnet.exchange import SimulatorConfig, run_in_thread
    from oms_chain.testing.postgres import PostgresCluster

    results: dict[str, Any] = {}
    cluster = PostgresCluster(durable=False).start()
    try:
        config = SimulatorConfig(agents=False, weight_limit=10_000_000, order_limit_10s=1_000_000)
        with run_in_thread(config) as sim:
            start = {"USDC": Decimal(10_000_000), "ETH": Decimal(10_000)}
            sim.call(lambda: sim.simulator.create_account(API_KEY, SECRET, start))
            sim.call(lambda: sim.simulator.create_account("mk", "mk-s", start, account_id=MAKER))
            engine = sim.simulator.engine
            for side, px in (("SELL", ASK), ("BUY", BID)):
                sim.call(
                    lambda side=side, px=px: engine.place(
                        MAKER, "ETHUSDC", side, "LIMIT", quantity=Decimal(200), price=px,
                        time_in_force="GTC",
                    )
                )  # fmt: skip
            urls = sim.simulator.binance_urls(ccxt_pro.binance().urls["api"])
            cfg = {"api_key": API_KEY, "secret": SECRET, "urls": urls}
            bare, instrument = asyncio.run(_bare_place(cfg))
            results["baseline_bare_place_p50_ms"] = round(statistics.median(bare), 2)
            results["baseline_bare_place_p99_ms"] = round(_pct(bare, 0.99), 2)
            for mode, listen, n in (("poll", False, 1), *(("listen", True, k) for k in COUNTS)):
                r = _round(cluster, sim, urls, instrument, n, listen)
                for k, v in r.items():
                    results[f"{mode}_workers{n}_{k}"] = v
                results[f"{mode}_workers{n}_e2e_p50_vs_bare"] = round(
                    r["e2e_p50_ms"] / results["baseline_bare_place_p50_ms"], 2
                )
            one = results["listen_workers1_completed_per_s"]
            for n in COUNTS[1:]:
                results[f"completion_{n}_vs_1"] = round(
                    results[f"listen_workers{n}_completed_per_s"] / one, 2
                )
            results["scaling_verdict"] = _verdict(results)
    finally:
        cluster.stop()
    return results


if __name__ == "__main__":
    out = run()
    print(json.dumps(out, indent=2))
    print(out["scaling_verdict"])
