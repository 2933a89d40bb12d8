"""Package RFQ for :class:`~oms_chain.venues.options.batch.AtomicOptionsBatch`: every maker of
the venue is asked for ONE signed package covering all legs (``POST /rfq/package``), each answer
is checked against the request and the chain exactly as a single quote is (legs, sides and
contracts as asked, taker, deadline against chain time, the maker's nonce, what the market still
lets fill, the signature for this chain and market, each leg's limit price), and the one with
the lowest net premium is chosen. A maker that does not answer packages is simply not chosen;
with no fillable package the batch falls back to one quote per leg.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from eth_abi import decode as abi_decode

from oms_chain.chain.rpc import RpcError
from oms_chain.chain.types import Receipt
from oms_chain.model.errors import InvalidInput
from oms_chain.model.intent import Side
from oms_chain.venues.amm._calls import encode_call, eth_call
from oms_chain.venues.base import PlaceOrder
from oms_chain.venues.options.onchain import OnchainOptionsVenue, SeriesListing
from oms_chain.venues.options.onchain._base import _ZERO
from oms_chain.venues.options.packages import (
    PACKAGE_FILLED,
    REMAINING_PACKAGE,
    SignedPackage,
    package_digest,
)
from oms_chain.venues.options.quotes import ERC1271_MAGIC, recovers_to

__all__ = ["PackageRequest", "best_package", "package_fills"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageRequest:
    """One leg asked for: the order, its listing and its contracts."""

    order: PlaceOrder
    listing: SeriesListing
    contracts: int


async def best_package(
    venue: OnchainOptionsVenue, legs: Sequence[PackageRequest]
) -> tuple[SignedPackage | None, list[str]]:
    """The fillable package with the lowest net premium for ``legs`` (``None`` when no maker
    offers one), and why each other answer was refused."""
    http = venue._http
    assert http is not None, "start() the venue first"
    body = {
        "legs": [
            {
                "series_id": leg.listing.series_id,
                "side": leg.order.side.value,
                "size": leg.contracts,
            }
            for leg in legs
        ],
        "taker": venue.holder,
        "chain_id": venue.account.chain.chain_id,
    }
    timeout = aiohttp.ClientTimeout(total=venue._cfg.rfq_timeout_s)

    async def one(url: str) -> SignedPackage | str:
        try:
            async with http.post(
                url.rstrip("/") + "/rfq/package", json=body, timeout=timeout
            ) as resp:
                data = await resp.json(content_type=None)
                if resp.status != 200 or not isinstance(data, dict) or "package" not in data:
                    error = data.get("error") if isinstance(data, dict) else data
                    return f"{url}: no package ({error or resp.status})"
                return SignedPackage.from_json(url, data["package"])
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return f"{url}: no package answer ({type(exc).__name__}: {exc})"
        except InvalidInput as exc:
            return str(exc)

    answers = await asyncio.gather(*(one(u) for u in venue._cfg.makers))
    problems = [a for a in answers if isinstance(a, str)]
    next_block = await venue.chain_time() + 1
    good: list[SignedPackage] = []
    for pkg in answers:
        if isinstance(pkg, str):
            continue
        try:
            problem = await _problem(venue, pkg, legs, next_block)
        except (RpcError, ValueError) as exc:  # the node refused a check call: not fillable
            problem = f"package from {pkg.source} not checked: {exc}"
        if problem is None:
            good.append(pkg)
        else:
            problems.append(problem)
    if not good:
        return None, problems
    paid_less = min(good, key=lambda p: p.premiums(p.size)[0] - p.premiums(p.size)[1])
    return paid_less, problems


async def _problem(
    venue: OnchainOptionsVenue,
    pkg: SignedPackage,
    legs: Sequence[PackageRequest],
    next_block: int,
) -> str | None:
    """Why ``pkg`` must not be filled in full for ``legs``, or ``None`` when it may."""
    where = f"package from {pkg.source}"
    if len(pkg.legs) != len(legs):
        return f"{where} has {len(pkg.legs)} legs, we asked for {len(legs)}"
    for i, (got, want) in enumerate(zip(pkg.legs, legs, strict=True)):
        if got.series_id != want.listing.series_id:
            return f"{where}: leg {i} is for series {got.series_id}, not {want.listing.series_id}"
        if got.maker_sells is not (want.order.side is Side.BUY):
            return f"{where}: leg {i} is on the wrong side"
        if got.ratio * pkg.size != want.contracts:
            return (
                f"{where}: leg {i} fills {got.ratio * pkg.size} contracts, we need {want.contracts}"
            )
        limit = want.order.limit_price
        price = venue._unit_price(want.listing, got.premium)
        buy = want.order.side is Side.BUY
        if limit is not None and ((buy and price > limit) or (not buy and price < limit)):
            return f"{where}: leg {i} prices {price} per unit, beyond the limit {limit}"
    if pkg.taker not in (_ZERO, venue.holder):
        return f"{where} may only be filled by {pkg.taker}"
    if pkg.maker == venue.holder:
        return f"{where} is our own"
    if pkg.deadline < next_block:
        return f"{where} expired at {pkg.deadline} (next block at {next_block} or later)"
    rpc = venue.account.rpc
    market = venue.market_address
    (nonce,) = await eth_call(rpc, market, encode_call("nonces(address)", pkg.maker), ["uint256"])
    if int(nonce) != pkg.nonce:
        return f"{where} has nonce {pkg.nonce}, the maker's is {nonce} (cancelled)"
    # what the market itself still lets fill: filled units, cancellation, every leg's series
    (left,) = await eth_call(
        rpc, market, encode_call(REMAINING_PACKAGE, pkg.as_tuple()), ["uint256"]
    )
    if int(left) < pkg.size:
        return f"{where} has {left} of its {pkg.size} units left to fill on the market"
    if not await _signature_ok(venue, pkg):
        return (
            f"{where}: the signature does not verify for maker {pkg.maker} on chain "
            f"{venue.account.chain.chain_id} and market {market}"
        )
    return None


async def _signature_ok(venue: OnchainOptionsVenue, pkg: SignedPackage) -> bool:
    cfg = venue._cfg
    digest = package_digest(
        pkg.as_tuple(),
        chain_id=venue.account.chain.chain_id,
        market=venue.market_address,
        name=cfg.eip712_name,
        version=cfg.eip712_version,
    )
    rpc = venue.account.rpc
    code = await rpc.call("eth_getCode", [pkg.maker, "latest"])
    if code and code != "0x":
        try:
            (magic,) = await eth_call(
                rpc,
                pkg.maker,
                encode_call("isValidSignature(bytes32,bytes)", digest, pkg.signature),
                ["bytes4"],
            )
        except (RpcError, ValueError):
            return False
        return bytes(magic) == ERC1271_MAGIC
    return recovers_to(digest, pkg.signature, pkg.maker)


def package_fills(
    venue: OnchainOptionsVenue, package: Mapping[str, Any], receipt: Receipt
) -> tuple[int, ...]:
    """Contracts per leg a receipt filled of a journaled package
    (:meth:`SignedPackage.to_json`'s shape): the units of its ``PackageFilled`` logs times each
    leg's ratio (zero when the receipt has none)."""
    pkg = SignedPackage.from_json(str(package.get("source", "")), package)
    cfg = venue._cfg
    digest = package_digest(
        pkg.as_tuple(),
        chain_id=venue.account.chain.chain_id,
        market=venue.market_address,
        name=cfg.eip712_name,
        version=cfg.eip712_version,
    )
    market = venue.market_address.lower()
    units = 0
    for log in receipt.logs:
        topics = [t.lower() for t in log.topics]
        if log.address.lower() != market or len(topics) < 2 or topics[0] != PACKAGE_FILLED:
            continue
        if topics[1] != "0x" + digest.hex():
            continue
        got, _total, _paid, _received = abi_decode(
            ["uint256", "uint256", "uint256", "uint256"], bytes.fromhex(log.data[2:])
        )
        units += int(got)
    return tuple(units * leg.ratio for leg in pkg.legs)
