"""Pool event logs -> pool state: what :class:`~oms_chain.venues.amm.follower.PoolFollower`
applies per log (V2 ``Sync``; V3 ``Swap``, ``Mint``, ``Burn``), and when a V3 state's loaded
tick-bitmap window needs re-centring."""

from __future__ import annotations

from eth_abi import decode as abi_decode
from eth_utils import keccak

from oms_chain.chain.types import LogEntry
from oms_chain.model.errors import InvalidInput
from oms_chain.venues.amm.v2_pool import V2PoolState
from oms_chain.venues.amm.v3_math import MAX_TICK, MIN_TICK
from oms_chain.venues.amm.v3_pool import V3PoolState

__all__ = ["POOL_TOPICS", "PoolState", "apply_log", "off_centre"]

#: A pool state the follower keeps.
PoolState = V2PoolState | V3PoolState

_SYNC = "0x" + keccak(text="Sync(uint112,uint112)").hex()
_SWAP = "0x" + keccak(text="Swap(address,address,int256,int256,uint160,uint128,int24)").hex()
_MINT = "0x" + keccak(text="Mint(address,address,int24,int24,uint128,uint256,uint256)").hex()
_BURN = "0x" + keccak(text="Burn(address,int24,int24,uint128,uint256,uint256)").hex()
#: The topics the follower subscribes to (any of them).
POOL_TOPICS = (_SYNC, _SWAP, _MINT, _BURN)


def off_centre(state: PoolState, radius: int) -> bool:
    """True when a V3 state's current tick-bitmap word lies in the outer half of its loaded
    window (an edge clipped at the end of the tick range does not count)."""
    if not isinstance(state, V3PoolState) or state.word_range is None:
        return False
    lo, hi = state.word_range
    here = (state.tick // state.tick_spacing) >> 8
    margin = radius // 2
    min_word = (MIN_TICK // state.tick_spacing) >> 8
    max_word = (MAX_TICK // state.tick_spacing) >> 8
    low_edge = lo > min_word and here < lo + margin
    high_edge = hi < max_word and here > hi - margin
    return low_edge or high_edge or not lo <= here <= hi


def apply_log(state: PoolState, log: LogEntry) -> PoolState:
    """The state after one pool log (others are ignored). Raises :class:`InvalidInput` if the log
    cannot be decoded."""
    topic = log.topics[0] if log.topics else ""
    try:
        data = bytes.fromhex(log.data[2:])
        if isinstance(state, V2PoolState):
            if topic != _SYNC:
                return state
            reserve0, reserve1 = abi_decode(["uint112", "uint112"], data)
            return state.apply_sync(reserve0, reserve1, block_number=log.block_number)
        if topic == _SWAP:
            _, _, sqrt_price, liquidity, tick = abi_decode(
                ["int256", "int256", "uint160", "uint128", "int24"], data
            )
            return state.apply_swap(sqrt_price, liquidity, tick, block_number=log.block_number)
        if topic in (_MINT, _BURN):
            lower = abi_decode(["int24"], bytes.fromhex(log.topics[2][2:]))[0]
            upper = abi_decode(["int24"], bytes.fromhex(log.topics[3][2:]))[0]
            if topic == _MINT:
                amount = abi_decode(["address", "uint128", "uint256", "uint256"], data)[1]
                return state.apply_mint(lower, upper, amount, block_number=log.block_number)
            amount = abi_decode(["uint128", "uint256", "uint256"], data)[0]
            return state.apply_burn(lower, upper, amount, block_number=log.block_number)
    except (ValueError, IndexError) as exc:
        raise InvalidInput(
            f"cannot decode log {log.log_index} of block {log.block_number} from pool "
            f"{log.address}: {exc}"
        ) from exc
    return state
