"""PoolFollower through reorgs on a real Anvil (L1 automine, L2 250 ms blocks): swaps the follower
already applied are replaced by ``anvil_reorg`` with other swaps on a new branch; the follower
rolls back and ends equal to a fresh load of every pool at the new head."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak

from oms_chain.chain.rpc import RpcClient
from oms_chain.devnet.artifacts import load_protocol_artifact
from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.venues.amm import V2PoolState, load_v2_pool, load_v3_pool
from oms_chain.venues.amm.follower import PoolFollower, PoolFollowerConfig

DEADLINE = 2**32 - 1
GAS = 600_000
GWEI = 10**9

WETH_DEPOSIT_ABI = [
    {"type": "function", "name": "deposit", "stateMutability": "payable", "inputs": []}
]


class Swapper:
    """Signs swaps on the devnet pools (V2 Router02, V3 SwapRouter) as raw transactions."""

    def __init__(self, chain: DevnetChain, account: DevAccount, seed: int) -> None:
        self.chain = chain
        self.account = account
        self.rng = random.Random(seed)
        w3 = chain.w3
        self.v2 = [p for p in chain.book.pools if p.protocol == "uniswap-v2"]
        self.v3 = [p for p in chain.book.pools if p.protocol == "uniswap-v3"]
        self.v2_router = w3.eth.contract(
            address=chain.book.address("UniswapV2Router02"),
            abi=load_protocol_artifact("UniswapV2Router02").abi,
        )
        self.v3_router = w3.eth.contract(
            address=chain.book.address("SwapRouter"), abi=load_protocol_artifact("SwapRouter").abi
        )

    def prepare(self) -> None:
        """Wrap ETH and approve both routers for every pool token (in plain blocks)."""
        w3, me = self.chain.w3, self.account.address
        weth = w3.eth.contract(address=self.chain.book.address("WETH"), abi=WETH_DEPOSIT_ABI)
        hashes = [weth.functions.deposit().transact({"from": me, "value": 1_000 * 10**18})]
        tokens = {p.token0 for p in self.chain.book.pools} | {
            p.token1 for p in self.chain.book.pools
        }
        for token in tokens:
            erc20 = w3.eth.contract(address=token, abi=ERC20_ABI)
            for spender in (self.v2_router.address, self.v3_router.address):
                hashes.append(erc20.functions.approve(spender, 2**256 - 1).transact({"from": me}))
        for h in hashes:
            assert w3.eth.wait_for_transaction_receipt(h, poll_latency=0.05)["status"] == 1

    def signed_swaps(self, count: int) -> list[str]:
        """``count`` raw signed swaps with consecutive nonces from the account's current one."""
        w3, me = self.chain.w3, self.account.address
        nonce = w3.eth.get_transaction_count(me, "pending")
        out = []
        for i in range(count):
            if i % 2 == 0:
                pool = self.rng.choice(self.v3)
                t_in, t_out = (pool.token0, pool.token1)[:: self.rng.choice((1, -1))]
                amount = self._amount(pool.address, t_in)
                fn = self.v3_router.functions.exactInputSingle(
                    (t_in, t_out, pool.fee, me, DEADLINE, amount, 0, 0)
                )
            else:
                pool = self.rng.choice(self.v2)
                t_in, t_out = (pool.token0, pool.token1)[:: self.rng.choice((1, -1))]
                amount = self._amount(pool.address, t_in)
                fn = self.v2_router.functions.swapExactTokensForTokens(
                    amount, 0, [t_in, t_out], me, DEADLINE
                )
            tx = fn.build_transaction(
                {
                    "from": me,
                    "nonce": nonce + i,
                    "gas": GAS,
                    "maxFeePerGas": 100 * GWEI,
                    "maxPriorityFeePerGas": GWEI,
                    "chainId": self.chain.chain_id,
                }
            )
            signed = Account.sign_transaction(tx, self.account.private_key)
            out.append("0x" + bytes(signed.raw_transaction).hex())
        return out

    def _amount(self, pool: str, token: str) -> int:
        held = self.chain.w3.eth.contract(address=token, abi=ERC20_ABI).functions.balanceOf(pool)
        return max(1, int(held.call() * 10 ** self.rng.uniform(-4, -1.5)))


@pytest.fixture(params=["l1", "l2"])
def chain(request: pytest.FixtureRequest) -> DevnetChain:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture(params=["ws", "http"])
async def rpc(chain: DevnetChain, request: pytest.FixtureRequest) -> AsyncIterator[RpcClient]:
    url = chain.ws_url if request.param == "ws" else chain.rpc_url
    async with RpcClient([url]) as client:
        yield client


def _assert_equals_fresh_load(chain: DevnetChain, follower: PoolFollower) -> None:
    head = follower.head
    assert head is not None
    states = follower.states()
    canonical = chain.w3.eth.get_block(head.number)
    assert "0x" + bytes(canonical["hash"]).hex() == head.hash
    for address, state in states.items():
        fresh: Any
        if isinstance(state, V2PoolState):
            fresh = load_v2_pool(chain.w3, address, block_identifier=head.number)
        else:
            fresh = load_v3_pool(chain.w3, address, block_identifier=head.number)
        assert state == fresh, address


async def _reorg_with_swaps(
    chain: DevnetChain,
    follower: PoolFollower,
    accounts: tuple[DevAccount, ...],
    depth: int,
) -> dict[str, Any]:
    """Land ``depth`` swaps of one account (applied by the follower), then replace the blocks
    holding them by a branch carrying other swaps of another account; returns the followed
    states (without block numbers) as they were before the reorg."""
    old, new = Swapper(chain, accounts[6], depth), Swapper(chain, accounts[7], depth + 100)
    old.prepare()
    new.prepare()
    # spacer blocks: the reorg must not reach back to the setup transactions (it replaces
    # `depth` or more blocks) and needs parent blocks with state in memory
    chain.process.mine(depth + 2)
    sent = [chain.w3.eth.send_raw_transaction(raw) for raw in old.signed_swaps(depth)]
    receipts = [chain.w3.eth.wait_for_transaction_receipt(h, poll_latency=0.05) for h in sent]
    assert all(r["status"] == 1 for r in receipts)
    await follower.catch_up()
    applied = _content(follower)
    first = min(int(r["blockNumber"]) for r in receipts)
    replacement = new.signed_swaps(depth)
    # L2 keeps mining: reach one block further back so a block mined meanwhile cannot leave our
    # swaps outside the reorged range.
    margin = 0 if chain.block_time is None else 1
    head = chain.process.block_number()
    reorg_depth = max(depth, head - first + 1 + margin)
    if chain.block_time is None:
        assert reorg_depth == depth  # automine: one block per swap
    # spread over the new blocks, nonces in order
    txs = [[raw, i * reorg_depth // depth] for i, raw in enumerate(replacement)]
    chain.process.rpc("anvil_reorg", [reorg_depth, txs])
    for h in sent:  # the swaps the follower had applied are no longer on the chain
        assert chain.process.rpc("eth_getTransactionReceipt", ["0x" + bytes(h).hex()]) is None
    for raw in replacement:  # and the other swaps are, on the new branch
        receipt = chain.w3.eth.wait_for_transaction_receipt(keccak(hexstr=raw), poll_latency=0.05)
        assert receipt["status"] == 1
        assert receipt["blockNumber"] > head - reorg_depth
    return applied


def _content(follower: PoolFollower) -> dict[str, Any]:
    return {a: replace(s, block_number=None) for a, s in follower.states().items()}


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
async def test_a_reorg_with_swaps_ends_equal_to_a_fresh_load_at_the_new_head(
    chain: DevnetChain, rpc: RpcClient, devnet_accounts: tuple[DevAccount, ...], depth: int
) -> None:
    pools = chain.book.pools
    follower = PoolFollower(
        rpc,
        v2_pools=[p.address for p in pools if p.protocol == "uniswap-v2"],
        v3_pools=[p.address for p in pools if p.protocol == "uniswap-v3"],
    )
    async with follower:
        before = await _reorg_with_swaps(chain, follower, devnet_accounts, depth)
        await follower.catch_up()
        _assert_equals_fresh_load(chain, follower)
        assert _content(follower) != before
        assert follower.rollbacks >= 1
        assert follower.reloads == 1  # rolled back from history, not reloaded


async def test_a_reorg_deeper_than_the_history_reloads_the_pools(
    chain: DevnetChain, rpc: RpcClient, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    pools = chain.book.pools
    follower = PoolFollower(
        rpc,
        v2_pools=[p.address for p in pools if p.protocol == "uniswap-v2"],
        v3_pools=[p.address for p in pools if p.protocol == "uniswap-v3"],
        config=PoolFollowerConfig(history_depth=2),
    )
    async with follower:
        await _reorg_with_swaps(chain, follower, devnet_accounts, 4)
        await follower.catch_up()
        _assert_equals_fresh_load(chain, follower)
        assert follower.reloads == 2
