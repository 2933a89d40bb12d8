"""The websocket JSON-RPC client against a real Anvil: calls, batches, subscriptions, and a
connection cut by the network (a TCP proxy that drops every socket and refuses new ones for a
while) followed by reconnect, resubscription and a gap fill that loses no head and no log."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar
from urllib.parse import urlparse

import pytest
from eth_utils import keccak

from oms_chain.chain.rpc import RpcClient, RpcError, RpcUnavailable
from oms_chain.chain.ws import Head, LogEntry, LogFilter, Subscription, WsRpcClient
from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model.errors import InvalidInput

T = TypeVar("T")
SINK = "0x000000000000000000000000000000000000bEEF"
TRANSFER = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
DEAD_WS = "ws://127.0.0.1:9"  # discard port: nothing listens there


class CuttableProxy:
    """A TCP proxy to a node that can cut every connection and refuse new ones (a real outage)."""

    def __init__(self, upstream_url: str) -> None:
        parsed = urlparse(upstream_url)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Abort every open connection and stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))


@pytest.fixture(params=["l1", "l2"])
def chain(request: pytest.FixtureRequest) -> DevnetChain:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture
async def proxy(chain: DevnetChain) -> AsyncIterator[CuttableProxy]:
    p = CuttableProxy(chain.ws_url)
    await p.start()
    yield p
    await p.cut()


@pytest.fixture
def sender(devnet_accounts: tuple[DevAccount, ...]) -> Iterator[str]:
    yield devnet_accounts[8].address


def _transfer(chain: DevnetChain, sender: str, amount: int, token: str = "USDC") -> int:
    """Send ``amount`` base units of ``token`` to SINK; returns the block it landed in."""
    contract = chain.w3.eth.contract(address=chain.book.address(token), abi=ERC20_ABI)
    tx = contract.functions.transfer(SINK, amount).transact({"from": sender})
    return int(chain.w3.eth.wait_for_transaction_receipt(tx, poll_latency=0.05)["blockNumber"])


async def _take(sub: Subscription[T], n: int, seconds: float = 10.0) -> list[T]:
    out: list[T] = []
    async with asyncio.timeout(seconds):
        async for item in sub:
            out.append(item)
            if len(out) == n:
                break
    return out


async def _take_until(sub: Subscription[T], done: Any, seconds: float = 10.0) -> list[T]:
    out: list[T] = []
    async with asyncio.timeout(seconds):
        async for item in sub:
            out.append(item)
            if done(item):
                break
    return out


def _amount(log: LogEntry) -> int:
    return int(log.data, 16)


def test_rpc_shapes_become_typed_values_or_clear_errors() -> None:
    raw = {
        "address": "0xAbC0000000000000000000000000000000000001",
        "topics": [TRANSFER.upper().replace("0X", "0x")],
        "data": "0x",
        "blockNumber": "0x10",
        "blockHash": "0x" + "AB" * 32,
        "transactionHash": "0x" + "cd" * 32,
        "logIndex": "0x2",
    }
    log = LogEntry.from_rpc(raw)
    assert (log.block_number, log.log_index, log.removed) == (16, 2, False)
    assert log.block_hash == "0x" + "ab" * 32 and log.topics == (TRANSFER,)
    with pytest.raises(InvalidInput, match="'blockNumber'"):
        LogEntry.from_rpc({**raw, "blockNumber": None})  # a pending log
    with pytest.raises(InvalidInput, match="'parentHash'"):
        Head.from_rpc({"number": "0x1", "hash": "0x01", "timestamp": "0x5"})
    flt = LogFilter(addresses=(SINK,), topics=(None, (TRANSFER, "0x01")))
    assert flt.to_rpc(fromBlock="0x1") == {
        "fromBlock": "0x1",
        "address": [SINK],
        "topics": [None, [TRANSFER, "0x01"]],
    }


async def test_ws_calls_and_batches_answer_like_http(l1: DevnetChain) -> None:
    async with WsRpcClient([l1.ws_url]) as ws, RpcClient([l1.rpc_url]) as http:
        assert await ws.call("eth_chainId") == hex(31337)
        number, chain_id = await ws.batch([("eth_blockNumber", []), ("eth_chainId", [])])
        assert (int(number, 16), chain_id) == (await http.block_number(), "0x7a69")
        block = await ws.call("eth_getBlockByNumber", ["latest", False])
        assert Head.from_rpc(block) == Head.from_rpc(await http.get_block("latest") or {})
        with pytest.raises(RpcError, match="eth_call"):
            await ws.call("eth_call", [{"to": SINK, "data": "0x12"}, "0xffffffffff"])
        assert await ws.batch([]) == []


async def test_rpc_client_serves_ws_urls_and_fails_over_between_transports(
    l1: DevnetChain,
) -> None:
    async with RpcClient([l1.ws_url]) as rpc:
        assert rpc.ws is not None
        assert await rpc.chain_id() == 31337
        assert len(await rpc.batch([("eth_chainId", []), ("eth_blockNumber", [])])) == 2
    async with RpcClient([DEAD_WS, l1.rpc_url], timeout=2) as rpc:
        assert await rpc.chain_id() == 31337
        assert await rpc.batch([("eth_chainId", [])]) == ["0x7a69"]
    async with RpcClient(["http://127.0.0.1:9", l1.ws_url], timeout=2) as rpc:
        assert await rpc.block_number() == l1.process.block_number()
    async with WsRpcClient([DEAD_WS, l1.ws_url], timeout=2) as ws:
        assert await ws.call("eth_chainId") == "0x7a69"
        assert ws.url == l1.ws_url
    async with WsRpcClient([DEAD_WS], timeout=2) as ws:
        with pytest.raises(RpcUnavailable, match="no websocket endpoint answered"):
            await ws.call("eth_chainId")
    with pytest.raises(InvalidInput, match="ws:// or wss://"):
        WsRpcClient([l1.rpc_url])
    with pytest.raises(InvalidInput, match="must start with"):
        RpcClient(["ftp://example.invalid"])


async def test_new_heads_arrive_for_every_block_linked_by_parent_hash(chain: DevnetChain) -> None:
    async with WsRpcClient([chain.ws_url]) as ws:
        heads = await ws.subscribe_heads()
        chain.process.mine(3)
        got = await _take(heads, 3)
        assert all(isinstance(h, Head) for h in got)
        for parent, child in itertools.pairwise(got):
            assert child.number == parent.number + 1
            assert child.parent_hash == parent.hash
        await heads.unsubscribe()

        async def drain() -> list[Head]:
            return [h async for h in heads]

        # The iterator ends; on the L2 (a block every 250 ms) heads that arrived before the
        # unsubscribe may still be handed out first, in order.
        rest = await asyncio.wait_for(drain(), 5)
        assert [h.number for h in rest] == list(
            range(got[-1].number + 1, got[-1].number + 1 + len(rest))
        )
        if chain.chain_id == 31337:  # automine: nothing was mined after the three
            assert rest == []


async def test_logs_subscription_delivers_only_matching_logs_as_typed_entries(
    l1: DevnetChain, sender: str
) -> None:
    usdc = l1.book.address("USDC")
    async with WsRpcClient([l1.ws_url]) as ws:
        logs = await ws.subscribe_logs(LogFilter(addresses=(usdc,), topics=(TRANSFER,)))
        _transfer(l1, sender, 5, "DAI")  # another token: filtered out by the node
        block = _transfer(l1, sender, 7)
        (entry,) = await _take(logs, 1)
        receipt_block = l1.w3.eth.get_block(block)
        assert entry.address.lower() == usdc.lower()
        assert entry.topics[0] == TRANSFER
        assert _amount(entry) == 7
        assert entry.block_number == block
        assert entry.block_hash == "0x" + bytes(receipt_block["hash"]).hex()
        assert entry.removed is False


@pytest.mark.parametrize("outage_blocks", [1, 4])
async def test_a_network_cut_loses_no_head_and_no_log(
    chain: DevnetChain, proxy: CuttableProxy, sender: str, outage_blocks: int
) -> None:
    usdc = chain.book.address("USDC")
    async with WsRpcClient([proxy.url], reconnect_delay=0.05, max_reconnect_delay=0.2) as ws:
        heads = await ws.subscribe_heads()
        logs = await ws.subscribe_logs(LogFilter(addresses=(usdc,), topics=(TRANSFER,)))
        first_block = _transfer(chain, sender, 1)
        assert [_amount(x) for x in await _take(logs, 1)] == [1]
        seen_heads = await _take_until(heads, lambda h: h.number >= first_block)

        await proxy.cut()  # every socket aborted, new connections refused
        amounts = list(range(2, 2 + outage_blocks))
        for amount in amounts:
            _transfer(chain, sender, amount)
        await asyncio.sleep(0.3)  # a few failed reconnect rounds while the node is unreachable
        assert ws.url is None
        await proxy.start()  # the same port answers again

        last_block = _transfer(chain, sender, 99)
        got = await _take_until(logs, lambda x: _amount(x) == 99)
        assert [_amount(x) for x in got] == [*amounts, 99]  # gap filled, in order, no repeat
        seen_heads += await _take_until(heads, lambda h: h.number >= last_block)
        numbers = [h.number for h in seen_heads]
        assert numbers == list(range(numbers[0], last_block + 1))  # contiguous, no duplicates
        for parent, child in itertools.pairwise(seen_heads):
            assert child.parent_hash == parent.hash
        assert ws.connections == 2


async def test_subscriptions_end_with_a_clear_error_when_reconnecting_is_given_up(
    l1: DevnetChain,
) -> None:
    proxy = CuttableProxy(l1.ws_url)
    await proxy.start()
    async with WsRpcClient(
        [proxy.url], reconnect_delay=0.01, max_reconnect_delay=0.02, max_reconnect_attempts=2
    ) as ws:
        heads = await ws.subscribe_heads()
        await proxy.cut()
        with pytest.raises(RpcUnavailable, match="gave up reconnecting after 2 rounds"):
            await _take(heads, 1, seconds=5)
