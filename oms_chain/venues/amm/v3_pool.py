"""Uniswap V3 pool state: loaded from chain in a few batched calls, kept fresh from pool events.

:class:`V3PoolState` is an immutable value holding what the swap loop needs (price, tick, active
liquidity, fee, tick spacing, the tick bitmap and every initialized tick's liquidity). It quotes
exactly through :mod:`oms_chain.venues.amm.v3_math`, and ``apply_*`` return a new state after a
Swap, Mint or Burn event, so a process can follow a pool from its logs without reloading it.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING, Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak

from oms_chain.chain.rpc import RpcClient, RpcError
from oms_chain.model.errors import InvalidInput, RetryableError
from oms_chain.venues.amm.v3_math import (
    MAX_TICK,
    MIN_TICK,
    InsufficientLiquidity,
    SwapResult,
    SwapWalk,
    add_delta,
    swap,
)

if TYPE_CHECKING:
    from web3 import Web3

__all__ = ["PoolLoadError", "V3PoolState", "fetch_v3_pool", "load_v3_pool", "v3_path_hops"]

# The pool view functions we read: (signature, output types); selectors are derived on first use.
_VIEWS: dict[str, tuple[str, tuple[str, ...]]] = {
    "slot0": ("slot0()", ("uint160", "int24", "uint16", "uint16", "uint16", "uint8", "bool")),
    "liquidity": ("liquidity()", ("uint128",)),
    "fee": ("fee()", ("uint24",)),
    "tickSpacing": ("tickSpacing()", ("int24",)),
    "token0": ("token0()", ("address",)),
    "token1": ("token1()", ("address",)),
    "tickBitmap": ("tickBitmap(int16)", ("uint256",)),
    "ticks": (
        "ticks(int24)",
        ("uint128", "int128", "uint256", "uint256", "int56", "uint160", "uint32", "bool"),
    ),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class V3PoolState:
    """A Uniswap V3 pool's swap-relevant state at ``block_number``.

    ``tick_bitmap`` maps word positions to 256-bit words (as ``tickBitmap``), ``liquidity_net``
    and ``liquidity_gross`` map each initialized tick to its liquidity values. ``word_range``
    (inclusive) lists the bitmap words that were loaded; ``None`` means the whole tick range.
    The mappings are never mutated: ``apply_*`` build new ones.
    """

    address: str
    token0: str
    token1: str
    fee: int
    tick_spacing: int
    sqrt_price_x96: int
    tick: int
    liquidity: int
    tick_bitmap: Mapping[int, int]
    liquidity_net: Mapping[int, int]
    liquidity_gross: Mapping[int, int]
    word_range: tuple[int, int] | None = None
    block_number: int | None = None
    # Memoized swap paths per direction (see SwapWalk); not part of the value.
    _walks: dict[bool, SwapWalk] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    # -- quoting ------------------------------------------------------------------------------

    def swap(
        self,
        zero_for_one: bool,
        amount_specified: int,
        sqrt_price_limit_x96: int | None = None,
    ) -> SwapResult:
        """Simulate ``pool.swap`` exactly; ``amount_specified`` > 0 exact input, < 0 exact output.

        Without a price limit, quotes go through a memoized :class:`SwapWalk` per direction, so
        repeated quotes on one state cost about the same however many ticks they cross.
        Raises :class:`~oms_chain.venues.amm.v3_math.MathRevert` where the pool would revert and
        :class:`~oms_chain.venues.amm.v3_math.TickDataMissing` past the loaded bitmap words.
        """
        if sqrt_price_limit_x96 is None:
            walk = self._walks.get(zero_for_one)
            if walk is None:
                walk = self._walks.setdefault(
                    zero_for_one,
                    SwapWalk(
                        sqrt_price_x96=self.sqrt_price_x96,
                        tick=self.tick,
                        liquidity=self.liquidity,
                        fee=self.fee,
                        tick_spacing=self.tick_spacing,
                        tick_bitmap=self.tick_bitmap,
                        liquidity_net=self.liquidity_net,
                        zero_for_one=zero_for_one,
                        word_range=self.word_range,
                    ),
                )
            return walk.swap(amount_specified)
        return swap(
            sqrt_price_x96=self.sqrt_price_x96,
            tick=self.tick,
            liquidity=self.liquidity,
            fee=self.fee,
            tick_spacing=self.tick_spacing,
            tick_bitmap=self.tick_bitmap,
            liquidity_net=self.liquidity_net,
            zero_for_one=zero_for_one,
            amount_specified=amount_specified,
            sqrt_price_limit_x96=sqrt_price_limit_x96,
            word_range=self.word_range,
        )

    def zero_for_one(self, token_in: str) -> bool:
        """True when ``token_in`` is token0; raises :class:`InvalidInput` if not a pool token."""
        if token_in == self.token0:
            return True
        if token_in == self.token1:
            return False
        key = token_in.lower()
        if key == self.token0.lower():
            return True
        if key == self.token1.lower():
            return False
        raise InvalidInput(f"token {token_in} is not in pool {self.address}")

    def quote_exact_input(
        self, token_in: str, amount_in: int, sqrt_price_limit_x96: int | None = None
    ) -> SwapResult:
        """Exact-input quote, as QuoterV2.quoteExactInputSingle (base units, fee included).

        With the default price limit a swap larger than the pool can absorb stops at the extreme
        price and the result shows the partial amounts.
        """
        if amount_in <= 0:
            raise InvalidInput(f"amount_in must be > 0, got {amount_in}")
        return self.swap(self.zero_for_one(token_in), amount_in, sqrt_price_limit_x96)

    def quote_exact_output(
        self, token_in: str, amount_out: int, sqrt_price_limit_x96: int | None = None
    ) -> SwapResult:
        """Exact-output quote, as QuoterV2.quoteExactOutputSingle.

        Without a price limit the full ``amount_out`` must be deliverable, else
        :class:`~oms_chain.venues.amm.v3_math.InsufficientLiquidity` (the quoter reverts too).
        """
        if amount_out <= 0:
            raise InvalidInput(f"amount_out must be > 0, got {amount_out}")
        result = self.swap(self.zero_for_one(token_in), -amount_out, sqrt_price_limit_x96)
        if sqrt_price_limit_x96 is None and result.amount_out != amount_out:
            raise InsufficientLiquidity(
                f"pool {self.address} can deliver only {result.amount_out} of the "
                f"{amount_out} requested"
            )
        return result

    # -- keeping fresh from events --------------------------------------------------------------

    def apply_swap(
        self,
        sqrt_price_x96: int,
        liquidity: int,
        tick: int,
        *,
        block_number: int | None = None,
    ) -> V3PoolState:
        """The state after a Swap event (its ``sqrtPriceX96``, ``liquidity`` and ``tick``)."""
        return replace(
            self,
            sqrt_price_x96=sqrt_price_x96,
            liquidity=liquidity,
            tick=tick,
            block_number=block_number if block_number is not None else self.block_number,
        )

    def apply_mint(
        self, tick_lower: int, tick_upper: int, amount: int, *, block_number: int | None = None
    ) -> V3PoolState:
        """The state after a Mint event adding ``amount`` liquidity on [tick_lower, tick_upper)."""
        if amount < 0:
            raise InvalidInput(f"Mint amount must be >= 0, got {amount}")
        return self._modify(tick_lower, tick_upper, amount, block_number)

    def apply_burn(
        self, tick_lower: int, tick_upper: int, amount: int, *, block_number: int | None = None
    ) -> V3PoolState:
        """The state after a Burn event taking ``amount`` liquidity off [tick_lower, tick_upper)."""
        if amount < 0:
            raise InvalidInput(f"Burn amount must be >= 0, got {amount}")
        return self._modify(tick_lower, tick_upper, -amount, block_number)

    def apply_event(
        self, event_name: str, args: Mapping[str, Any], block_number: int | None = None
    ) -> V3PoolState:
        """Apply one decoded pool event by name (``Swap``, ``Mint``, ``Burn``); others are ignored.

        ``args`` are the event's decoded arguments as web3 returns them
        (``contract.events.Swap().process_log(log)["args"]``).
        """
        if event_name == "Swap":
            return self.apply_swap(
                int(args["sqrtPriceX96"]),
                int(args["liquidity"]),
                int(args["tick"]),
                block_number=block_number,
            )
        if event_name == "Mint":
            return self.apply_mint(
                int(args["tickLower"]),
                int(args["tickUpper"]),
                int(args["amount"]),
                block_number=block_number,
            )
        if event_name == "Burn":
            return self.apply_burn(
                int(args["tickLower"]),
                int(args["tickUpper"]),
                int(args["amount"]),
                block_number=block_number,
            )
        return self

    def _modify(
        self, tick_lower: int, tick_upper: int, delta: int, block_number: int | None
    ) -> V3PoolState:
        if not MIN_TICK <= tick_lower < tick_upper <= MAX_TICK:
            raise InvalidInput(f"bad position range [{tick_lower}, {tick_upper})")
        if delta == 0:
            return self
        bitmap = dict(self.tick_bitmap)
        net = dict(self.liquidity_net)
        gross = dict(self.liquidity_gross)
        for t, net_delta in ((tick_lower, delta), (tick_upper, -delta)):
            compressed = t // self.tick_spacing
            word = compressed >> 8
            if self.word_range is not None and not (
                self.word_range[0] <= word <= self.word_range[1]
            ):
                continue  # that word was never loaded; its ticks stay unknown
            before = gross.get(t, 0)
            after = add_delta(before, delta)
            if after == 0:
                gross.pop(t, None)
                net.pop(t, None)
            else:
                gross[t] = after
                net[t] = net.get(t, 0) + net_delta
            if (before == 0) != (after == 0):
                bitmap[word] = bitmap.get(word, 0) ^ (1 << (compressed & 0xFF))
                if bitmap[word] == 0:
                    del bitmap[word]
        liquidity = self.liquidity
        if tick_lower <= self.tick < tick_upper:
            liquidity = add_delta(liquidity, delta)
        return replace(
            self,
            liquidity=liquidity,
            tick_bitmap=bitmap,
            liquidity_net=net,
            liquidity_gross=gross,
            block_number=block_number if block_number is not None else self.block_number,
        )


def v3_path_hops(pools: Sequence[V3PoolState], token_in: str) -> list[tuple[V3PoolState, bool]]:
    """``(pool, zero_for_one)`` pairs for a path starting with ``token_in``, in trading order.

    Raises :class:`InvalidInput` if consecutive pools do not share the traded token.
    """
    hops = []
    token = token_in
    for pool in pools:
        zero_for_one = pool.zero_for_one(token)
        hops.append((pool, zero_for_one))
        token = pool.token1 if zero_for_one else pool.token0
    return hops


# ---------------------------------------------------------------------------------------------
# Loading


class PoolLoadError(RetryableError):
    """The node answered a pool read with an error (or not at all); try again or another node."""


_Calls = list[tuple[str, tuple[Any, ...]]]
_Decoded = list[tuple[Any, ...]]
_Plan = Generator[_Calls, _Decoded, "V3PoolState"]


def load_v3_pool(
    w3: Web3,
    address: str,
    *,
    word_radius: int | None = None,
    block_identifier: int | str = "latest",
    batch_size: int = 1000,
    use_batch: bool = True,
) -> V3PoolState:
    """Read a pool's state in four round trips, all pinned to one block, through a synchronous
    web3 (scripts, the CLI's one-shot quotes); :func:`fetch_v3_pool` is the same on our async
    :class:`~oms_chain.chain.rpc.RpcClient`.

    1. the block number (when ``block_identifier`` is a tag), 2. slot0, liquidity, fee,
    tickSpacing, token0, token1, 3. the bitmap words within ``word_radius`` words of the current
    tick (``None``: every word of the valid tick range, so swaps never run out of tick data;
    about 700 words at tick spacing 10), 4. ``ticks(i)`` for every initialized tick found.

    Calls go out as JSON-RPC batches of at most ``batch_size`` through the provider's
    ``make_batch_request`` (web3's JSON providers, 7 and 8), or one by one when ``use_batch`` is
    false or the provider is not a JSON provider. web3's ``batch_requests()`` context gives the
    same wire traffic but formats each call through the contract machinery, which measured ~20x
    slower here, so calls are encoded with eth-abi directly. Raises :class:`PoolLoadError` if
    the node returns errors.
    """
    _check_load_args(word_radius, batch_size)
    from web3 import Web3 as _Web3
    from web3.providers.base import JSONBaseProvider

    pool_address = _Web3.to_checksum_address(address)
    block = w3.eth.block_number if isinstance(block_identifier, str) else int(block_identifier)
    provider: Any = w3.provider
    batching = use_batch and isinstance(provider, JSONBaseProvider)
    plan = _load_plan(pool_address, block, word_radius)
    calls = next(plan)
    while True:
        requests = _requests(pool_address, block, calls)
        responses: list[Any] = []
        if batching:
            try:
                for at in range(0, len(requests), batch_size):
                    answer = provider.make_batch_request(requests[at : at + batch_size])
                    if not isinstance(answer, list):
                        raise PoolLoadError(f"batch eth_call failed: {answer!r}")
                    responses.extend(answer)
            except NotImplementedError:  # a JSON provider that declares it cannot batch
                batching, responses = False, []
        if not batching:
            responses = [provider.make_request(method, params) for method, params in requests]
        try:
            calls = plan.send(_decode(pool_address, calls, responses))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


async def fetch_v3_pool(
    rpc: RpcClient,
    address: str,
    *,
    word_radius: int | None = None,
    block_identifier: int | str = "latest",
    batch_size: int = 1000,
) -> V3PoolState:
    """:func:`load_v3_pool` on our async RPC client: the same reads, pinned to one block, as
    JSON-RPC batches of at most ``batch_size`` (with the client's failover and call counting).

    Raises:
        InvalidInput: bad arguments, or ``address`` is not a Uniswap V3 pool.
        PoolLoadError: the node answered a read with an error (retryable).
        RpcUnavailable: no endpoint answered (retryable).
    """
    _check_load_args(word_radius, batch_size)
    from eth_utils import to_checksum_address

    try:
        pool_address = str(to_checksum_address(address))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"not an address: {address!r}") from exc
    block = await rpc.block_number() if isinstance(block_identifier, str) else int(block_identifier)
    plan = _load_plan(pool_address, block, word_radius)
    calls = next(plan)
    while True:
        requests = _requests(pool_address, block, calls)
        responses: list[Any] = []
        for at in range(0, len(requests), batch_size):
            chunk = requests[at : at + batch_size]
            try:
                results = await rpc.batch([(m, list(p)) for m, p in chunk])
            except RpcError as exc:
                responses.extend({"error": {"message": exc.rpc_message}} for _ in chunk)
                continue
            responses.extend({"result": r} for r in results)
        try:
            calls = plan.send(_decode(pool_address, calls, responses))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


def _check_load_args(word_radius: int | None, batch_size: int) -> None:
    if word_radius is not None and word_radius < 0:
        raise InvalidInput(f"word_radius must be >= 0 or None, got {word_radius}")
    if batch_size <= 0:
        raise InvalidInput(f"batch_size must be > 0, got {batch_size}")


def _load_plan(pool_address: str, block: int, word_radius: int | None) -> _Plan:
    """The reads of one pool load, without I/O: yields the view calls of each round trip and
    receives their decoded answers; returns the state."""
    from eth_utils import to_checksum_address

    slot0, (liquidity,), (fee,), (spacing,), (token0,), (token1,) = yield [
        ("slot0", ()),
        ("liquidity", ()),
        ("fee", ()),
        ("tickSpacing", ()),
        ("token0", ()),
        ("token1", ()),
    ]
    tick = int(slot0[1])
    spacing = int(spacing)
    min_word = (MIN_TICK // spacing) >> 8
    max_word = (MAX_TICK // spacing) >> 8
    word_range: tuple[int, int] | None
    if word_radius is None:
        lo, hi, word_range = min_word, max_word, None
    else:
        here = (tick // spacing) >> 8
        lo, hi = max(min_word, here - word_radius), min(max_word, here + word_radius)
        word_range = (lo, hi)
    words = list(range(lo, hi + 1))
    values = yield [("tickBitmap", (w,)) for w in words]
    bitmap = {w: int(v[0]) for w, v in zip(words, values, strict=True) if v[0]}
    initialized = [
        ((w << 8) + b) * spacing for w, v in bitmap.items() for b in range(256) if (v >> b) & 1
    ]
    infos = yield [("ticks", (t,)) for t in initialized]
    return V3PoolState(
        address=pool_address,
        token0=str(to_checksum_address(token0)),
        token1=str(to_checksum_address(token1)),
        fee=int(fee),
        tick_spacing=spacing,
        sqrt_price_x96=int(slot0[0]),
        tick=tick,
        liquidity=int(liquidity),
        tick_bitmap=bitmap,
        liquidity_net={t: int(i[1]) for t, i in zip(initialized, infos, strict=True)},
        liquidity_gross={t: int(i[0]) for t, i in zip(initialized, infos, strict=True)},
        word_range=word_range,
        block_number=block,
    )


def _requests(address: str, block: int, calls: _Calls) -> list[tuple[str, list[Any]]]:
    """The ``eth_call`` requests of ``calls`` on ``address`` at ``block``."""
    out: list[tuple[str, list[Any]]] = []
    for name, args in calls:
        signature, _ = _VIEWS[name]
        selector, inputs = _selector(signature)
        data = "0x" + (selector + abi_encode(inputs, args)).hex()
        out.append(("eth_call", [{"to": address, "data": data}, hex(block)]))
    return out


def _decode(address: str, calls: _Calls, responses: Sequence[Any]) -> _Decoded:
    """Decoded answers of ``calls`` from JSON-RPC responses (``result`` or ``error``)."""
    results = []
    for (name, args), response in zip(calls, responses, strict=True):
        types = _VIEWS[name][1]
        if not isinstance(response, Mapping) or "result" not in response:
            error = response.get("error") if isinstance(response, Mapping) else None
            if isinstance(error, Mapping) and "revert" in str(error.get("message", "")):
                raise InvalidInput(
                    f"{address} reverted on {name}{args}: not a Uniswap V3 pool "
                    "(or not on this chain)"
                )
            raise PoolLoadError(f"{name}{args} on {address} failed: {response!r}")
        try:
            results.append(abi_decode(types, bytes.fromhex(str(response["result"])[2:])))
        except DecodingError as exc:
            raise InvalidInput(
                f"{address} answered {name}{args} with {response['result']!r}: "
                "not a Uniswap V3 pool (or no contract at that address on this chain)"
            ) from exc
    return results


@cache
def _selector(signature: str) -> tuple[bytes, tuple[str, ...]]:
    inner = signature[signature.index("(") + 1 : -1]
    return keccak(text=signature)[:4], tuple(t for t in inner.split(",") if t)
