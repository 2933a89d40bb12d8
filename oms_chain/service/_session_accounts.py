"""Which account a :class:`~oms_chain.service.session.TradingSession` trades from on a chain:
the signer's own EOA, a Safe (its owners sign; the signer relays and pays gas) or a FROST
group's ThresholdAccount (the group signs; the signer relays). :func:`account_executor` gives
the executor factory the chain's Uniswap venues send through; :func:`check_threshold` checks a
threshold group against the session's other arguments."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from oms_chain.model.checks import check_instance
from oms_chain.model.clock import Clock
from oms_chain.model.errors import InvalidInput
from oms_chain.service.endpoints import ChainEndpoint, SafeOwners, ThresholdGroup
from oms_chain.store import EventStore

__all__ = ["account_executor", "check_threshold"]


def account_executor(
    c: ChainEndpoint,
    *,
    safe: SafeOwners | None,
    threshold: ThresholdGroup | None,
    store: EventStore | None,
    clock: Clock,
    rpcs: list[Any],
) -> Callable[[Any], Any] | None:
    """How the venues of chain ``c`` execute: from the Safe, the threshold account, or
    (``None``) the signer's own EOA. An RPC client it opens is appended to ``rpcs`` (the
    session closes them)."""
    if safe is not None:
        assert store is not None
        return _safe_executor(c, safe, store, clock, rpcs)
    if threshold is not None:
        return _threshold_executor(c, threshold, rpcs)
    return None


def _threshold_executor(
    c: ChainEndpoint, group: ThresholdGroup, rpcs: list[Any]
) -> Callable[[Any], Any]:
    """The executor factory trading from the configured threshold account on chain ``c``."""
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.chain.threshold_executor import ThresholdExecutor

    rpc = RpcClient([c.rpc_url] if isinstance(c.rpc_url, str) else list(c.rpc_url))
    rpcs.append(rpc)
    return lambda sender: ThresholdExecutor(group.signer, group.group_key, sender, rpc=rpc)


def _safe_executor(
    c: ChainEndpoint, safe_owners: SafeOwners, store: EventStore, clock: Clock, rpcs: list[Any]
) -> Callable[[Any], Any]:
    """The executor factory trading from the configured Safe on chain ``c``."""
    from oms_chain.chain.addressbook import load_address_book
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.chain.safe_executor import SafeExecutor
    from oms_chain.custody.safe import SafeAccount, SafeAddresses

    book = c.book or load_address_book(c.chain_id)
    rpc = RpcClient([c.rpc_url] if isinstance(c.rpc_url, str) else list(c.rpc_url))
    rpcs.append(rpc)
    safe = SafeAccount(
        rpc,
        safe_owners.address,
        c.chain_id,
        SafeAddresses(
            singleton=book.address("SafeL2"),
            proxy_factory=book.address("SafeProxyFactory"),
            fallback_handler=book.address("CompatibilityFallbackHandler"),
            multisend_call_only=book.address("MultiSendCallOnly"),
        ),
    )
    owners, wait = safe_owners.owners, safe_owners.await_signatures_ns
    return lambda sender: SafeExecutor(
        safe, owners, sender, store, rpc=rpc, clock_ns=clock.now_ns, await_signatures_ns=wait
    )


def check_threshold(
    threshold: ThresholdGroup | None, safe: SafeOwners | None, chain_ids: Sequence[int]
) -> ThresholdGroup | None:
    """``threshold`` if the session can trade from it: not beside a Safe, and on exactly the
    account's chain."""
    if threshold is None:
        return None
    check_instance(threshold, "threshold", ThresholdGroup, "a ThresholdGroup")
    if safe is not None:
        raise InvalidInput("a session trades from one account: give safe or threshold, not both")
    if list(chain_ids) != [threshold.chain_id]:
        raise InvalidInput(
            f"the threshold account lives on chain {threshold.chain_id} only; the session's "
            f"chains are {list(chain_ids)}"
        )
    return threshold
