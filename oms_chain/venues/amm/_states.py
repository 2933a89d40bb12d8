"""Where a Uniswap venue reads its pools' state for a quote or a swap.

Reloading a V3 pool costs one ``eth_call`` per tick-bitmap word and per initialized tick (about
700 to 6,900 with the full bitmap), far too many for every quote on the execution path. A
:class:`PoolStates` therefore keeps a :class:`~oms_chain.venues.amm.follower.PoolFollower` over
the venue's pools, started on first use, and answers from its states once the follower has
applied the node's latest block (checked by number *and* hash, one ``eth_getBlockByNumber``).
When the follower cannot be started, lags or stopped, the pools are loaded afresh at one block
(the previous behaviour), so a quote is never answered from a stale state; the follower is then
left aside for 30 s before a new one is started.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from oms_chain.chain.rpc import RpcClient
from oms_chain.venues.amm.follower import PoolFollower, PoolFollowerConfig, PoolState
from oms_chain.venues.amm.v2_pool import fetch_v2_pool
from oms_chain.venues.amm.v3_pool import fetch_v3_pool

__all__ = ["PoolStates"]

_log = logging.getLogger(__name__)

#: Seconds reads load the pools directly after the follower failed, before trying it again.
_RETRY_AFTER_S = 30.0


class PoolStates:
    """Fresh states of one venue's pools (all V2 or all V3, by ``protocol``).

    ``follow``: keep a follower (else every read loads the pools); ``follow_timeout``: seconds a
    read waits for the follower to reach the latest block before loading instead;
    ``word_radius``: V3 bitmap words around the price (``None``: all); ``poll_interval``:
    the follower's polling period without a websocket.
    """

    def __init__(
        self,
        rpc: RpcClient,
        protocol: str,
        pools: Sequence[str],
        *,
        follow: bool,
        follow_timeout: float,
        word_radius: int | None,
        poll_interval: float,
    ) -> None:
        self._rpc = rpc
        self._v3 = protocol == "uniswap-v3"
        self._pools = tuple(dict.fromkeys(p.lower() for p in pools))
        self._follow = follow
        self._timeout = follow_timeout
        self._radius = word_radius
        self._poll = poll_interval
        self._follower: PoolFollower | None = None
        self._starting = asyncio.Lock()
        self._skip_until = 0.0

    @property
    def follower(self) -> PoolFollower | None:
        """The running follower, if one was started."""
        return self._follower

    async def read(self, pools: Sequence[str]) -> list[PoolState]:
        """States of ``pools`` at the node's latest block.

        Raises what loading raises (:class:`~oms_chain.venues.amm.v3_pool.PoolLoadError`,
        :class:`~oms_chain.chain.rpc.RpcUnavailable`, ...) when the follower cannot answer.
        """
        follower = await self._running()
        if follower is not None:
            try:
                head = await follower.catch_up(timeout=self._timeout)
                states = [follower.state(p) for p in pools]
                if all(s.block_number == head.number for s in states):
                    return states
            except Exception as exc:  # lagging, stopped, node error: load instead
                _log.warning(
                    "pool follower could not answer (%r); loading the pools, and doing so for "
                    "the next %.0f s",
                    exc,
                    _RETRY_AFTER_S,
                )
                self._pause()
                await self._drop()
        return await self._load(pools)

    def _pause(self) -> None:
        """Do not wait on a follower again for a while: a node that makes it fail or lag
        would otherwise cost every read a full ``follow_timeout``."""
        self._skip_until = asyncio.get_running_loop().time() + _RETRY_AFTER_S

    async def _running(self) -> PoolFollower | None:
        if not self._follow or not self._pools:
            return None
        if asyncio.get_running_loop().time() < self._skip_until:
            return None
        if self._follower is not None:
            return self._follower
        async with self._starting:
            if self._follower is None:
                config = PoolFollowerConfig(v3_word_radius=self._radius, poll_interval=self._poll)
                kinds = {"v3_pools" if self._v3 else "v2_pools": self._pools}
                follower = PoolFollower(self._rpc, config=config, **kinds)
                try:
                    await follower.start()
                except Exception as exc:
                    _log.warning("pool follower did not start (%r); loading the pools", exc)
                    self._pause()
                    return None
                self._follower = follower
        return self._follower

    async def _load(self, pools: Sequence[str]) -> list[PoolState]:
        block = await self._rpc.block_number()
        if self._v3:
            return [
                await fetch_v3_pool(self._rpc, p, word_radius=self._radius, block_identifier=block)
                for p in pools
            ]
        return [await fetch_v2_pool(self._rpc, p, block_identifier=block) for p in pools]

    async def _drop(self) -> None:
        follower, self._follower = self._follower, None
        if follower is not None:
            await follower.close()

    async def close(self) -> None:
        """Stop the follower (idempotent)."""
        await self._drop()
