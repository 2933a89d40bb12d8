"""The end-to-end demo behind ``oms demo`` / ``make demo``.

Starts the local world (L1 + L2), then a trader with a local key wraps ETH, quotes WETH→USDC on
every Uniswap pool of the L1 (V3 through QuoterV2, V2 through the router), and swaps on the best
V3 pool with a min-out guard. Every transaction is signed locally and the outcome is checked: the
amount received must equal the quote to the wei (nothing else trades on the devnet).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from eth_typing import ChecksumAddress
from rich.console import Console
from rich.table import Table

from oms_chain.chain.registry import chain_info
from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.sender import TxSender
from oms_chain.custody.local import LocalSigner
from oms_chain.devnet.artifacts import load_protocol_artifact
from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.world import Devnet, DevnetChain, DevnetConfig
from oms_chain.model.errors import DevnetError, InvalidInput
from oms_chain.model.orders import SettlementStatus

__all__ = ["DemoResult", "run_demo"]

SLIPPAGE_BPS = 50


@dataclass
class DemoResult:
    """What the demo did: quotes per pool, the transactions sent, balances before and after."""

    quotes: list[dict[str, Any]] = field(default_factory=list)
    txs: list[dict[str, Any]] = field(default_factory=list)
    balances_before: dict[str, Decimal] = field(default_factory=dict)
    balances_after: dict[str, Decimal] = field(default_factory=dict)
    amount_in: int = 0
    quoted_out: int = 0
    received_out: int = 0


async def _execute(
    chain: DevnetChain, signer: LocalSigner, steps: list[tuple[str, str, str, int]]
) -> list[dict[str, Any]]:
    """Send each (label, to, calldata, value) through the chain layer and settle it to final.

    Every transaction is simulated, priced from fee history, signed by the local key and
    tracked by the settlement tracker; the devnet mines the blocks that make them final.
    """
    info = chain_info(chain.chain_id)
    rows: list[dict[str, Any]] = []
    async with RpcClient([chain.rpc_url]) as rpc:
        sender = TxSender(rpc, info, signer)
        for label, to, data, value in steps:
            sent = await sender.send(to=to, data=data, value=value, what=label)
            rows.append({"step": label, "tx_hash": sent.tx_hash, "history": []})
            for _ in range(200):  # automine: the receipt is there within moments
                if sender.tracker.state(sent.tx_hash).status is not SettlementStatus.SUBMITTED:
                    break
                await sender.tracker.poll()
                await asyncio.sleep(0.01)
        chain.process.mine(info.final_confirmations)  # the devnet's blocks on top of ours
        await sender.tracker.poll()
        for row in rows:
            row["history"] = [s.value for s in sender.tracker.history(row["tx_hash"])]
            receipt = chain.w3.eth.get_transaction_receipt(row["tx_hash"])
            if receipt["status"] != 1:
                raise DevnetError(f"demo step {row['step']!r} reverted (tx {row['tx_hash']})")
            row["block"] = int(receipt["blockNumber"])
            row["gas_used"] = int(receipt["gasUsed"])
            row["gas_price_gwei"] = Decimal(int(receipt["effectiveGasPrice"])) / Decimal(10**9)
    return rows


def _balances(chain: DevnetChain, address: ChecksumAddress) -> dict[str, Decimal]:
    w3 = chain.w3
    out = {"ETH": Decimal(w3.eth.get_balance(address)) / Decimal(10**18)}
    for symbol, token in chain.book.tokens.items():
        c = w3.eth.contract(address=token.address, abi=ERC20_ABI)
        out[symbol] = Decimal(c.functions.balanceOf(address).call()) / Decimal(10**token.decimals)
    return out


def _quote_all(chain: DevnetChain, sell: str, buy: str, amount_in: int) -> list[dict[str, Any]]:
    w3, book = chain.w3, chain.book
    quoter = w3.eth.contract(
        address=book.address("QuoterV2"), abi=load_protocol_artifact("QuoterV2").abi
    )
    router2 = w3.eth.contract(
        address=book.address("UniswapV2Router02"),
        abi=load_protocol_artifact("UniswapV2Router02").abi,
    )
    t_in, t_out = book.token(sell), book.token(buy)
    quotes = []
    for pool in book.pools_for(sell, buy):
        if pool.protocol == "uniswap-v3":
            out, _sqrt_after, ticks, gas = quoter.functions.quoteExactInputSingle(
                (t_in.address, t_out.address, amount_in, pool.fee, 0)
            ).call()
        else:
            out = router2.functions.getAmountsOut(amount_in, [t_in.address, t_out.address]).call()[
                -1
            ]
            ticks, gas = 0, None
        quotes.append(
            {
                "protocol": pool.protocol,
                "fee": pool.fee,
                "pool": pool.address,
                "amount_out": int(out),
                "ticks_crossed": int(ticks),
                "gas_estimate": gas,
            }
        )
    return sorted(quotes, key=lambda q: -q["amount_out"])


def run_demo(
    console: Console | None = None, *, fresh: bool = False, amount_eth: Decimal = Decimal(10)
) -> DemoResult:
    """Wrap ``amount_eth`` ETH and swap it for USDC on the best V3 pool; print what happened.

    Returns the numbers for tests and scripts. Raises :class:`InvalidInput` for a non-positive
    amount and :class:`DevnetError` when a step reverts or the swap does not match the quote.
    """
    if not isinstance(amount_eth, Decimal) or not amount_eth.is_finite() or amount_eth <= 0:
        raise InvalidInput(f"amount_eth must be a positive Decimal, got {amount_eth!r}")
    if amount_eth > 100_000:
        raise InvalidInput(f"amount_eth {amount_eth} exceeds the demo account's 100,000 ETH cap")
    console = console or Console()
    result = DemoResult()
    started = time.perf_counter()
    with console.status("starting the devnet (L1 + L2)…") as status:
        world = Devnet(
            DevnetConfig(use_state_cache=not fresh), progress=lambda m: status.update(m)
        ).start()
    try:
        l1 = world.l1
        console.print(
            f"[bold]devnet up[/] in {time.perf_counter() - started:.1f} s: "
            + ", ".join(
                f"{c.name} chain {c.chain_id} at {c.rpc_url}" for c in world.chains.values()
            )
        )
        trader = LocalSigner(l1.accounts[1].private_key)
        book = l1.book
        weth = l1.w3.eth.contract(
            address=book.address("WETH"), abi=load_protocol_artifact("WETH9").abi
        )
        router = l1.w3.eth.contract(
            address=book.address("SwapRouter"), abi=load_protocol_artifact("SwapRouter").abi
        )
        usdc = l1.w3.eth.contract(address=book.address("USDC"), abi=ERC20_ABI)
        amount_in = int(amount_eth * 10**18)
        result.amount_in = amount_in
        result.balances_before = _balances(l1, trader.address)

        result.txs += asyncio.run(
            _execute(
                l1,
                trader,
                [
                    (f"wrap {amount_eth} ETH", weth.address, weth.encode_abi("deposit"), amount_in),
                    (
                        "approve router (exact)",
                        weth.address,
                        weth.encode_abi("approve", args=[router.address, amount_in]),
                        0,
                    ),
                ],
            )
        )
        result.quotes = _quote_all(l1, "WETH", "USDC", amount_in)
        best = next(q for q in result.quotes if q["protocol"] == "uniswap-v3")
        result.quoted_out = best["amount_out"]
        min_out = best["amount_out"] * (10_000 - SLIPPAGE_BPS) // 10_000
        before = usdc.functions.balanceOf(trader.address).call()
        deadline = int(l1.w3.eth.get_block("latest")["timestamp"]) + 600
        swap = router.encode_abi(
            "exactInputSingle",
            args=[
                (
                    book.address("WETH"),
                    book.address("USDC"),
                    best["fee"],
                    trader.address,
                    deadline,
                    amount_in,
                    min_out,
                    0,
                )
            ],
        )
        label = f"swap WETH->USDC V3 {best['fee'] / 10_000:g}%"
        result.txs += asyncio.run(_execute(l1, trader, [(label, router.address, swap, 0)]))
        result.received_out = usdc.functions.balanceOf(trader.address).call() - before
        result.balances_after = _balances(l1, trader.address)
    finally:
        world.stop()

    _print(console, result, trader.address)
    if result.received_out != result.quoted_out:
        raise DevnetError(
            f"swap received {result.received_out} USDC base units but QuoterV2 quoted "
            f"{result.quoted_out}; nothing else trades on the devnet, so they must be equal"
        )
    return result


def _print(console: Console, result: DemoResult, trader: str) -> None:
    quotes = Table(
        title=f"Quotes: sell {Decimal(result.amount_in) / Decimal(10**18)} WETH for USDC on the L1"
    )
    for col in ("venue", "fee", "pool", "USDC out", "ticks crossed", "gas (quoter)"):
        quotes.add_column(col, justify="right" if col not in ("venue", "pool") else "left")
    for q in result.quotes:
        quotes.add_row(
            "Uniswap V3" if q["protocol"] == "uniswap-v3" else "Uniswap V2",
            f"{q['fee'] / 10_000:g}%",
            q["pool"][:10] + "…",
            f"{Decimal(q['amount_out']) / Decimal(10**6):,.6f}",
            str(q["ticks_crossed"]) if q["protocol"] == "uniswap-v3" else "-",
            f"{q['gas_estimate']:,}" if q["gas_estimate"] else "-",
        )
    console.print(quotes)

    txs = Table(title=f"Transactions signed locally by {trader}")
    for col in ("step", "tx hash", "block", "gas used", "gwei", "settlement"):
        txs.add_column(col)
    for t in result.txs:
        txs.add_row(
            t["step"],
            t["tx_hash"],
            str(t["block"]),
            f"{t['gas_used']:,}",
            f"{t['gas_price_gwei']:.3f}",
            " → ".join(t["history"]),
        )
    console.print(txs)

    bal = Table(title="Trader balances")
    for col in ("asset", "before", "after", "change"):
        bal.add_column(col, justify="right" if col != "asset" else "left")
    for asset, before in result.balances_before.items():
        after = result.balances_after.get(asset, before)
        bal.add_row(asset, f"{before:,.6f}", f"{after:,.6f}", f"{after - before:+,.6f}")
    console.print(bal)
    ok = result.received_out == result.quoted_out
    console.print(
        f"received {Decimal(result.received_out) / Decimal(10**6):,.6f} USDC; quoted "
        f"{Decimal(result.quoted_out) / Decimal(10**6):,.6f} -> "
        + ("[green]exact to the wei[/]" if ok else "[red]MISMATCH[/]")
    )
