"""Child process of tests/faults/test_worker_takeover.py, test_worker_chaos.py (and
bench/bench_workers.py): one OMS worker on a PostgreSQL store.

Run as ``python _scale_worker.py WORKDIR NAME``. Reads ``WORKDIR/cfg.json`` (simulator URLs,
credentials, the store's URL, the lease ttl; optional ``poll_s``, ``max_parents``,
``listen``), builds an engine with a :class:`LeaseFence` and a CcxtVenue pointed at the
simulator, touches ``WORKDIR/ready-NAME`` and runs a :class:`Worker` until SIGTERM (then
drains and writes ``WORKDIR/stats-NAME.json``). Logs go to ``WORKDIR/log-NAME.txt``.

With a ``chain`` section (RPC URL, chain id, address book, private key, venue id) the worker
also stands by for that signer's account lease (:meth:`Worker.stand_by`): whichever worker
holds it opens the Uniswap venue on Anvil and works the intents that need it; the others wait
and one takes the account over when its holder dies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import signal
import sys
from pathlib import Path

from _cex_worker import SYMBOL, _touch, venue_config

from oms_chain.chain.addressbook import AddressBook
from oms_chain.custody.local import LocalSigner
from oms_chain.engine import Engine, EngineConfig
from oms_chain.model import SystemClock
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.service.worker import LeaseFence, Worker, account_resource
from oms_chain.store import Leases, open_store
from oms_chain.venues.amm import UniswapVenues, uniswap_venues
from oms_chain.venues.base import Venue
from oms_chain.venues.cex import CcxtVenue


async def main(workdir: Path, name: str) -> None:
    cfg = json.loads((workdir / "cfg.json").read_text())
    logging.basicConfig(
        filename=workdir / f"log-{name}.txt",
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    clock = SystemClock()
    venue = CcxtVenue(venue_config(cfg), clock=clock)
    await venue.start()
    instrument = venue.market(SYMBOL).instrument
    store = open_store(str(cfg["store"]))
    leases = Leases(store)
    fence = LeaseFence(leases, name, ttl_ns=int(float(cfg["ttl_s"]) * 1e9))
    engine = Engine(
        store=store,
        venues=[venue],
        risk=RiskGate(RiskLimits(), clock=clock),
        clock=clock,
        config=EngineConfig(send_timeout_s=5.0, snapshot_every=0),
        fence=fence,
    )
    bid, ask = await _touch(venue, instrument)
    engine.set_reference_price(instrument.id, (bid + ask) / 2)
    await engine.start()
    worker = Worker(
        engine,
        leases,
        fence,
        max_parents=int(cfg.get("max_parents", 8)),
        poll_s=float(cfg.get("poll_s", 0.1)),
        listen=bool(cfg.get("listen", True)),
    )
    chain = cfg.get("chain")
    opened: list[UniswapVenues] = []
    if chain is not None:

        async def open_chain() -> list[Venue]:
            uni = uniswap_venues(
                int(chain["chain_id"]),
                str(chain["rpc_url"]),
                LocalSigner(str(chain["key"])),
                store,
                book=AddressBook.from_json(chain["book"]),
                poll_interval=0.05,
            )
            opened.append(uni)
            uni.account.start()
            pool = uni.venue(str(chain["venue"]))
            for inst in pool.instruments():
                if inst.symbol == chain["symbol"]:  # the sells' collar: the pool's mid now
                    bid, ask = await _touch(pool, inst)  # type: ignore[arg-type]
                    engine.set_reference_price(inst.id, (bid + ask) / 2)
            return [pool]

        address = LocalSigner(str(chain["key"])).address
        worker.stand_by(account_resource(int(chain["chain_id"]), address), open_chain)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, worker.stop)
    (workdir / f"ready-{name}").touch()
    stats = await worker.run()
    await engine.stop()
    await venue.close()
    for uni in opened:
        await uni.close()
    store.close()
    (workdir / f"stats-{name}.json").write_text(json.dumps(dataclasses.asdict(stats)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
