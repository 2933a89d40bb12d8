"""The Uniswap V2 venue: Router02 swaps priced with the pair math."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oms_chain.model.errors import InvalidInput
from oms_chain.venues.amm._calls import checksum, encode_call
from oms_chain.venues.amm._config import _Swap
from oms_chain.venues.amm._orders import _UniswapVenue
from oms_chain.venues.amm.v2_math import InsufficientReserves, get_amounts_in, get_amounts_out
from oms_chain.venues.amm.v2_pool import V2PoolState

__all__ = ["UniswapV2Venue"]


class UniswapV2Venue(_UniswapVenue):
    """Uniswap V2 (or a fork with the same Router02 and 0.3 % pairs) on one chain.

    Args:
        account: the shared :class:`ChainAccount` of the signer on this chain.
        venue_id: lower-case name, e.g. ``uniswap-v2-31337``.
        router: the UniswapV2Router02 address.
        routes: instrument -> pair addresses from base to quote (one, or several for
            multi-hop).
        config: :class:`AmmVenueConfig`.
    """

    protocol = "uniswap-v2"
    #: Gas per pair the pending-block estimate can miss: a pair writes its two price
    #: accumulators only in a block whose timestamp moved on since its last update (two cold
    #: slots, zero -> nonzero for a pair not traded since it was seeded: the estimate rose by
    #: 45,324 gas here). Under several blocks a second (an L2) the estimate and the including
    #: block often fall in different seconds; seen as an out-of-gas revert.
    _oracle_gas = 50_000

    def _reserves(self, states: Sequence[V2PoolState], token_in: str) -> list[tuple[int, int]]:
        ordered, tokens = self._path(states, token_in)
        return [st.reserves_for(t) for st, t in zip(ordered, tokens, strict=False)]

    def _quote_in(self, states: Sequence[Any], token_in: str, amount_in: int) -> int:
        try:
            return get_amounts_out(amount_in, self._reserves(states, token_in), states[0].fee_bps)[
                -1
            ]
        except InsufficientReserves as exc:
            raise InvalidInput(str(exc)) from exc

    def _quote_out(self, states: Sequence[Any], token_in: str, amount_out: int) -> int:
        return get_amounts_in(amount_out, self._reserves(states, token_in), states[0].fee_bps)[0]

    def _calldata(self, states: Sequence[Any], swap: _Swap, recipient: str, deadline: int) -> bytes:
        _, tokens = self._path(states, swap.token_in)
        path = [checksum(t) for t in tokens]
        if swap.exact_in:
            return encode_call(
                "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)",
                swap.amount,
                swap.bound,
                path,
                recipient,
                deadline,
            )
        return encode_call(
            "swapTokensForExactTokens(uint256,uint256,address[],address,uint256)",
            swap.amount,
            swap.bound,
            path,
            recipient,
            deadline,
        )
