"""A spot sale on the devnet: TWAP slices as separate Safe proposals at consecutive nonces,
each run from its time on; the treasury lands in the band, each slice above its minimum out."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from treasury_helpers import sign_all

from oms_chain.chain.rpc import RpcClient
from oms_chain.custody import LocalSigner
from oms_chain.devnet.treasury import DevTreasury, policy_toml
from oms_chain.devnet.world import DevnetChain
from oms_chain.store import open_store
from oms_chain.treasury import RunState, TreasuryDesk, TreasuryPolicy


def _sold_above_minimum_into_the_band(policy: TreasuryPolicy, done: RunState) -> None:
    """Every slice got at least its minimum out; the treasury ends inside its band."""
    usdc = policy.asset("USDC").address
    for p in done.proposals:
        received = int(done.executed[p.proposal_id]["received"][usdc])
        minimum = Decimal(p.description.split("at least ")[1].split()[0]) * 10**6
        assert received >= minimum
    assert policy.exposure.low() <= Decimal(done.after["delta_share"]) <= policy.exposure.high()  # type: ignore[index]


def test_a_twap_sale_runs_slice_by_slice_into_the_band(
    l1: DevnetChain, treasury: DevTreasury, tmp_path: Path
) -> None:
    text = policy_toml(
        l1, treasury, makers=[], allowed=["twap_sale"], target_share=Decimal("0.35"),
        twap_slices=3, slice_interval_s=600,
    )  # fmt: skip
    policy = TreasuryPolicy.from_toml(text)
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    relayer = LocalSigner(l1.accounts[9].private_key)

    async def scenario() -> tuple[RunState, RunState]:
        async with RpcClient([l1.rpc_url]) as rpc:
            desk = TreasuryDesk(policy, store, rpc)
            await desk.plan("sale")
            await desk.propose("sale")
            await sign_all(desk, "sale", treasury.owner_keys[:2])
            first = await desk.execute("sale", relayer)  # slice 1 now, slices 2-3 later
            await rpc.call("evm_increaseTime", [1300])
            await rpc.call("evm_mine", [])
            return first, await desk.execute("sale", relayer)

    first, done = asyncio.run(scenario())
    nonces = [p.nonce for p in done.proposals]
    assert len(nonces) == 3 and nonces == list(range(nonces[0], nonces[0] + 3))
    assert list(first.executed) == ["sale-p0"] and first.stage == "executing"
    assert done.stage == "remeasured" and all(e["success"] for e in done.executed.values())
    _sold_above_minimum_into_the_band(policy, done)
    from oms_chain.treasury import write_report

    paths = write_report(done, store, policy, tmp_path / "report")
    rows = (tmp_path / "report" / "treasury_proposals-sale.csv").read_text().splitlines()
    assert len(rows) == 4 and all(float(r.split(",")[-1]) > -100 for r in rows[1:])
    assert paths[0].name == "treasury-sale.html"


def test_a_routed_sale_splits_each_slice_across_pools(
    l1: DevnetChain, treasury: DevTreasury, tmp_path: Path
) -> None:
    text = policy_toml(
        l1, treasury, makers=[], allowed=["twap_sale"], target_share=Decimal("0.10"),
        twap_slices=1, max_slippage_bps=300, route=True,
    )  # fmt: skip
    policy = TreasuryPolicy.from_toml(text)
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    relayer = LocalSigner(l1.accounts[9].private_key)

    async def scenario() -> RunState:
        async with RpcClient([l1.rpc_url]) as rpc:
            desk = TreasuryDesk(policy, store, rpc, address_book=l1.book)
            try:
                await desk.plan("routed")
                await desk.propose("routed")
                await sign_all(desk, "routed", treasury.owner_keys[:2])
                return await desk.execute("routed", relayer)
            finally:
                await desk.close()

    done = asyncio.run(scenario())
    print([(p.description, done.executed[p.proposal_id]["gas_used"]) for p in done.proposals])
    assert done.stage == "remeasured" and all(e["success"] for e in done.executed.values())
    first = done.proposals[0].description
    assert " via " in first and first.count(" %") >= 2  # more than one pool
    _sold_above_minimum_into_the_band(policy, done)
    store.close()
