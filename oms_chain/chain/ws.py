"""Async JSON-RPC over websockets: calls, batches and subscriptions that survive reconnects.

:class:`WsRpcClient` keeps one websocket open to the first of its URLs that answers, matches
answers to requests by id, and delivers ``eth_subscribe`` notifications as async iterators of
our own values (:class:`Head`, :class:`LogEntry`). When the connection drops it reconnects with
exponential backoff (failing over to the next URL), subscribes again, and fills the gap: heads
from ``eth_getBlockByNumber`` and logs from ``eth_getLogs`` over the blocks it missed, so a
subscriber sees every block and every log exactly once across a disconnect (a log is keyed by
block hash and log index; a reorg that happened while disconnected shows up as heads or logs of
the new branch, not as ``removed`` logs, so consumers check block hashes).

Written on aiohttp rather than web3's websocket provider: web3 has no reconnect-with-gap-fill, and
the chain layer wants the same error split as :class:`~oms_chain.chain.rpc.RpcClient`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import aiohttp

from oms_chain.chain.rpc import _ALREADY_KNOWN, RpcError, RpcUnavailable
from oms_chain.chain.types import Head, LogEntry
from oms_chain.model.errors import InvalidInput

__all__ = ["Head", "LogEntry", "LogFilter", "Subscription", "WsRpcClient"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class LogFilter:
    """Which logs to deliver: emitting ``addresses`` (any if empty) and topic positions.

    ``topics[i]`` is ``None`` (any), one topic, or a tuple of alternatives, as in ``eth_getLogs``.
    """

    addresses: tuple[str, ...] = ()
    topics: tuple[str | tuple[str, ...] | None, ...] = ()

    def to_rpc(self, **extra: Any) -> dict[str, Any]:
        """The filter object for ``eth_subscribe("logs", ...)`` / ``eth_getLogs``."""
        out: dict[str, Any] = dict(extra)
        if self.addresses:
            out["address"] = list(self.addresses)
        if self.topics:
            out["topics"] = [list(t) if isinstance(t, tuple) else t for t in self.topics]
        return out


T = TypeVar("T")

_END = object()  # sentinel: the subscription ended normally


class Subscription(Generic[T]):
    """An ``eth_subscribe`` stream as an async iterator of typed values.

    Iteration ends after :meth:`unsubscribe` or when the client closes; it raises
    :class:`RpcUnavailable` if the client gave up reconnecting. Survives reconnects (see the
    module docstring).
    """

    def __init__(
        self,
        client: WsRpcClient,
        kind: str,
        parse: Callable[[Any], T],
        log_filter: LogFilter | None = None,
    ) -> None:
        self._client = client
        self.kind = kind
        self._filter = log_filter
        self._params: list[Any] = (
            ["newHeads"] if log_filter is None else ["logs", log_filter.to_rpc()]
        )
        self._parse = parse
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._node_id: str | None = None
        self._active = True
        self._started = False
        # Notifications held back while a gap fill after a reconnect is running.
        self._held: list[T] | None = None
        # Heads: the last one delivered and the hashes of recent ones. Logs: the first block whose
        # logs may be incomplete, and the keys of recently delivered logs (to drop repeats).
        self._last_head: Head | None = None
        self._recent_heads: dict[int, str] = {}
        self._next_block: int | None = None
        self._seen: dict[tuple[str, int, bool], int] = {}

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            self._queue.put_nowait(item)
            raise item
        return item  # type: ignore[no-any-return]

    async def unsubscribe(self) -> None:
        """Stop the stream (``eth_unsubscribe`` on the node, best effort)."""
        if not self._active:
            return
        self._active = False
        self._queue.put_nowait(_END)
        await self._client._forget(self)

    # -- delivery (called by the client) ---------------------------------------------------------

    def _notify(self, raw: Any) -> None:
        try:
            item = self._parse(raw)
        except InvalidInput as exc:
            _log.warning("dropping malformed %s notification: %s", self.kind, exc)
            return
        if self._held is not None:
            self._held.append(item)
        else:
            self._deliver(item)

    def _deliver(self, item: T) -> None:
        if not self._active:
            return
        if isinstance(item, Head):
            if self._recent_heads.get(item.number) == item.hash:
                return  # already delivered (a gap fill and a live notification overlap)
            self._recent_heads[item.number] = item.hash
            if len(self._recent_heads) > 512:
                floor = item.number - 256
                self._recent_heads = {n: h for n, h in self._recent_heads.items() if n >= floor}
            self._last_head = item
        elif isinstance(item, LogEntry):
            key = (item.block_hash, item.log_index, item.removed)
            if key in self._seen:
                return
            self._seen[key] = item.block_number
            if self._next_block is None or item.block_number > self._next_block:
                self._next_block = item.block_number
                if len(self._seen) > 4096:
                    floor = item.block_number - 64
                    self._seen = {k: b for k, b in self._seen.items() if b >= floor}
        self._queue.put_nowait(item)

    def _end(self, error: BaseException | None = None) -> None:
        self._active = False
        self._queue.put_nowait(error if error is not None else _END)


class _ConnectionLost(Exception):
    """Internal: the socket closed while a request was waiting."""


class _Connection:
    """One open websocket: a reader task dispatching answers and notifications."""

    def __init__(
        self, client: WsRpcClient, url: str, session: aiohttp.ClientSession, ws: Any
    ) -> None:
        self.client = client
        self.url = url
        self.session = session
        self.ws = ws
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.subs: dict[str, Subscription[Any]] = {}
        self.early: dict[str, list[Any]] = {}
        self.closed = False
        self.reader = asyncio.create_task(self._read(), name=f"ws-reader {url}")

    async def request(self, body: Any, ids: Sequence[int], timeout: float) -> list[Any]:
        """Send one message (a request or a batch); the answers to ``ids``, in that order."""
        if self.closed:
            raise _ConnectionLost(self.url)
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in ids]
        for i, fut in zip(ids, futures, strict=True):
            self.pending[i] = fut
        try:
            await self.ws.send_str(json.dumps(body))
            async with asyncio.timeout(timeout):
                return list(await asyncio.gather(*futures))
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            raise _ConnectionLost(f"{self.url}: {exc}") from exc
        finally:
            for i in ids:
                self.pending.pop(i, None)

    def register(self, node_id: str, sub: Subscription[Any]) -> None:
        self.subs[node_id] = sub
        for raw in self.early.pop(node_id, []):
            sub._notify(raw)

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    if message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                        break
                    continue
                try:
                    payload = json.loads(message.data)
                except ValueError:
                    _log.warning("%s sent a non-JSON message", self.url)
                    continue
                for item in payload if isinstance(payload, list) else [payload]:
                    if isinstance(item, dict):
                        self._dispatch(item)
        except (aiohttp.ClientError, ConnectionError) as exc:
            _log.info("websocket %s failed: %s", self.url, exc)
        finally:
            self.closed = True
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(_ConnectionLost(self.url))
            self.client._connection_lost(self)

    def _dispatch(self, item: dict[str, Any]) -> None:
        if item.get("method") == "eth_subscription":
            params = item.get("params") or {}
            node_id = str(params.get("subscription"))
            sub = self.subs.get(node_id)
            if sub is not None:
                sub._notify(params.get("result"))
            elif len(self.early) < 64:  # an answer to eth_subscribe still on its way
                self.early.setdefault(node_id, []).append(params.get("result"))
            return
        fut = self.pending.get(item.get("id"))  # type: ignore[arg-type]
        if fut is not None and not fut.done():
            fut.set_result(item)

    async def close(self) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            await self.ws.close()
        self.reader.cancel()
        with contextlib.suppress(BaseException):
            await self.reader
        await self.session.close()


def _result(method: str, reply: Any) -> Any:
    if not isinstance(reply, dict):
        raise RpcError(method, -32603, f"malformed answer {reply!r}")
    error = reply.get("error")
    if error:
        message = str(error.get("message", "")) if isinstance(error, dict) else str(error)
        if method == "eth_sendRawTransaction" and any(k in message.lower() for k in _ALREADY_KNOWN):
            return None
        code = int(error.get("code", 0)) if isinstance(error, dict) else 0
        raise RpcError(
            method, code, message, error.get("data") if isinstance(error, dict) else None
        )
    return reply.get("result")


class WsRpcClient:
    """JSON-RPC over a websocket to one chain, failing over among ``urls`` (``ws://``/``wss://``).

    ``timeout`` (seconds) bounds connecting and each request. While subscriptions exist, a lost
    connection is re-established in the background with backoff from ``reconnect_delay`` doubling
    up to ``max_reconnect_delay``; after ``max_reconnect_attempts`` failed rounds over all URLs
    (``None``: never give up) the subscriptions end with :class:`RpcUnavailable`. Gap fills cover
    at most ``gap_fill_max_blocks`` blocks (older ones are skipped with a warning).

    Use ``async with WsRpcClient([...]) as ws:`` or call :meth:`close`.
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        timeout: float = 10.0,
        heartbeat: float | None = 15.0,
        reconnect_delay: float = 0.1,
        max_reconnect_delay: float = 5.0,
        max_reconnect_attempts: int | None = None,
        gap_fill_max_blocks: int = 2000,
    ) -> None:
        if not urls:
            raise InvalidInput("WsRpcClient needs at least one URL")
        for url in urls:
            if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
                raise InvalidInput(
                    f"websocket RPC URL must start with ws:// or wss://, got {url!r}"
                )
        if timeout <= 0:
            raise InvalidInput(f"timeout must be > 0 seconds, got {timeout}")
        if reconnect_delay <= 0 or max_reconnect_delay < reconnect_delay:
            raise InvalidInput(
                f"need 0 < reconnect_delay <= max_reconnect_delay, got {reconnect_delay} and "
                f"{max_reconnect_delay}"
            )
        if max_reconnect_attempts is not None and max_reconnect_attempts < 1:
            raise InvalidInput(
                f"max_reconnect_attempts must be >= 1 or None, got {max_reconnect_attempts}"
            )
        if gap_fill_max_blocks < 1:
            raise InvalidInput(f"gap_fill_max_blocks must be >= 1, got {gap_fill_max_blocks}")
        self.urls = tuple(urls)
        self.timeout = timeout
        self.heartbeat = heartbeat
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.max_reconnect_attempts = max_reconnect_attempts
        self.gap_fill_max_blocks = gap_fill_max_blocks
        self._ids = itertools.count(1)
        self._preferred = 0
        self._conn: _Connection | None = None
        self._connecting: asyncio.Lock | None = None
        self._subs: list[Subscription[Any]] = []
        self._reconnector: asyncio.Task[None] | None = None
        self._closed = False
        #: How many times a connection was (re)established; useful to observe reconnects.
        self.connections = 0

    async def __aenter__(self) -> WsRpcClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def url(self) -> str | None:
        """The URL of the open connection, if any."""
        return self._conn.url if self._conn is not None and not self._conn.closed else None

    async def close(self) -> None:
        """End every subscription and close the connection (a later call reconnects)."""
        self._closed = True
        if self._reconnector is not None:
            self._reconnector.cancel()
            with contextlib.suppress(BaseException):
                await self._reconnector
        for sub in self._subs:
            sub._end()
        self._subs.clear()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    async def drop_connection(self) -> None:
        """Close the current socket as if the network failed (for tests and operators).

        Subscriptions reconnect, resubscribe and fill the gap as after a real failure.
        """
        if self._conn is not None:
            await self._conn.ws.close()

    # -- calls -----------------------------------------------------------------------------------

    async def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        """Call ``method``; returns its ``result``.

        Raises :class:`RpcError` for an error object (final) and :class:`RpcUnavailable` when no
        URL answered in time (retryable).
        """
        i = next(self._ids)
        body = {"jsonrpc": "2.0", "id": i, "method": method, "params": list(params)}
        (reply,) = await self._send(body, [i], method)
        return _result(method, reply)

    async def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Several calls in one message (JSON-RPC batch); results in order.

        An error object in any answer raises :class:`RpcError` for that call.
        """
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]
        body = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)}
            for i, (m, p) in zip(ids, calls, strict=True)
        ]
        replies = await self._send(body, ids, f"batch of {len(calls)}")
        return [_result(m, r) for (m, _), r in zip(calls, replies, strict=True)]

    async def _send(self, body: Any, ids: Sequence[int], what: str) -> list[Any]:
        failures: list[str] = []
        for _ in range(len(self.urls)):
            conn = await self._connection()
            try:
                return await conn.request(body, ids, self.timeout)
            except TimeoutError:
                failures.append(f"{conn.url}: no answer in {self.timeout}s")
                break
            except _ConnectionLost as exc:
                failures.append(f"connection lost ({exc})")
        raise RpcUnavailable(f"{what}: no websocket endpoint answered ({'; '.join(failures)})")

    # -- subscriptions ---------------------------------------------------------------------------

    async def subscribe_heads(self) -> Subscription[Head]:
        """New block headers (``eth_subscribe("newHeads")``), including the heads of a new branch
        after a reorg (their parent hash tells)."""
        sub: Subscription[Head] = Subscription(self, "newHeads", Head.from_rpc)
        return await self._start(sub)

    async def subscribe_logs(self, log_filter: LogFilter | None = None) -> Subscription[LogEntry]:
        """Logs matching ``log_filter`` from blocks mined after this call
        (``eth_subscribe("logs", filter)``), with ``removed`` logs when the node sends them."""
        sub: Subscription[LogEntry] = Subscription(
            self, "logs", LogEntry.from_rpc, log_filter or LogFilter()
        )
        return await self._start(sub)

    async def _start(self, sub: Subscription[T]) -> Subscription[T]:
        self._subs.append(sub)
        try:
            conn = await self._connection()
            await self._subscribe(conn, sub)
        except BaseException:
            self._subs.remove(sub)
            raise
        return sub

    async def _subscribe(self, conn: _Connection, sub: Subscription[Any]) -> None:
        """(Re)subscribe ``sub`` on ``conn``; after a reconnect, fill the gap first."""
        refill = sub._started
        sub._held = [] if refill else None
        try:
            node_id = await self._request_on(conn, "eth_subscribe", sub._params)
            if not isinstance(node_id, str):
                raise RpcError("eth_subscribe", -32603, f"bad subscription id {node_id!r}")
            sub._node_id = node_id
            conn.register(node_id, sub)
            if not refill:
                if sub.kind == "logs":
                    number = int(await self._request_on(conn, "eth_blockNumber", []), 16)
                    sub._next_block = number + 1
                sub._started = True
                return
            if sub.kind == "newHeads":
                await self._fill_heads(conn, sub)
            else:
                await self._fill_logs(conn, sub)
        finally:
            held, sub._held = sub._held or [], None
            for item in held:
                sub._deliver(item)

    async def _fill_heads(self, conn: _Connection, sub: Subscription[Any]) -> None:
        last = sub._last_head
        if last is None:
            return
        latest = int(await self._request_on(conn, "eth_blockNumber", []), 16)
        first = max(last.number, latest - self.gap_fill_max_blocks + 1)
        if first > last.number + 1:
            _log.warning("heads gap fill skips blocks %d..%d", last.number + 1, first - 1)
        numbers = list(range(first, latest + 1))
        if not numbers:
            return
        calls = [("eth_getBlockByNumber", [hex(n), False]) for n in numbers]
        for raw in await self._batch_on(conn, calls):
            if raw is None:
                continue
            head = Head.from_rpc(raw)
            if head.number > last.number or head.hash != last.hash:
                sub._deliver(head)

    async def _fill_logs(self, conn: _Connection, sub: Subscription[Any]) -> None:
        start = sub._next_block
        if start is None:
            return
        latest = int(await self._request_on(conn, "eth_blockNumber", []), 16)
        first = max(start, latest - self.gap_fill_max_blocks + 1)
        if first > start:
            _log.warning("logs gap fill skips blocks %d..%d", start, first - 1)
        if first > latest:
            return
        flt = sub._filter or LogFilter()
        raws = await self._request_on(
            conn, "eth_getLogs", [flt.to_rpc(fromBlock=hex(first), toBlock=hex(latest))]
        )
        for raw in raws or []:
            sub._deliver(LogEntry.from_rpc(raw))
        sub._next_block = max(sub._next_block or 0, latest)

    async def _forget(self, sub: Subscription[Any]) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
        conn = self._conn
        if conn is None or conn.closed or sub._node_id is None:
            return
        conn.subs.pop(sub._node_id, None)
        with contextlib.suppress(RpcError, RpcUnavailable, _ConnectionLost, TimeoutError):
            await self._request_on(conn, "eth_unsubscribe", [sub._node_id])

    async def _request_on(self, conn: _Connection, method: str, params: list[Any]) -> Any:
        i = next(self._ids)
        body = {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
        (reply,) = await conn.request(body, [i], self.timeout)
        return _result(method, reply)

    async def _batch_on(self, conn: _Connection, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        ids = [next(self._ids) for _ in calls]
        body = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": p}
            for i, (m, p) in zip(ids, calls, strict=True)
        ]
        replies = await conn.request(body, ids, self.timeout)
        return [_result(m, r) for (m, _), r in zip(calls, replies, strict=True)]

    # -- connection management -------------------------------------------------------------------

    async def _connection(self) -> _Connection:
        """The open connection, connecting (one round over the URLs) if there is none."""
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        self._closed = False  # a call after close() opens a new connection
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            conn = self._conn
            if conn is not None and not conn.closed:
                return conn
            failures: list[str] = []
            order = [*range(self._preferred, len(self.urls)), *range(self._preferred)]
            for index in order:
                url = self.urls[index]
                session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
                try:
                    ws = await session.ws_connect(
                        url, heartbeat=self.heartbeat, max_msg_size=256 * 2**20, autoping=True
                    )
                except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                    await session.close()
                    failures.append(f"{url}: {exc.__class__.__name__} {exc}".strip())
                    continue
                conn = _Connection(self, url, session, ws)
                self._preferred = index
                self._conn = conn
                self.connections += 1
                try:
                    for sub in list(self._subs):
                        if sub._started:
                            await self._subscribe(conn, sub)
                except (_ConnectionLost, TimeoutError, RpcError) as exc:
                    failures.append(f"{url}: resubscribing failed ({exc})")
                    await conn.close()
                    self._conn = None
                    continue
                return conn
            raise RpcUnavailable(f"no websocket endpoint answered ({'; '.join(failures)})")

    def _connection_lost(self, conn: _Connection) -> None:
        if conn is not self._conn:
            return
        self._conn = None
        for sub in self._subs:
            sub._node_id = None
        if self._closed or not self._subs:
            return
        if self._reconnector is None or self._reconnector.done():
            self._reconnector = asyncio.create_task(self._reconnect(), name="ws-reconnect")

    async def _reconnect(self) -> None:
        delay = self.reconnect_delay
        rounds = 0
        while not self._closed and self._subs:
            try:
                await self._connection()
                return
            except RpcUnavailable as exc:
                rounds += 1
                _log.warning("websocket reconnect round %d failed: %s", rounds, exc)
                if (
                    self.max_reconnect_attempts is not None
                    and rounds >= self.max_reconnect_attempts
                ):
                    for sub in self._subs:
                        sub._end(
                            RpcUnavailable(f"gave up reconnecting after {rounds} rounds: {exc}")
                        )
                    self._subs.clear()
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_reconnect_delay)
