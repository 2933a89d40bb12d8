"""The Uniswap V3 venue: SwapRouter swaps priced with the exact tick math, gas modelled per
tick crossed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oms_chain.model.errors import InvalidInput, VenueRejected
from oms_chain.model.intent import Side
from oms_chain.venues.amm._calls import checksum, encode_call
from oms_chain.venues.amm._config import _Route, _Swap
from oms_chain.venues.amm._orders import _UniswapVenue
from oms_chain.venues.amm.quotes import GAS_MODEL, V3_GAS, v3_swap_gas
from oms_chain.venues.amm.v3_math import (
    MathRevert,
    TickDataMissing,
    quote_exact_input_path,
    quote_exact_output_path,
)
from oms_chain.venues.amm.v3_pool import v3_path_hops

__all__ = ["UniswapV3Venue"]

_EXACT_INPUT_SINGLE = (
    "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
)
_EXACT_OUTPUT_SINGLE = (
    "exactOutputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
)
_EXACT_INPUT = "exactInput((bytes,address,uint256,uint256,uint256))"
_EXACT_OUTPUT = "exactOutput((bytes,address,uint256,uint256,uint256))"


class UniswapV3Venue(_UniswapVenue):
    """Uniswap V3 on one chain, swapping through SwapRouter.

    Args:
        account: the shared :class:`ChainAccount` of the signer on this chain.
        venue_id: lower-case name, e.g. ``uniswap-v3-500-31337`` for one fee tier.
        router: the SwapRouter address.
        routes: instrument -> pool addresses from base to quote (one, or several for
            multi-hop).
        config: :class:`AmmVenueConfig`.
    """

    protocol = "uniswap-v3"
    #: Gas per pool the pending-block estimate can miss: a pool writes an oracle observation
    #: only in a block whose timestamp moved on since its last one (one cold slot; half the
    #: V2 pair's two).
    _oracle_gas = 25_000

    def _quote_in(self, states: Sequence[Any], token_in: str, amount_in: int) -> int:
        ordered, _ = self._path(states, token_in)
        try:
            out, results = quote_exact_input_path(v3_path_hops(ordered, token_in), amount_in)
        except (MathRevert, TickDataMissing) as exc:
            raise InvalidInput(str(exc)) from exc
        if results[0].amount_in != amount_in:
            raise InvalidInput(
                f"the pools absorb only {results[0].amount_in} of {amount_in} before their "
                "price limit"
            )
        return out

    def _quote_out(self, states: Sequence[Any], token_in: str, amount_out: int) -> int:
        ordered, _ = self._path(states, token_in)
        try:
            return quote_exact_output_path(v3_path_hops(ordered, token_in), amount_out)[0]
        except (MathRevert, TickDataMissing) as exc:
            raise InvalidInput(str(exc)) from exc

    def _calldata(self, states: Sequence[Any], swap: _Swap, recipient: str, deadline: int) -> bytes:
        ordered, tokens = self._path(states, swap.token_in)
        fees = [int(st.fee) for st in ordered]
        if len(ordered) == 1:
            params = (
                checksum(swap.token_in),
                checksum(swap.token_out),
                fees[0],
                recipient,
                deadline,
                swap.amount,
                swap.bound,
                0,
            )
            return encode_call(
                _EXACT_INPUT_SINGLE if swap.exact_in else _EXACT_OUTPUT_SINGLE, params
            )
        if swap.exact_in:
            path = _v3_path(tokens, fees)
            return encode_call(_EXACT_INPUT, (path, recipient, deadline, swap.amount, swap.bound))
        # exact output paths are encoded from the output token back to the input token
        path = _v3_path(list(reversed(tokens)), list(reversed(fees)))
        return encode_call(_EXACT_OUTPUT, (path, recipient, deadline, swap.amount, swap.bound))

    def _gas_units(self, hops: int) -> int:
        fixed, per_tick = GAS_MODEL[self.protocol]
        return fixed * hops + per_tick

    def _swap_gas(self, states: Sequence[Any], route: _Route, side: Side, base_units: int) -> int:
        """SwapRouter's overhead plus each hop's pool swap as QuoterV2 would measure it (per
        initialized tick crossed and bitmap word walked): a sweeping swap costs millions."""
        inst = route.instrument
        try:
            if side is Side.SELL:
                token_in = self._token(inst.base)
                ordered, _ = self._path(states, token_in)
                hops = v3_path_hops(ordered, token_in)
                results = quote_exact_input_path(hops, base_units)[1]
            else:
                token_in = self._token(inst.quote)
                ordered, _ = self._path(states, token_in)
                hops = v3_path_hops(ordered, token_in)
                results = quote_exact_output_path(hops, base_units)[1]
        except (InvalidInput, VenueRejected):
            return self._gas_units(len(route.pools))
        pools = [pool for pool, _ in hops]
        return V3_GAS.router + sum(v3_swap_gas(p, r) for p, r in zip(pools, results, strict=True))


def _v3_path(tokens: Sequence[str], fees: Sequence[int]) -> bytes:
    """SwapRouter's packed path: token (20 bytes), fee (3 bytes), token, ..."""
    raw = bytes.fromhex(tokens[0][2:])
    for fee, token in zip(fees, tokens[1:], strict=True):
        raw += fee.to_bytes(3, "big") + bytes.fromhex(token[2:])
    return raw
