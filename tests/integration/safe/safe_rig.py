"""Shared by the Safe trading tests: a 2-of-3 Safe created by the toolkit on the devnet, and the
Uniswap venues trading from it with a relayer account paying gas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oms_chain.chain.registry import chain_info
from oms_chain.chain.rpc import RpcClient
from oms_chain.chain.safe_executor import SafeExecutor
from oms_chain.chain.sender import TxSender
from oms_chain.custody.local import LocalSigner
from oms_chain.custody.safe import SafeAccount, SafeAddresses, SafeFactory
from oms_chain.devnet.world import DevnetChain
from oms_chain.store.base import EventStore
from oms_chain.venues.amm import UniswapVenues, uniswap_venues
from oms_chain.venues.amm._calls import wait_for_receipt

RELAYER = 9
OWNERS = (5, 6, 7)


def safe_addresses(chain: DevnetChain) -> SafeAddresses:
    b = chain.book
    return SafeAddresses(
        singleton=b.address("SafeL2"),
        proxy_factory=b.address("SafeProxyFactory"),
        fallback_handler=b.address("CompatibilityFallbackHandler"),
        multisend_call_only=b.address("MultiSendCallOnly"),
    )


def owner_signers(chain: DevnetChain) -> list[LocalSigner]:
    return [LocalSigner(chain.accounts[i].private_key) for i in OWNERS]


def relayer_signer(chain: DevnetChain) -> LocalSigner:
    return LocalSigner(chain.accounts[RELAYER].private_key)


async def create_safe(chain: DevnetChain, salt: int, eth: int = 0) -> str:
    """A 2-of-3 Safe of :data:`OWNERS` through the proxy factory, funded with ``eth`` wei."""
    async with RpcClient([chain.rpc_url]) as rpc:
        sender = TxSender(rpc, chain_info(chain.chain_id), relayer_signer(chain))
        factory = SafeFactory(rpc, safe_addresses(chain), chain.chain_id)
        safe, sent = await factory.create(
            sender, [s.address for s in owner_signers(chain)], 2, salt
        )
        # a hang guard only (a busy machine is slow): wait_for_receipt raises if it reverted
        await wait_for_receipt(rpc, sent.tx_hash, "Safe creation", timeout=120)
    if eth:
        w3 = chain.w3
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction(
                {"from": chain.accounts[0].address, "to": safe.address, "value": eth}
            )
        )
    return str(safe.address)


def safe_venues(
    chain: DevnetChain,
    safe: str,
    store: EventStore,
    *,
    owners: list[LocalSigner] | None = None,
    executor_class: Callable[..., SafeExecutor] = SafeExecutor,
    **kw: Any,
) -> tuple[UniswapVenues, RpcClient]:
    """The chain's Uniswap venues trading from ``safe`` (two owners sign, the relayer sends)."""
    rpc = RpcClient([chain.rpc_url])
    account = SafeAccount(rpc, safe, chain.chain_id, safe_addresses(chain))
    signers = owners if owners is not None else owner_signers(chain)[:2]
    venues = uniswap_venues(
        chain.chain_id,
        chain.rpc_url,
        relayer_signer(chain),
        store,
        book=chain.book,
        executor=lambda sender: executor_class(account, signers, sender, store, rpc=rpc),
        **kw,
    )
    return venues, rpc


def on_executor(chain: DevnetChain, safe: str, url: str, fn: Any, **kwargs: Any) -> Any:
    """``fn(executor)`` (sync or async) on a fresh remote-owners executor of ``safe`` over the
    store at ``url``: each call is a restarted session. ``kwargs`` go to the executor."""
    import asyncio
    import inspect

    from oms_chain.store import open_store

    async def go() -> Any:
        store = open_store(url)
        rpc = RpcClient([chain.rpc_url])
        try:
            sender = TxSender(rpc, chain_info(chain.chain_id), relayer_signer(chain))
            account = SafeAccount(rpc, safe, chain.chain_id, safe_addresses(chain))
            out = fn(SafeExecutor(account, [], sender, store, rpc=rpc, **kwargs))
            return await out if inspect.isawaitable(out) else out
        finally:
            await rpc.close()
            store.close()

    return asyncio.run(go())


def cli_sign(chain: DevnetChain, batch: Any, nonce: int, account: int, monkeypatch: Any,
             capsys: Any) -> str:  # fmt: skip
    """Account ``account``'s ``oms safe sign`` token for the batch file at ``nonce``."""
    from oms_chain.cli import main

    monkeypatch.setenv("OMS_TEST_OWNER", chain.accounts[account].private_key)
    argv = ["safe", "sign", str(batch), "--nonce", str(nonce), "--key-env", "OMS_TEST_OWNER"]
    assert main(argv) == 0
    return str(capsys.readouterr().out.strip())
