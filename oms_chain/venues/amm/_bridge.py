"""A synchronous web3 whose requests go through an async :class:`RpcClient` on a running event
loop, for the synchronous pool loaders (``load_v2_pool`` / ``load_v3_pool``) run in a worker
thread: their calls then share the client's failover, batching and call counting."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from oms_chain.chain.rpc import RpcClient, RpcError

if TYPE_CHECKING:
    from web3 import Web3

__all__ = ["bridged_web3"]


def bridged_web3(rpc: RpcClient, loop: asyncio.AbstractEventLoop) -> Web3:
    """A web3 over ``rpc`` on ``loop``; call it from another thread than ``loop``'s."""
    from web3 import Web3
    from web3.providers.base import BaseProvider

    timeout = rpc.timeout * 3

    async def one(method: str, params: Any) -> dict[str, Any]:
        try:
            result = await rpc.call(method, list(params or ()))
        except RpcError as exc:
            error = {"code": exc.code, "message": exc.rpc_message, "data": exc.data}
            return {"jsonrpc": "2.0", "id": 0, "error": error}
        return {"jsonrpc": "2.0", "id": 0, "result": result}

    async def many(requests: list[tuple[str, Any]]) -> list[dict[str, Any]]:
        try:
            results = await rpc.batch([(m, list(p or ())) for m, p in requests])
        except RpcError:  # answer each call on its own, errors included
            return [await one(m, p) for m, p in requests]
        return [{"jsonrpc": "2.0", "id": i, "result": r} for i, r in enumerate(results)]

    class _Bridge(BaseProvider):
        def make_request(self, method: Any, params: Any) -> Any:
            return asyncio.run_coroutine_threadsafe(one(method, params), loop).result(timeout)

        def make_batch_request(self, requests: Any) -> Any:
            future = asyncio.run_coroutine_threadsafe(many(list(requests)), loop)
            return future.result(timeout)

        def is_connected(self, show_traceback: bool = False) -> bool:
            return True

    return Web3(_Bridge())
