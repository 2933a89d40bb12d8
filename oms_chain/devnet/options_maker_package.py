"""The devnet maker's package quotes: ``POST /rfq/package`` prices every leg of a structure as
``/rfq`` does and signs them all as ONE ``OptionsMarket`` package (one signature, one record,
the premium netted on chain; see :mod:`oms_chain.venues.options.packages`).

Request: ``{"legs": [{"series_id": 7, "side": "buy", "size": 10}, ...], "taker": "0x..."}``
(``side`` is the taker's, ``size`` the leg's contracts). Answer: ``{"package": {...}}`` in
:meth:`~oms_chain.venues.options.packages.SignedPackage.to_json`'s shape, with ``size`` the
greatest common divisor of the legs' contracts and each leg's ``ratio`` its contracts divided by
it, valid for ``ttl_s`` seconds of chain time; 400 with ``{"error": ...}`` for a bad request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiohttp import web
from eth_utils import is_address, to_checksum_address

from oms_chain.model.errors import InvalidInput
from oms_chain.venues.options.packages import PackageLeg, SignedPackage, package_shape

if TYPE_CHECKING:
    from oms_chain.devnet.options_maker import OptionsMaker

__all__ = ["MAX_LEGS", "quote_package", "rfq_package"]

#: what the market accepts in one package
MAX_LEGS = 16


def quote_package(
    maker: OptionsMaker, legs: Sequence[tuple[int, bool, int]], taker: str
) -> SignedPackage:
    """A signed package for ``legs`` of ``(series_id, taker_buys, contracts)``.

    Raises:
        InvalidInput: no or too many legs, a bad size, an unknown or expired series, the taker
            is the maker.
    """
    if not 1 <= len(legs) <= MAX_LEGS:
        raise InvalidInput(f"a package has 1 to {MAX_LEGS} legs, got {len(legs)}")
    if not isinstance(taker, str) or not is_address(taker):
        raise InvalidInput(f"taker must be an address, got {taker!r}")
    if taker.lower() == maker.address.lower():
        raise InvalidInput("the taker is the maker")
    for i, (_sid, _buys, contracts) in enumerate(legs):
        if contracts > maker.config.max_size:
            raise InvalidInput(
                f"leg {i}: size {contracts} is above the maker's {maker.config.max_size}"
            )
    size, ratios = package_shape([contracts for _, _, contracts in legs])
    now = int(maker.market.w3.eth.get_block("latest")["timestamp"])
    priced = []
    for i, ((sid, taker_buys, _), ratio) in enumerate(zip(legs, ratios, strict=True)):
        try:
            premium = maker.premium(sid, taker_buys, now)
        except InvalidInput as exc:
            raise InvalidInput(f"leg {i}: {exc}") from None
        priced.append(
            PackageLeg(series_id=sid, maker_sells=taker_buys, ratio=ratio, premium=premium)
        )
    unsigned = SignedPackage(
        source="",
        maker=maker.address,
        taker=to_checksum_address(taker),
        legs=tuple(priced),
        size=size,
        deadline=now + maker.config.ttl_s,
        nonce=maker.market.nonce(maker.address),
        allow_partial=True,
        salt=maker.next_salt(),
        signature=b"",
    )
    return replace(unsigned, signature=maker.sign_package(unsigned.as_tuple()))


def _legs(data: Any) -> list[tuple[int, bool, int]]:
    if not isinstance(data, list):
        raise InvalidInput("legs must be a list of {series_id, side, size}")
    out = []
    for i, leg in enumerate(data):
        if not isinstance(leg, dict):
            raise InvalidInput(f"legs[{i}] must be an object")
        sid, side, size = leg.get("series_id"), leg.get("side"), leg.get("size")
        if side not in ("buy", "sell"):
            raise InvalidInput(f"legs[{i}].side must be 'buy' or 'sell', got {side!r}")
        for name, value in (("series_id", sid), ("size", size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"legs[{i}].{name} must be a positive integer, got {value!r}")
        assert isinstance(sid, int) and isinstance(size, int)
        out.append((sid, side == "buy", size))
    return out


async def rfq_package(maker: OptionsMaker, request: web.Request) -> web.Response:
    """``POST /rfq/package`` (see the module doc); 404 when the maker quotes no packages."""
    if not maker.config.packages:
        return web.json_response({"error": "this maker quotes no packages"}, status=404)
    try:
        data = await request.json()
        if not isinstance(data, dict):
            raise InvalidInput("expected a JSON object")
        legs, taker = _legs(data.get("legs")), data.get("taker")
        if not isinstance(taker, str):
            raise InvalidInput("taker (an address) is required")
        package = await asyncio.to_thread(quote_package, maker, legs, taker)
    except InvalidInput as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except ValueError as exc:
        return web.json_response({"error": f"bad request: {exc}"}, status=400)
    body = package.to_json()
    body.pop("source")
    return web.json_response({"package": body})
