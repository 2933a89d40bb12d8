"""Multi-leg structures on the devnet L1 (real Anvil, our OptionsMarket and BatchExecutor, the
RFQ maker over loopback HTTP): a 4-leg iron condor as ONE atomic batch through
:class:`~oms_chain.service.structures.StructureRunner` against the same four legs as four
separate venue fills (each through the executor with its own approval and guard, as the venue
sends a single order).

Reported: gas of each (receipts' ``gasUsed``, intrinsic gas included) and the ratio (target
<= 60 %), and the time from the structure intent (``run`` called) to all legs sent (the batch
broadcast, step ``sent``) as p50 / p99 over :data:`RUNS` structures — quotes from the maker,
the gate with the risk engine's margin, simulation, signing, journaling and broadcast included.
Baseline in the same run: one single-leg venue fill, intent to sent.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from oms_chain.chain.registry import chain_info
from oms_chain.chain.rpc import RpcClient
from oms_chain.custody.local import LocalSigner
from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.options_maker import MakerConfig, run_maker_in_thread
from oms_chain.devnet.options_market import OptionsMarketClient
from oms_chain.devnet.world import Devnet, DevnetChain, DevnetConfig
from oms_chain.model.clock import SystemClock
from oms_chain.model.ids import client_order_id
from oms_chain.model.intent import Side
from oms_chain.risk import MarketSnapshot
from oms_chain.service.structures import StructureRequest, StructureRunner
from oms_chain.store import open_store
from oms_chain.strategies import OptionSeries, StructureLimits, iron_condor
from oms_chain.venues.amm.account import ChainAccount
from oms_chain.venues.base import PlaceOrder
from oms_chain.venues.options import onchain_options_venue
from oms_chain.venues.options.batch import AtomicOptionsBatch

RUNS = 20
_WETH_ABI = [
    {
        "name": "deposit",
        "type": "function",
        "inputs": [],
        "outputs": [],
        "stateMutability": "payable",
    }
]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _prepare_chain(chain: DevnetChain) -> None:
    """Fund the executor and the maker, list the 2,000 and 4,000 wings of the first expiry."""
    w3 = chain.w3
    owner, maker = chain.accounts[0].address, chain.accounts[3].address
    weth = w3.eth.contract(address=chain.book.address("WETH"), abi=_WETH_ABI)
    for who, eth in ((owner, 50), (maker, 100)):
        tx = weth.functions.deposit().transact({"from": who, "value": eth * 10**18})
        w3.eth.wait_for_transaction_receipt(tx)
    executor = chain.book.address("BatchExecutor")
    for sym, amount in (("USDC", 200_000 * 10**6), ("WETH", 40 * 10**18)):
        token = w3.eth.contract(address=chain.book.address(sym), abi=ERC20_ABI)
        w3.eth.wait_for_transaction_receipt(
            token.functions.transfer(executor, amount).transact({"from": owner})
        )
    market = OptionsMarketClient.from_book(w3, chain.book)
    expiry = market.series(1).expiry
    usdc, weth_addr = chain.book.address("USDC"), chain.book.address("WETH")
    for strike in (2000, 4000):
        for is_call in (True, False):
            tx = market.contract.functions.listSeries(
                weth_addr, usdc, strike * 10**6, expiry, is_call, 10**17
            ).transact({"from": owner})
            w3.eth.wait_for_transaction_receipt(tx)


async def _measure(chain: DevnetChain, maker_url: str, folder: Path) -> dict[str, Any]:
    rpc = RpcClient([chain.rpc_url])
    store = open_store(f"sqlite:///{folder / 'bench.db'}")
    account = ChainAccount(
        rpc, chain_info(chain.chain_id), LocalSigner(chain.accounts[0].private_key), store
    )
    venue = onchain_options_venue(
        account, chain.book, (maker_url,), executor=chain.book.address("BatchExecutor")
    )
    try:
        async with venue:
            c = next(x for x in venue.instruments() if x.underlying.symbol == "WETH")
            series = OptionSeries(
                underlying=c.underlying,
                quote=c.quote,
                settlement=c.settlement,
                size_decimals=c.size_decimals,
            )
            structure = iron_condor(
                series, c.expiry_ns, (2000, 2500, 3500, 4000), "0.1", listed=venue.instruments()
            )
            batch = AtomicOptionsBatch(venue)
            snap = MarketSnapshot(
                now_ns=(await venue.chain_time()) * 10**9,
                spots={"WETH": Decimal(3000)},
                vols={leg.contract.id: Decimal("0.65") for leg in structure.legs},
            )
            sent_at: list[float] = []
            runner = StructureRunner(
                store=store,
                clock=SystemClock(),
                batch=batch,
                on_step=lambda step: (
                    sent_at.append(time.perf_counter()) if step == "sent" else None
                ),
            )
            to_sent: list[float] = []
            batch_gas: list[int] = []
            for i in range(RUNS):
                started = time.perf_counter()
                rec = await runner.run(
                    StructureRequest(
                        structure_id=f"bench-{i}",
                        structure=structure,
                        account="bench",
                        limits=StructureLimits(max_loss=Decimal(100)),
                        market=snap,
                    )
                )
                assert rec.status == "open", rec.to_json()
                to_sent.append(sent_at[-1] - started)
                receipt = await rpc.receipt(rec.tx_hash or "")
                assert receipt is not None
                batch_gas.append(receipt.gas_used)
            # the same four legs as four separate venue fills
            separate = 0
            single: list[float] = []
            for i, leg in enumerate(structure.legs):
                started = time.perf_counter()
                placed = await venue.place(
                    PlaceOrder(
                        client_order_id=client_order_id(f"bench-sep-{i}", 0),  # type: ignore[arg-type]
                        instrument=leg.contract,
                        side=Side(leg.side.value),
                        quantity=leg.quantity,
                        limit_price=None,
                    )
                )
                single.append(time.perf_counter() - started)
                assert placed.settlement is not None
                tx_hash = placed.settlement.tx_hash
                for _ in range(400):
                    receipt = await rpc.receipt(tx_hash)
                    if receipt is not None:
                        break
                    await asyncio.sleep(0.01)
                assert receipt is not None and receipt.status == 1
                separate += receipt.gas_used
    finally:
        await account.close()
        await rpc.close()
        store.close()
    batch_p50 = int(_pct([float(g) for g in batch_gas], 0.5))
    ratio = batch_p50 / separate
    return {
        "runs": RUNS,
        "four_leg_atomic_batch_gas_p50": batch_p50,
        "four_separate_venue_fills_gas": separate,
        "atomic_vs_separate_pct": round(100 * ratio, 1),
        "target_atomic_le_60pct": ratio <= 0.60,
        "intent_to_all_legs_sent_p50_ms": round(_pct(to_sent, 0.5) * 1e3, 1),
        "intent_to_all_legs_sent_p99_ms": round(_pct(to_sent, 0.99) * 1e3, 1),
        "baseline_single_leg_place_p50_ms": round(_pct(single, 0.5) * 1e3, 1),
    }


def run() -> dict[str, Any]:
    with Devnet(DevnetConfig(with_l2=False)) as world, tempfile.TemporaryDirectory() as tmp:
        chain = world.l1
        _prepare_chain(chain)
        maker = run_maker_in_thread(
            OptionsMarketClient.from_book(chain.w3, chain.book),
            chain.accounts[3].private_key,
            config=MakerConfig(max_size=1_000_000),
        )
        try:
            return asyncio.run(_measure(chain, maker.url, Path(tmp)))
        finally:
            maker.stop()
