"""At expiry the treasury closes out its options through the Safe: one proposal settles each
series from the feed's first round after expiry, and the executor redeems the long put for its
payoff and withdraws the short call's collateral; the positions are gone, the payouts in the
executor, the treasury re-measured."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from treasury_helpers import jump, sign_all

from oms_chain.chain.rpc import RpcClient
from oms_chain.custody import LocalSigner
from oms_chain.devnet.options_maker import OptionsMakerThread
from oms_chain.devnet.treasury import DevTreasury, policy_toml
from oms_chain.devnet.world import DevnetChain
from oms_chain.store import open_store
from oms_chain.treasury import RunState, TreasuryDesk, TreasuryPolicy
from oms_chain.venues.amm._calls import erc20_balance


def test_expired_options_are_settled_redeemed_and_withdrawn_through_the_safe(
    l1: DevnetChain, treasury: DevTreasury, maker: OptionsMakerThread, tmp_path: Path
) -> None:
    policy = TreasuryPolicy.from_toml(
        policy_toml(l1, treasury, makers=[maker.url], allowed=["collar"])
    )
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    relayer = LocalSigner(l1.accounts[9].private_key)
    keys = treasury.owner_keys[:2]
    executor = str(policy.safe.options_executor)
    usdc = str(policy.asset("USDC").address)
    weth = str(policy.asset("WETH").address)
    jump(l1, 3450)

    async def scenario() -> tuple[RunState, RunState, int, dict[str, int], dict[str, int]]:
        async with RpcClient([l1.rpc_url]) as rpc:
            desk = TreasuryDesk(policy, store, rpc, poll_s=0.02)
            try:
                st = await desk.plan("hedge")
                st = await desk.propose("hedge")
                await sign_all(desk, st.run_id, keys)
                hedged = await desk.execute("hedge", relayer)
                book = await desk.book()
                assert book is not None
                held = await book.holdings()
                expiry_s = max(h.contract.expiry_ns for h in held) // 1_000_000_000
                # expiry passes, then the oracle's first round after it: ETH at 2,800
                await rpc.call("evm_setNextBlockTimestamp", [expiry_s + 60])
                await rpc.call("evm_mine", [])
                jump(l1, 2800)
                before = {t: await erc20_balance(rpc, t, executor) for t in (usdc, weth)}
                st = await desk.plan_expiry("expiry")
                st = await desk.propose("expiry")
                await sign_all(desk, st.run_id, keys)
                done = await desk.execute("expiry", relayer)
                after = {t: await erc20_balance(rpc, t, executor) for t in (usdc, weth)}
                left = len(await book.holdings())
            finally:
                await desk.close()
            return hedged, done, left, before, after

    hedged, done, left, before, after = asyncio.run(scenario())
    assert hedged.stage == "remeasured" and done.stage == "remeasured"
    (p,) = done.proposals
    assert p.kind == "expiry" and "redeem" in p.description and "withdraw" in p.description
    assert done.executed[p.proposal_id]["success"] and left == 0
    print(p.description, "gas", done.executed[p.proposal_id]["gas_used"])
    legs = hedged.plan["candidates"][hedged.plan["chosen"]]["legs"]  # type: ignore[index]
    put = next(leg for leg in legs if leg["side"] == "buy")
    strike = Decimal(put["instrument"].split("-")[2])
    payoff = Decimal(put["quantity"]) * max(strike - 2800, Decimal(0))
    # the put paid its payoff in USDC; the short call (struck above 2,800) returned its WETH
    assert Decimal(after[usdc] - before[usdc]).scaleb(-6) == payoff
    assert after[weth] - before[weth] == int(Decimal(put["quantity"]) * 10**18)
    assert done.after is not None and done.after["options"] == []
    store.close()
