"""PoolFollower on a real Anvil: another account swaps, mints and burns at random on the V2 and V3
pools; once caught up, every followed state quotes what QuoterV2 / Router02 answer at that head,
to the wei, and equals a fresh load at that head. L1 (automine) and L2 (250 ms blocks), fed by a
websocket subscription or by HTTP polling."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from amm_chain_helpers import RawContract, contract, fund_with_weth, token_at

from oms_chain.chain.rpc import RpcClient
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model.errors import ConfigError, InvalidInput
from oms_chain.venues.amm import (
    MathRevert,
    V2PoolState,
    V3PoolState,
    load_v2_pool,
    load_v3_pool,
)
from oms_chain.venues.amm.follower import (
    FollowerLagging,
    FollowerStopped,
    PoolFollower,
    PoolFollowerConfig,
)

DEADLINE = 2**32 - 1
MAX = 2**256 - 1
GAS = 1_500_000  # explicit: no estimate against a state still changing under pending txs


@pytest.fixture(params=["l1", "l2"])
def chain(request: pytest.FixtureRequest) -> DevnetChain:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture(params=["ws", "http"])
async def rpc(chain: DevnetChain, request: pytest.FixtureRequest) -> AsyncIterator[RpcClient]:
    url = chain.ws_url if request.param == "ws" else chain.rpc_url
    async with RpcClient([url]) as client:
        yield client


class Trader:
    """An account that trades and provides liquidity on every devnet pool at random."""

    def __init__(self, chain: DevnetChain, address: str, rng: random.Random) -> None:
        self.chain = chain
        self.address = address
        self.rng = rng
        self.v2_router = contract(chain, "UniswapV2Router02")
        self.v3_router = contract(chain, "SwapRouter")
        self.npm = contract(chain, "NonfungiblePositionManager")
        self.v2 = [p for p in chain.book.pools if p.protocol == "uniswap-v2"]
        self.v3 = [p for p in chain.book.pools if p.protocol == "uniswap-v3"]
        self.positions: list[tuple[int, int]] = []  # (token id, liquidity)
        fund_with_weth(chain, address, 5_000 * 10**18)
        tokens = {p.token0 for p in chain.book.pools} | {p.token1 for p in chain.book.pools}
        hashes = [
            token_at(chain, t)
            .functions.approve(spender, MAX)
            .transact({"from": address, "gas": 100_000})
            for t in tokens
            for spender in (self.v2_router.address, self.v3_router.address, self.npm.address)
        ]
        self.wait(hashes)

    def wait(self, hashes: list[Any]) -> list[Any]:
        receipts = [
            self.chain.w3.eth.wait_for_transaction_receipt(h, poll_latency=0.05) for h in hashes
        ]
        assert all(r["status"] == 1 for r in receipts), receipts
        return receipts

    def _held_by_pool(self, pool: str, token: str) -> int:
        return int(token_at(self.chain, token).functions.balanceOf(pool).call())

    def _amount(self, pool: str, token: str) -> int:
        return max(1, int(self._held_by_pool(pool, token) * 10 ** self.rng.uniform(-5, -1.3)))

    def _send(self, fn: Any) -> Any:
        return fn.transact({"from": self.address, "gas": GAS})

    def v2_swap(self) -> Any:
        pool = self.rng.choice(self.v2)
        t_in, t_out = (pool.token0, pool.token1)[:: self.rng.choice((1, -1))]
        amount = self._amount(pool.address, t_in)
        return self._send(
            self.v2_router.functions.swapExactTokensForTokens(
                amount, 0, [t_in, t_out], self.address, DEADLINE
            )
        )

    def v2_add(self) -> Any:
        pool = self.rng.choice(self.v2)
        a0, a1 = (self._amount(pool.address, t) for t in (pool.token0, pool.token1))
        return self._send(
            self.v2_router.functions.addLiquidity(
                pool.token0, pool.token1, a0, a1, 0, 0, self.address, DEADLINE
            )
        )

    def v3_swap(self) -> Any:
        pool = self.rng.choice(self.v3)
        t_in, t_out = (pool.token0, pool.token1)[:: self.rng.choice((1, -1))]
        params = (t_in, t_out, pool.fee, self.address, DEADLINE, self._amount(pool.address, t_in))
        return self._send(self.v3_router.functions.exactInputSingle((*params, 0, 0)))

    def v3_mint(self) -> Any:
        entry = self.rng.choice(self.v3)
        state = load_v3_pool(self.chain.w3, entry.address, word_radius=0)
        s = state.tick_spacing
        lower = (state.tick // s - self.rng.randint(1, 30)) * s
        upper = (state.tick // s + self.rng.randint(1, 30)) * s
        a0, a1 = (self._amount(entry.address, t) for t in (entry.token0, entry.token1))
        params = (entry.token0, entry.token1, entry.fee, lower, upper, a0, a1, 0, 0)
        return self._send(self.npm.functions.mint((*params, self.address, DEADLINE)))

    def note_positions(self, receipts: list[Any]) -> None:
        event = self.npm.events.IncreaseLiquidity()
        for receipt in receipts:
            for log in receipt["logs"]:
                if log["address"] != self.npm.address:
                    continue
                try:
                    args = event.process_log(log)["args"]
                except Exception:
                    continue
                self.positions.append((int(args["tokenId"]), int(args["liquidity"])))

    def v3_burn(self) -> Any:
        token_id, liquidity = self.positions.pop(self.rng.randrange(len(self.positions)))
        part = self.rng.choice([liquidity, liquidity // 2, liquidity // 7 + 1])
        return self._send(self.npm.functions.decreaseLiquidity((token_id, part, 0, 0, DEADLINE)))

    def random_activity(self, swaps: int, mints: int, burns: int) -> None:
        """Mints first (burns need their positions), then swaps and burns interleaved."""
        self.note_positions(self.wait([self.v3_mint() for _ in range(mints)]))
        trades = (self.v2_swap, self.v3_swap, self.v2_add)
        ops = [self.rng.choice(trades) for _ in range(swaps)] + [self.v3_burn] * burns
        self.rng.shuffle(ops)
        self.wait([op() for op in ops])


def _check_quotes_at(chain: DevnetChain, states: dict[str, Any], block: int) -> int:
    """Every state's quotes equal QuoterV2 / Router02 ``eth_call`` at ``block``; returns how many
    of them did not revert."""
    quoter = RawContract("QuoterV2", chain.book.address("QuoterV2"))
    router = RawContract("UniswapV2Router02", chain.book.address("UniswapV2Router02"))
    rng = random.Random(block)
    calls, ours = [], []
    for state in states.values():
        for token_in, token_out in ((state.token0, state.token1), (state.token1, state.token0)):
            for exponent in (3, 9, 15, 21):
                amount = rng.randint(10**exponent, 10 ** (exponent + 1))
                if isinstance(state, V3PoolState):
                    args = ((token_in, token_out, amount, state.fee, 0),)
                    calls.append((quoter, "quoteExactInputSingle", args))
                    try:
                        ours.append(state.quote_exact_input(token_in, amount).amount_out)
                    except MathRevert:
                        ours.append(None)
                else:
                    calls.append((router, "getAmountsOut", (amount, [token_in, token_out])))
                    try:
                        ours.append(state.amount_out(token_in, amount))
                    except InvalidInput:
                        ours.append(None)
    requests = [
        ("eth_call", [{"to": c.address, "data": c.call_data(fn, *args)}, hex(block)])
        for c, fn, args in calls
    ]
    answers = chain.w3.provider.make_batch_request(requests)  # type: ignore[attr-defined]
    got = []
    for (c, fn, _), answer in zip(calls, answers, strict=True):
        if "result" not in answer:
            got.append(None)
            continue
        out = c.decode(fn, answer["result"])[0]
        got.append(out[-1] if isinstance(out, (list, tuple)) else out)
    assert got == ours
    return sum(x is not None for x in got)


def _fresh(chain: DevnetChain, state: Any, block: int) -> Any:
    if isinstance(state, V2PoolState):
        return load_v2_pool(chain.w3, state.address, block_identifier=block)
    return load_v3_pool(chain.w3, state.address, block_identifier=block)


async def test_followed_pools_quote_like_the_chain_after_random_activity(
    chain: DevnetChain, rpc: RpcClient, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    trader = Trader(chain, devnet_accounts[9].address, random.Random(chain.chain_id))
    async with PoolFollower(
        rpc,
        v2_pools=[p.address for p in trader.v2],
        v3_pools=[p.address for p in trader.v3],
    ) as follower:
        start = follower.head
        assert start is not None
        for _ in range(2):
            await asyncio.to_thread(trader.random_activity, swaps=6, mints=3, burns=3)
            head = await follower.catch_up(timeout=15)
            states = follower.states()
            assert {s.block_number for s in states.values()} == {head.number}
            for state in states.values():
                assert state == _fresh(chain, state, head.number)
            assert _check_quotes_at(chain, states, head.number) > 40
        assert follower.blocks_applied >= head.number - start.number
        assert follower.reloads == 1  # the initial load only: logs did the rest
        assert follower.rollbacks == 0


async def test_a_v3_state_follows_burns_of_every_minted_position(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    trader = Trader(l1, devnet_accounts[9].address, random.Random(3))
    pool = trader.v3[0]
    trader.v3 = [pool]
    async with RpcClient([l1.ws_url]) as rpc, PoolFollower(rpc, v3_pools=[pool.address]) as f:
        trader.note_positions(trader.wait([trader.v3_mint() for _ in range(4)]))
        for token_id, liquidity in list(trader.positions):
            trader.wait(
                [
                    trader._send(
                        trader.npm.functions.decreaseLiquidity(
                            (token_id, liquidity, 0, 0, DEADLINE)
                        )
                    )
                ]
            )
        head = await f.catch_up()
        assert f.state(pool.address) == load_v3_pool(l1.w3, pool.address)
        assert f.state(pool.address).block_number == head.number


async def test_bad_configuration_and_use_are_clear(l1: DevnetChain) -> None:
    pool = next(p for p in l1.book.pools if p.protocol == "uniswap-v2")
    async with RpcClient([l1.rpc_url]) as rpc:
        with pytest.raises(InvalidInput, match="at least one"):
            PoolFollower(rpc)
        with pytest.raises(InvalidInput, match="listed twice"):
            PoolFollower(rpc, v2_pools=[pool.address], v3_pools=[pool.address.lower()])
        with pytest.raises(ConfigError, match="history_depth"):
            PoolFollowerConfig(history_depth=0)
        follower = PoolFollower(rpc, v2_pools=[pool.address])
        with pytest.raises(FollowerStopped, match="start"):
            follower.state(pool.address)
        with pytest.raises(FollowerStopped):
            await follower.wait_for_block(1, timeout=0.1)
        async with follower:
            with pytest.raises(InvalidInput, match="not followed"):
                follower.state(l1.book.address("USDC"))
            with pytest.raises(FollowerLagging, match="did not reach block"):
                await follower.wait_for_block(10**9, timeout=0.2)
        with pytest.raises(FollowerStopped):
            await follower.wait_for_block(1, timeout=0.1)


async def test_a_narrow_word_window_re_centres_on_the_price_as_it_moves(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    owner = devnet_accounts[9].address
    fund_with_weth(l1, owner, 20_000 * 10**18)
    entry = next(
        p for p in l1.book.pools_for("WETH", "USDC") if p.protocol == "uniswap-v3" and p.fee == 500
    )
    router = contract(l1, "SwapRouter")
    weth, usdc = l1.book.address("WETH"), l1.book.address("USDC")
    token_at(l1, weth).functions.approve(router.address, MAX).transact({"from": owner})
    config = PoolFollowerConfig(v3_word_radius=2, poll_interval=0.05)
    async with (
        RpcClient([l1.rpc_url]) as rpc,
        PoolFollower(rpc, v3_pools=[entry.address], config=config) as follower,
    ):
        before = follower.state(entry.address)
        assert isinstance(before, V3PoolState) and before.word_range is not None
        # 10,000 WETH into the 0.05 % pool walks the price many bitmap words down
        swap = router.functions.exactInputSingle(
            (weth, usdc, 500, owner, DEADLINE, 10_000 * 10**18, 0, 0)
        )
        receipt = l1.w3.eth.wait_for_transaction_receipt(
            swap.transact({"from": owner, "gas": 5_000_000})
        )
        assert receipt["status"] == 1
        head = await follower.catch_up(timeout=15)
        for _ in range(100):  # the re-centre follows the commit of that block in the same round
            if follower.recentres:
                break
            await asyncio.sleep(0.05)
        after = follower.state(entry.address)
        assert isinstance(after, V3PoolState) and after.word_range is not None
        here = (after.tick // after.tick_spacing) >> 8
        assert abs(here - ((before.tick // before.tick_spacing) >> 8)) >= 2  # it really moved
        assert follower.recentres == 1 and after.word_range == (here - 2, here + 2)
        assert after == load_v3_pool(
            l1.w3, entry.address, word_radius=2, block_identifier=head.number
        )
        # quotes around the new price stay inside the window and equal QuoterV2's
        quoter = RawContract("QuoterV2", l1.book.address("QuoterV2"))
        amounts = [(weth, usdc, 10**18), (usdc, weth, 10**9)]
        calls = [
            (
                "eth_call",
                [
                    {
                        "to": quoter.address,
                        "data": quoter.call_data("quoteExactInputSingle", (t_in, t_out, a, 500, 0)),
                    },
                    hex(head.number),
                ],
            )
            for t_in, t_out, a in amounts
        ]
        answers = l1.w3.provider.make_batch_request(calls)  # type: ignore[attr-defined]
        for (t_in, _, a), answer in zip(amounts, answers, strict=True):
            expected = quoter.decode("quoteExactInputSingle", answer["result"])[0]
            assert after.quote_exact_input(t_in, a).amount_out == expected


@pytest.mark.parametrize("transport", ["ws", "http"])
async def test_updates_push_each_applied_swap_and_end_when_the_follower_stops(
    l1: DevnetChain, devnet_accounts: tuple[DevAccount, ...], transport: str
) -> None:
    trader = Trader(l1, devnet_accounts[9].address, random.Random(11))
    pools = [p.address for p in trader.v2]
    url = l1.ws_url if transport == "ws" else l1.rpc_url
    async with RpcClient([url]) as rpc:
        follower = PoolFollower(rpc, v2_pools=pools, config=PoolFollowerConfig(poll_interval=0.05))
        await follower.start()
        updates = follower.updates()
        before = follower.states()
        (receipt,) = trader.wait([trader.v2_swap()])
        head = await asyncio.wait_for(anext(updates), 30)
        while head.number < receipt["blockNumber"]:  # an earlier head may come first
            head = await asyncio.wait_for(anext(updates), 30)
        assert follower.states() != before  # the swap's Sync was applied when it was pushed
        await follower.close()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(anext(updates), 30)
