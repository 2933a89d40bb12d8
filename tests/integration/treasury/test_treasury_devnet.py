"""The treasury on the devnet: policy -> jump -> plan -> proposals -> owners sign with
`oms safe sign` -> execute -> delta back inside the band, spend within budget."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest
from treasury_helpers import jump

from oms_chain.chain.rpc import RpcClient
from oms_chain.cli import main
from oms_chain.custody import LocalSigner
from oms_chain.devnet.options_maker import OptionsMakerThread
from oms_chain.devnet.treasury import DevTreasury, policy_toml
from oms_chain.devnet.world import DevnetChain
from oms_chain.store import open_store
from oms_chain.treasury import TreasuryDesk, TreasuryPolicy


def _sign(
    batch: Path,
    nonce: int,
    key: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> str:
    monkeypatch.setenv("TREASURY_OWNER_KEY", key)
    capsys.readouterr()
    main(
        [
            "safe",
            "sign",
            str(batch),
            "--nonce",
            str(nonce),
            "--key-env",
            "TREASURY_OWNER_KEY",
            "--json",
        ]
    )
    return json.loads(capsys.readouterr().out)["token"]


def test_a_jump_is_hedged_into_the_band_through_two_owner_signatures(
    l1: DevnetChain,
    treasury: DevTreasury,
    maker: OptionsMakerThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    policy = TreasuryPolicy.from_toml(policy_toml(l1, treasury, makers=[maker.url]))
    store = open_store(f"sqlite:///{tmp_path / 'treasury.db'}")

    async def before_jump() -> str:
        async with RpcClient([l1.rpc_url]) as rpc:
            desk = TreasuryDesk(policy, store, rpc)
            try:
                st = await desk.plan("calm")
            finally:
                await desk.close()
            return st.stage

    assert asyncio.run(before_jump()) == "inside band"
    jump(l1, 3450)

    async def plan_and_propose() -> object:
        async with RpcClient([l1.rpc_url]) as rpc:
            desk = TreasuryDesk(policy, store, rpc)
            try:
                await desk.plan("jump")
                return await desk.propose("jump", tmp_path)
            finally:
                await desk.close()

    st = asyncio.run(plan_and_propose())
    print(st.plan["explanation"])  # type: ignore[attr-defined]
    for p in st.proposals:  # type: ignore[attr-defined]
        for key in treasury.owner_keys[:2]:
            token = _sign(tmp_path / f"{p.proposal_id}.json", p.nonce, key, monkeypatch, capsys)

            async def add(token: str = token, pid: str = p.proposal_id) -> None:
                async with RpcClient([l1.rpc_url]) as rpc:
                    await TreasuryDesk(policy, store, rpc).add_signature("jump", pid, token)

            asyncio.run(add())

    async def execute() -> object:
        async with RpcClient([l1.rpc_url]) as rpc:
            desk = TreasuryDesk(policy, store, rpc)
            try:
                return await desk.execute("jump", LocalSigner(l1.accounts[9].private_key))
            finally:
                await desk.close()

    done = asyncio.run(execute())
    assert done.stage == "remeasured"  # type: ignore[attr-defined]
    share = Decimal(done.after["delta_share"])  # type: ignore[attr-defined]
    print(done.plan["explanation"], done.after)  # type: ignore[attr-defined]
    assert policy.exposure.low() <= share <= policy.exposure.high()
