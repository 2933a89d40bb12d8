"""Uniswap V2 pair state: reserves read with ``getReserves`` and kept fresh from Sync events."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from oms_chain.chain.rpc import RpcClient, RpcError
from oms_chain.model.errors import InvalidInput
from oms_chain.venues.amm.v2_math import DEFAULT_FEE_BPS, get_amount_in, get_amount_out
from oms_chain.venues.amm.v3_pool import PoolLoadError

if TYPE_CHECKING:
    from web3 import Web3

__all__ = ["PAIR_ABI", "V2PoolState", "fetch_v2_pool", "load_v2_pool"]

# The subset of the UniswapV2Pair interface we read.
PAIR_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "getReserves",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [
            {"name": "reserve0", "type": "uint112"},
            {"name": "reserve1", "type": "uint112"},
            {"name": "blockTimestampLast", "type": "uint32"},
        ],
    },
    *(
        {
            "type": "function",
            "name": name,
            "stateMutability": "view",
            "inputs": [],
            "outputs": [{"name": "", "type": "address"}],
        }
        for name in ("token0", "token1")
    ),
]


@dataclass(frozen=True, slots=True, kw_only=True)
class V2PoolState:
    """A Uniswap V2 pair's reserves (base units) at ``block_number``; fee in basis points."""

    address: str
    token0: str
    token1: str
    reserve0: int
    reserve1: int
    fee_bps: int = DEFAULT_FEE_BPS
    block_number: int | None = None

    def reserves_for(self, token_in: str) -> tuple[int, int]:
        """``(reserve_in, reserve_out)`` when selling ``token_in``; raises for a foreign token."""
        key = token_in.lower()
        if key == self.token0.lower():
            return self.reserve0, self.reserve1
        if key == self.token1.lower():
            return self.reserve1, self.reserve0
        raise InvalidInput(f"token {token_in} is not in pair {self.address}")

    def amount_out(self, token_in: str, amount_in: int) -> int:
        """Exact output for selling ``amount_in`` of ``token_in`` (as Router02)."""
        return get_amount_out(amount_in, *self.reserves_for(token_in), self.fee_bps)

    def amount_in(self, token_in: str, amount_out: int) -> int:
        """Exact input of ``token_in`` needed to buy ``amount_out`` of the other token."""
        return get_amount_in(amount_out, *self.reserves_for(token_in), self.fee_bps)

    def apply_sync(
        self, reserve0: int, reserve1: int, *, block_number: int | None = None
    ) -> V2PoolState:
        """The state after a Sync event (the pair emits one on every reserve change)."""
        if reserve0 < 0 or reserve1 < 0:
            raise InvalidInput(f"reserves must be >= 0, got {reserve0}, {reserve1}")
        return replace(
            self,
            reserve0=reserve0,
            reserve1=reserve1,
            block_number=block_number if block_number is not None else self.block_number,
        )


def load_v2_pool(
    w3: Web3,
    address: str,
    *,
    fee_bps: int = DEFAULT_FEE_BPS,
    block_identifier: int | str = "latest",
) -> V2PoolState:
    """Read a pair's tokens and reserves, pinned to one block."""
    from web3 import Web3 as _Web3

    pair = w3.eth.contract(address=_Web3.to_checksum_address(address), abi=PAIR_ABI)
    block = w3.eth.block_number if isinstance(block_identifier, str) else int(block_identifier)
    r0, r1, _ = pair.functions.getReserves().call(block_identifier=block)
    return V2PoolState(
        address=pair.address,
        token0=str(pair.functions.token0().call(block_identifier=block)),
        token1=str(pair.functions.token1().call(block_identifier=block)),
        reserve0=int(r0),
        reserve1=int(r1),
        fee_bps=fee_bps,
        block_number=block,
    )


async def fetch_v2_pool(
    rpc: RpcClient,
    address: str,
    *,
    fee_bps: int = DEFAULT_FEE_BPS,
    block_identifier: int | str = "latest",
) -> V2PoolState:
    """:func:`load_v2_pool` on our async RPC client: tokens and reserves in one batch, pinned
    to one block.

    Raises:
        InvalidInput: a bad address or fee, or ``address`` is not a Uniswap V2 pair.
        PoolLoadError: the node answered a read with another error (retryable).
        RpcUnavailable: no endpoint answered (retryable).
    """
    from eth_abi import decode as abi_decode
    from eth_abi.exceptions import DecodingError
    from eth_utils import keccak, to_checksum_address

    if isinstance(fee_bps, bool) or not isinstance(fee_bps, int) or not 0 <= fee_bps < 10_000:
        raise InvalidInput(f"fee_bps must be an integer in [0, 10000), got {fee_bps!r}")
    try:
        pair = str(to_checksum_address(address))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"not an address: {address!r}") from exc
    block = await rpc.block_number() if isinstance(block_identifier, str) else int(block_identifier)
    views = ("getReserves()", "token0()", "token1()")
    try:
        answers = await rpc.batch(
            [
                ("eth_call", [{"to": pair, "data": "0x" + keccak(text=v)[:4].hex()}, hex(block)])
                for v in views
            ]
        )
        raw = [bytes.fromhex(str(a)[2:]) for a in answers]
        r0, r1, _ = abi_decode(["uint112", "uint112", "uint32"], raw[0])
        (token0,) = abi_decode(["address"], raw[1])
        (token1,) = abi_decode(["address"], raw[2])
    except RpcError as exc:
        if "revert" not in exc.rpc_message.lower():
            raise PoolLoadError(f"reading pair {pair} at block {block} failed: {exc}") from exc
        raise InvalidInput(
            f"{pair} reverted on getReserves/token0/token1: not a Uniswap V2 pair (or not on "
            "this chain)"
        ) from exc
    except (DecodingError, ValueError) as exc:
        raise InvalidInput(
            f"{pair} did not answer getReserves/token0/token1 at block {block} ({exc}): not a "
            "Uniswap V2 pair (or not on this chain)"
        ) from exc
    return V2PoolState(
        address=pair,
        token0=str(to_checksum_address(token0)),
        token1=str(to_checksum_address(token1)),
        reserve0=int(r0),
        reserve1=int(r1),
        fee_bps=fee_bps,
        block_number=block,
    )
