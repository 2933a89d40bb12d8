"""Async JSON-RPC client for one chain, with several endpoints and failover.

A thin layer over aiohttp rather than web3's provider stack: the chain layer needs exact control
over what a timeout means. ``ws://`` / ``wss://`` URLs are served by a
:class:`~oms_chain.chain.ws.WsRpcClient` (which also offers subscriptions: :attr:`RpcClient.ws`).
Reads fail over to the next URL on connection errors, timeouts and
5xx answers. ``eth_sendRawTransaction`` is also safe to repeat on another node (the same signed
bytes have the same hash, so a second send cannot create a second transaction); a node that
answers "already known" counts as success.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aiohttp

from oms_chain.chain.types import Head, Receipt
from oms_chain.model.errors import FinalError, InvalidInput, RetryableError

if TYPE_CHECKING:
    from oms_chain.chain.ws import WsRpcClient

__all__ = ["RpcClient", "RpcError", "RpcUnavailable"]


class RpcUnavailable(RetryableError, ConnectionError):
    """No endpoint of the chain answered (connection refused, timeout, 5xx on every URL)."""


class RpcError(FinalError):
    """The node answered with a JSON-RPC error object (e.g. a revert, nonce too low)."""

    def __init__(self, method: str, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{method}: {message} (code {code})")
        self.method = method
        self.code = code
        self.rpc_message = message
        self.data = data


_ALREADY_KNOWN = ("already known", "known transaction", "already imported")


class RpcClient:
    """JSON-RPC to one chain over HTTP and/or websockets, trying ``urls`` in order.

    HTTP(S) URLs are tried one by one; the ``ws://`` / ``wss://`` URLs form one endpoint, placed
    where the first of them appears, served by :attr:`ws` (which fails over among them itself).
    Use ``async with RpcClient([...]) as rpc:`` or call :meth:`close`. ``timeout`` is per request
    and per URL, in seconds.
    """

    def __init__(self, urls: Sequence[str], *, timeout: float = 10.0) -> None:
        if not urls:
            raise InvalidInput("RpcClient needs at least one URL")
        for url in urls:
            if not isinstance(url, str) or not url.startswith(
                ("http://", "https://", "ws://", "wss://")
            ):
                raise InvalidInput(
                    f"RPC URL must start with http://, https://, ws:// or wss://, got {url!r}"
                )
        if timeout <= 0:
            raise InvalidInput(f"timeout must be > 0 seconds, got {timeout}")
        self.urls = tuple(urls)
        self.timeout = timeout
        #: Every JSON-RPC call asked of this client, by method (each call of a batch counts),
        #: for monitoring, benchmarks and tests.
        self.calls: Counter[str] = Counter()
        self._session: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)
        self._preferred = 0
        ws_urls = [u for u in self.urls if u.startswith(("ws://", "wss://"))]
        self._ws: WsRpcClient | None = None
        if ws_urls:
            from oms_chain.chain.ws import WsRpcClient

            self._ws = WsRpcClient(ws_urls, timeout=timeout)
        # Endpoints in failover order: an HTTP URL, or None for the websocket group.
        self._endpoints: tuple[str | None, ...] = tuple(
            None if u.startswith(("ws://", "wss://")) else u
            for u in self.urls
            if not u.startswith(("ws://", "wss://")) or u == ws_urls[0]
        )

    @property
    def ws(self) -> WsRpcClient | None:
        """The websocket client serving this chain's ``ws://`` URLs (subscriptions), if any."""
        return self._ws

    async def __aenter__(self) -> RpcClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session and the websocket client."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._ws is not None:
            await self._ws.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                json_serialize=json.dumps,
            )
        return self._session

    async def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        """Call ``method``; returns its ``result``.

        Raises :class:`RpcError` for an error object (final) and :class:`RpcUnavailable` when no
        URL answered (retryable).
        """
        self.calls[method] += 1
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        failures: list[str] = []
        order = [*range(self._preferred, len(self._endpoints)), *range(self._preferred)]
        for index in order:
            url = self._endpoints[index]
            if url is None:
                assert self._ws is not None
                try:
                    result = await self._ws.call(method, params)
                except RpcUnavailable as exc:
                    failures.append(str(exc))
                    continue
                self._preferred = index
                return result
            try:
                async with self._http().post(url, json=body) as response:
                    if response.status >= 500 or response.status == 429:
                        failures.append(f"{url}: HTTP {response.status}")
                        continue
                    reply = await response.json(content_type=None)
            except (TimeoutError, aiohttp.ClientError, ValueError, OSError) as exc:
                failures.append(f"{url}: {exc.__class__.__name__} {exc}".strip())
                continue
            self._preferred = index
            error = reply.get("error") if isinstance(reply, dict) else None
            if error:
                message = str(error.get("message", ""))
                if method == "eth_sendRawTransaction" and any(
                    k in message.lower() for k in _ALREADY_KNOWN
                ):
                    return None
                raise RpcError(method, int(error.get("code", 0)), message, error.get("data"))
            return reply.get("result") if isinstance(reply, dict) else None
        raise RpcUnavailable(f"{method}: no RPC endpoint answered ({'; '.join(failures)})")

    async def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Several calls in one HTTP request (JSON-RPC batch); results in order.

        An error object in any answer raises :class:`RpcError` for that call.
        """
        if not calls:
            return []
        self.calls.update(method for method, _ in calls)
        ids = [next(self._ids) for _ in calls]
        body = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)}
            for i, (m, p) in zip(ids, calls, strict=True)
        ]
        failures: list[str] = []
        for url in self._endpoints:
            if url is None:
                assert self._ws is not None
                try:
                    return await self._ws.batch(calls)
                except RpcUnavailable as exc:
                    failures.append(str(exc))
                    continue
            try:
                async with self._http().post(url, json=body) as response:
                    if response.status >= 500:
                        failures.append(f"{url}: HTTP {response.status}")
                        continue
                    replies = await response.json(content_type=None)
            except (TimeoutError, aiohttp.ClientError, ValueError, OSError) as exc:
                failures.append(f"{url}: {exc.__class__.__name__}")
                continue
            by_id = {r.get("id"): r for r in replies} if isinstance(replies, list) else {}
            out = []
            for i, (method, _params) in zip(ids, calls, strict=True):
                reply = by_id.get(i)
                if reply is None:
                    raise RpcError(method, -32603, "missing from batch answer")
                if reply.get("error"):
                    err = reply["error"]
                    raise RpcError(
                        method, int(err.get("code", 0)), str(err.get("message")), err.get("data")
                    )
                out.append(reply.get("result"))
            return out
        raise RpcUnavailable(
            f"batch of {len(calls)}: no RPC endpoint answered ({'; '.join(failures)})"
        )

    # -- typed helpers -------------------------------------------------------------------------

    async def chain_id(self) -> int:
        """``eth_chainId`` as an int."""
        return int(await self.call("eth_chainId"), 16)

    async def block_number(self) -> int:
        """Latest block number."""
        return int(await self.call("eth_blockNumber"), 16)

    async def gas_price(self) -> int:
        """``eth_gasPrice`` in wei."""
        return int(await self.call("eth_gasPrice"), 16)

    async def get_block(self, tag: int | str) -> dict[str, Any] | None:
        """Block header (no transaction bodies) by number or tag; ``None`` if unknown."""
        ref = hex(tag) if isinstance(tag, int) else tag
        result = await self.call("eth_getBlockByNumber", [ref, False])
        return result if isinstance(result, dict) else None

    async def head(self, tag: int | str = "latest") -> Head | None:
        """The block header ``tag`` (number or tag) as a :class:`Head`; ``None`` if unknown.

        Raises :class:`~oms_chain.model.errors.InvalidInput` for a malformed header."""
        raw = await self.get_block(tag)
        return None if raw is None else Head.from_rpc(raw)

    async def receipt(self, tx_hash: str) -> Receipt | None:
        """The receipt of ``tx_hash`` as a :class:`Receipt`; ``None`` while it is not mined
        (or unknown to this node).

        Raises :class:`~oms_chain.chain.types.MalformedReceipt` (retryable) for a receipt
        without a valid status, block or logs."""
        raw = await self.call("eth_getTransactionReceipt", [tx_hash])
        if not isinstance(raw, dict) or not raw.get("blockHash"):
            return None
        return Receipt.from_rpc(raw)

    async def nonce(self, address: str, tag: str = "pending") -> int:
        """Transaction count of ``address`` at ``tag``."""
        return int(await self.call("eth_getTransactionCount", [address, tag]), 16)
