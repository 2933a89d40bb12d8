"""A TradingSession whose account is a Safe: the config names the Safe, the relayer's key and
the owners' keys; an order of the session trades from the Safe."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from safe_rig import OWNERS, RELAYER, create_safe

from oms_chain.custody.safe.proposals import read_proposals
from oms_chain.devnet.world import DevnetChain
from oms_chain.engine.config import parse_config
from oms_chain.model import OrderStatus
from oms_chain.model.errors import ConfigError
from oms_chain.service import ChainEndpoint, SafeOwners, TradingSession
from oms_chain.service._session_sources import _signer_from_config, safe_owners_from_config

CONFIG = """
[[accounts]]
name = "dao"
signer = "safe"
safe_address = "{safe}"
private_key_env = "RELAYER_KEY"
owner_key_envs = ["OWNER_A", "OWNER_B"]
"""


def test_a_safe_account_in_the_config_names_the_safe_relayer_and_owners(
    l1: DevnetChain,
) -> None:
    safe = "0x" + "ab" * 20
    cfg = parse_config(CONFIG.format(safe=safe))
    (acct,) = cfg.accounts
    env = {
        "RELAYER_KEY": l1.accounts[RELAYER].private_key,
        "OWNER_A": l1.accounts[OWNERS[0]].private_key,
        "OWNER_B": l1.accounts[OWNERS[1]].private_key,
    }
    owners = safe_owners_from_config(acct, env)
    assert owners is not None and owners.address == safe
    assert [o.address for o in owners.owners] == [l1.accounts[i].address for i in OWNERS[:2]]
    assert _signer_from_config(acct, env).address == l1.accounts[RELAYER].address
    with pytest.raises(ConfigError, match=r"owner_key_envs\[1\]: 'OWNER_B' is not set"):
        safe_owners_from_config(acct, {**env, "OWNER_B": ""})
    with pytest.raises(ConfigError, match=r"accounts\.dao\.owner_key_envs: required"):
        parse_config(
            CONFIG.format(safe=safe).replace('owner_key_envs = ["OWNER_A", "OWNER_B"]', "")
        )
    with pytest.raises(ConfigError, match=r"accounts\.dao\.safe_address: required"):
        parse_config(CONFIG.format(safe="0x12"))


async def test_a_session_on_a_safe_account_fills_an_order_from_the_safe(
    l1: DevnetChain, tmp_path: Path
) -> None:
    from oms_chain.custody.local import LocalSigner

    safe = await create_safe(l1, salt=1601, eth=10**18)
    before = l1.w3.eth.get_balance(safe)
    session = TradingSession(
        store_url=f"sqlite:///{tmp_path / 'oms.db'}",
        chains=[ChainEndpoint(chain_id=l1.chain_id, rpc_url=l1.rpc_url, book=l1.book)],
        signer=LocalSigner(l1.accounts[RELAYER].private_key),
        safe=SafeOwners(
            address=safe,
            owners=tuple(LocalSigner(l1.accounts[i].private_key) for i in OWNERS[1:]),
        ),
        account="dao",
        poll_interval=0.05,
    )
    async with session as s:
        vid = f"uniswap-v3-3000-{l1.chain_id}"
        parent = await s.submit(
            s.intent("ETH/USDC", "sell", "0.05", venues=[vid], max_slippage_bps=100)
        )
        parent = await s.wait(parent.order_id, timeout=120)  # hang guard: a busy machine is slow
        assert parent.status is OrderStatus.FILLED
        assert s.chain_venues(l1.chain_id).account.address == safe
        (proposal,) = read_proposals(s.store, safe=safe)
        assert proposal.execution is not None
    assert before - l1.w3.eth.get_balance(safe) == 5 * 10**16
    assert Decimal(0) < Decimal(l1.w3.eth.get_balance(safe))


async def test_an_order_from_a_safe_whose_owners_sign_elsewhere_waits_for_approve(
    l1: DevnetChain, tmp_path: Path
) -> None:
    import asyncio

    from oms_chain.cli import main
    from oms_chain.custody.local import LocalSigner
    from oms_chain.custody.safe import sign_safe_transaction

    safe = await create_safe(l1, salt=1602, eth=10**18)
    before = l1.w3.eth.get_balance(safe)
    url = f"sqlite:///{tmp_path / 'oms.db'}"
    session = TradingSession(
        store_url=url,
        chains=[ChainEndpoint(chain_id=l1.chain_id, rpc_url=l1.rpc_url, book=l1.book)],
        signer=LocalSigner(l1.accounts[RELAYER].private_key),
        safe=SafeOwners(address=safe, owners=(), await_signatures_ns=3600 * 10**9),
        account="dao",
        poll_interval=0.05,
    )
    async with session as s:
        vid = f"uniswap-v3-3000-{l1.chain_id}"
        # submit returns once the child's send ends: here when the owners have signed
        submitted = asyncio.create_task(
            s.submit(s.intent("ETH/USDC", "sell", "0.05", venues=[vid], max_slippage_bps=100))
        )
        for _ in range(2400):  # hang guard: until the order's Safe tx awaits signatures
            waiting = [p for p in read_proposals(s.store, safe=safe) if p.awaiting]
            if waiting:
                break
            await asyncio.sleep(0.05)
        (p,) = waiting
        assert p.state == "awaiting signatures" and p.execution is None
        assert l1.w3.eth.get_balance(safe) == before  # nothing ran yet
        argv = ["safe", "approve", p.safe_tx_hash, "--store", url, "--rpc-url", l1.rpc_url]
        for i in OWNERS[:2]:
            owner = LocalSigner(l1.accounts[i].private_key)
            sig = await sign_safe_transaction(owner, p.transaction())
            argv += ["--signature", f"{sig.owner}:0x{sig.data.hex()}"]
        assert await asyncio.to_thread(main, argv) == 0  # the owners, from elsewhere
        parent = await asyncio.wait_for(submitted, 120)  # hang guard: a busy machine
        parent = await s.wait(parent.order_id, timeout=120)  # hang guard: a busy machine
        assert parent.status is OrderStatus.FILLED
        (done,) = read_proposals(s.store, safe=safe)
        assert done.safe_tx_hash == p.safe_tx_hash and done.state == "executed"
    assert before - l1.w3.eth.get_balance(safe) == 5 * 10**16
