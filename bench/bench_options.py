"""Options market gas on the devnet L1 (real Anvil, our compiled bytecode): fill (open), a batch
of 4 fills through the BatchExecutor (one ``fillMany`` call under a premium guard) against the
same 4 fills as separate transactions, and for comparison the executor running 4 ``fill``
calls and ``fillMany`` sent directly by the taker; settle, redeem, withdraw; and a four-leg
structure (one fill on each of four series) as four transactions, as one executor ``fillMany``
and as ONE package quote (``fillPackage``, through the executor and sent by the taker). Gas is
each receipt's ``gasUsed`` (intrinsic 21,000 included, as a user pays).

Baseline in the same run: a plain ERC-20 transfer (gas and send-to-receipt latency). Fill gas
and latency are reported as p50/p90/p99 over :data:`FILLS` fills. Targets: the batch costs
<= 60 % of the separate transactions (issue 19), and so does the four-leg package (issue 17).
"""

from __future__ import annotations

import statistics
import time
from decimal import Decimal
from typing import Any

from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.options_market import OptionsMarketClient, Quote, set_feed_price, warp_to
from oms_chain.devnet.solidity import load_artifact
from oms_chain.devnet.world import Devnet, DevnetChain, DevnetConfig

FILLS = 30
_MAX = 2**256 - 1
_NONE = "0x0000000000000000000000000000000000000000"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _send(chain: DevnetChain, fn: Any, sender: str) -> tuple[int, float]:
    started = time.perf_counter()
    tx = fn.transact({"from": sender})
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx, poll_latency=0.002)
    assert receipt["status"] == 1
    return int(receipt["gasUsed"]), time.perf_counter() - started


def _series(market: OptionsMarketClient, chain: DevnetChain) -> int:
    weth = chain.book.token("WETH").address
    return next(
        s.series_id
        for s in market.all_series()
        if s.underlying == weth and s.strike == 3000 * 10**6 and not s.is_call
    )


def run() -> dict[str, Any]:
    with Devnet(DevnetConfig(with_l2=False)) as world:
        chain = world.l1
        market = OptionsMarketClient.from_book(chain.w3, chain.book)
        owner, maker, taker = chain.accounts[0], chain.accounts[1], chain.accounts[2]
        usdc = chain.w3.eth.contract(address=chain.book.address("USDC"), abi=ERC20_ABI)
        batch = chain.w3.eth.contract(
            address=chain.book.address("BatchExecutor"), abi=load_artifact("BatchExecutor")["abi"]
        )
        sid = _series(market, chain)
        expiry = market.series(sid).expiry
        for who in (maker.address, taker.address):
            _send(chain, usdc.functions.approve(market.address, _MAX), who)
        _send(chain, usdc.functions.transfer(batch.address, 1_000_000 * 10**6), owner.address)
        approve = usdc.encode_abi("approve", args=[market.address, _MAX])
        _send(
            chain,
            batch.functions.execute([(usdc.address, 0, approve, _NONE, 0)], []),
            owner.address,
        )

        base_gas, base_lat = [], []
        for _ in range(FILLS):
            g, t = _send(chain, usdc.functions.transfer(maker.address, 1), taker.address)
            base_gas.append(g)
            base_lat.append(t)

        deadline = expiry - 60
        salt = iter(range(1, 10_000))

        def quote(size: int = 1) -> tuple[Quote, bytes]:
            q = Quote(
                maker=maker.address,
                series_id=sid,
                maker_sells=True,
                size=size,
                premium=40 * 10**6,
                deadline=deadline,
                salt=next(salt),
            )
            return q, market.sign(q, maker.private_key)

        # batch of 4 against 4 separate transactions, each from the same state
        snap = chain.snapshot()
        separate = 0
        for _ in range(4):
            q, sig = quote()
            separate += _send(
                chain, market.contract.functions.fill(q.as_tuple(), sig, 1), taker.address
            )[0]
        chain.revert(snap)
        snap = chain.snapshot()
        calls = []
        for _ in range(4):
            q, sig = quote()
            data = market.contract.encode_abi("fill", args=[q.as_tuple(), sig, 1])
            calls.append((market.address, 0, data, _NONE, 0))
        per_call, _ = _send(
            chain, batch.functions.execute(calls, [(usdc.address, -160 * 10**6)]), owner.address
        )
        chain.revert(snap)

        def many(n: int, series: list[int] | None = None) -> list[Any]:
            got = [leg(series[i]) if series else quote() for i in range(n)]
            return [[q.as_tuple() for q, _ in got], [sig for _, sig in got], [1] * n]

        # the same 4 fills as one fillMany call inside the executor (one guard), and directly
        snap = chain.snapshot()
        data = market.contract.encode_abi("fillMany", args=many(4))
        batched, _ = _send(
            chain,
            batch.functions.execute(
                [(market.address, 0, data, _NONE, 0)], [(usdc.address, -160 * 10**6)]
            ),
            owner.address,
        )
        chain.revert(snap)
        snap = chain.snapshot()
        direct, _ = _send(chain, market.contract.functions.fillMany(*many(4)), taker.address)
        chain.revert(snap)

        # a four-leg structure: one fill on each of four put series (every position new)
        legs = [
            x.series_id
            for x in market.all_series()
            if x.underlying == chain.book.token("WETH").address and not x.is_call
        ][:4]

        def leg(series_id: int) -> tuple[Quote, bytes]:
            q = Quote(
                maker=maker.address,
                series_id=series_id,
                maker_sells=True,
                size=1,
                premium=40 * 10**6,
                deadline=deadline,
                salt=next(salt),
            )
            return q, market.sign(q, maker.private_key)

        snap = chain.snapshot()
        legs_separate = 0
        for series_id in legs:
            q, sig = leg(series_id)
            fn = market.contract.functions.fill(q.as_tuple(), sig, 1)
            legs_separate += _send(chain, fn, taker.address)[0]
        chain.revert(snap)
        snap = chain.snapshot()
        data = market.contract.encode_abi("fillMany", args=many(4, legs))
        legs_batched, _ = _send(
            chain, batch.functions.execute([(market.address, 0, data, _NONE, 0)], []), owner.address
        )
        chain.revert(snap)

        # the same four legs as ONE package quote (one signature, one record, fillPackage)
        package = (
            maker.address,
            _NONE,
            [(series_id, True, 1, 40 * 10**6) for series_id in legs],
            1,
            deadline,
            0,
            False,
            next(salt),
        )
        pkg_sig = market.sign_package(package, maker.private_key)
        snap = chain.snapshot()
        data = market.contract.encode_abi("fillPackage", args=[package, pkg_sig, 1])
        legs_package, _ = _send(
            chain,
            batch.functions.execute(
                [(market.address, 0, data, _NONE, 0)], [(usdc.address, -160 * 10**6)]
            ),
            owner.address,
        )
        chain.revert(snap)
        snap = chain.snapshot()
        legs_package_direct, _ = _send(
            chain, market.contract.functions.fillPackage(package, pkg_sig, 1), taker.address
        )
        chain.revert(snap)

        fill_gas, fill_lat = [], []
        for _ in range(FILLS):
            q, sig = quote()
            g, t = _send(chain, market.contract.functions.fill(q.as_tuple(), sig, 1), taker.address)
            fill_gas.append(g)
            fill_lat.append(t)

        warp_to(chain.w3, expiry + 10)
        set_feed_price(
            chain.w3, chain.book.address("OracleETHUSD"), Decimal("2800"), sender=owner.address
        )
        round_id = market.settlement_round(sid)
        settle_gas, _ = _send(chain, market.contract.functions.settle(sid, round_id), owner.address)
        redeem_gas, _ = _send(chain, market.contract.functions.redeem(sid, FILLS), taker.address)
        withdraw_gas, _ = _send(
            chain, market.contract.functions.withdraw(sid, FILLS), maker.address
        )

    ratio = batched / separate
    return {
        "baseline_erc20_transfer_gas": int(statistics.median(base_gas)),
        "baseline_transfer_latency_p50_ms": round(_pct(base_lat, 0.5) * 1e3, 2),
        "fill_gas_p50": int(_pct(fill_gas, 0.5)),
        "fill_gas_p90": int(_pct(fill_gas, 0.9)),
        "fill_gas_p99": int(_pct(fill_gas, 0.99)),
        "fill_latency_p50_ms": round(_pct(fill_lat, 0.5) * 1e3, 2),
        "fill_latency_p90_ms": round(_pct(fill_lat, 0.9) * 1e3, 2),
        "fill_latency_p99_ms": round(_pct(fill_lat, 0.99) * 1e3, 2),
        "fill_vs_transfer_gas_x": round(_pct(fill_gas, 0.5) / statistics.median(base_gas), 2),
        "four_separate_fills_gas": separate,
        "batch_of_four_fills_gas": batched,
        "batch_vs_separate_pct": round(100 * ratio, 1),
        "target_batch_le_60pct": ratio <= 0.60,
        "batch_of_four_fill_calls_gas": per_call,
        "batch_of_four_fill_calls_vs_separate_pct": round(100 * per_call / separate, 1),
        "fill_many_four_direct_gas": direct,
        "fill_many_four_direct_vs_separate_pct": round(100 * direct / separate, 1),
        "four_leg_structure_separate_gas": legs_separate,
        "four_leg_structure_batch_gas": legs_batched,
        "four_leg_batch_vs_separate_pct": round(100 * legs_batched / legs_separate, 1),
        "four_leg_package_batch_gas": legs_package,
        "four_leg_package_vs_separate_pct": round(100 * legs_package / legs_separate, 1),
        "target_four_leg_package_le_60pct": legs_package / legs_separate <= 0.60,
        "four_leg_package_direct_gas": legs_package_direct,
        "four_leg_package_direct_vs_separate_pct": round(
            100 * legs_package_direct / legs_separate, 1
        ),
        "settle_gas": settle_gas,
        "redeem_gas": redeem_gas,
        "withdraw_gas": withdraw_gas,
    }
