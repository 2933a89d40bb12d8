"""A spot sale on the devnet: TWAP slices as separate Safe proposals at consecutive nonces,
each run from its time on; the treasury lands in the band, each slice above its minimum out."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from oms_chain.chain.rpc import RpcClient
from oms_chain.custody import LocalSigner
from oms_chain.custody.safe import sign_safe_transaction
from oms_chain.devnet.treasury import DevTreasury, policy_toml
from oms_chain.devnet.world import DevnetChain
from oms_chain.store import open_store
from oms_chain.treasury import RunState, TreasuryDesk, TreasuryPolicy


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
            st = await desk.plan("sale")
            await desk.propose("sale")
            for p in st.proposals:
                tx = p.safe_tx(policy, desk.multisend)
                for key in treasury.owner_keys[:2]:
                    sig = await sign_safe_transaction(LocalSigner(key), tx)
                    await desk.add_signature(
                        "sale", p.proposal_id, f"{sig.owner}:0x{sig.data.hex()}"
                    )
            first = await desk.execute("sale", relayer)  # slice 1 now, slices 2-3 later
            await rpc.call("evm_increaseTime", [1300])
            await rpc.call("evm_mine", [])
            return first, await desk.execute("sale", relayer)

    first, done = asyncio.run(scenario())
    nonces = [p.nonce for p in done.proposals]
    assert len(nonces) == 3 and nonces == list(range(nonces[0], nonces[0] + 3))
    assert list(first.executed) == ["sale-p0"] and first.stage == "executing"
    assert done.stage == "remeasured" and all(e["success"] for e in done.executed.values())
    usdc = policy.asset("USDC").address
    for p in done.proposals:
        received = int(done.executed[p.proposal_id]["received"][usdc])
        minimum = Decimal(p.description.split("at least ")[1].split()[0]) * 10**6
        assert received >= minimum
    assert policy.exposure.low() <= Decimal(done.after["delta_share"]) <= policy.exposure.high()  # type: ignore[index]
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
                st = await desk.plan("routed")
                await desk.propose("routed")
                for p in st.proposals:
                    tx = p.safe_tx(policy, desk.multisend)
                    for key in treasury.owner_keys[:2]:
                        sig = await sign_safe_transaction(LocalSigner(key), tx)
                        token = f"{sig.owner}:0x{sig.data.hex()}"
                        await desk.add_signature("routed", p.proposal_id, token)
                return await desk.execute("routed", relayer)
            finally:
                await desk.close()

    done = asyncio.run(scenario())
    print([p.description for p in done.proposals])
    assert done.stage == "remeasured" and all(e["success"] for e in done.executed.values())
    first = done.proposals[0].description
    assert " via " in first and first.count(" %") >= 2  # more than one pool
    usdc = policy.asset("USDC").address
    for p in done.proposals:
        received = int(done.executed[p.proposal_id]["received"][usdc])
        minimum = Decimal(p.description.split("at least ")[1].split()[0]) * 10**6
        assert received >= minimum
    assert policy.exposure.low() <= Decimal(done.after["delta_share"]) <= policy.exposure.high()  # type: ignore[index]
    store.close()
