"""Package quotes on the devnet's OptionsMarket: the maker signs every leg of a structure at
once, the digest our code computes is the contract's, the venue refuses a package that was
tampered with or went stale, and a maker without packages still gets the structure filled with
one quote per leg."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from onchain_helpers import call_of, market, onchain_venue, put_of, store_at

from oms_chain.devnet.options_maker import MakerConfig, OptionsMaker
from oms_chain.devnet.options_maker_package import quote_package
from oms_chain.devnet.options_market import OptionsMarketClient
from oms_chain.devnet.world import DevAccount, DevnetChain
from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import client_order_id
from oms_chain.model.intent import Side
from oms_chain.venues.base import PlaceOrder
from oms_chain.venues.options import OnchainOptionsVenue
from oms_chain.venues.options.batch import AtomicOptionsBatch
from oms_chain.venues.options.batch_package import PackageRequest, _problem, best_package
from oms_chain.venues.options.packages import PackageLeg, package_digest, package_shape

D = Decimal
WETH_ABI = [
    {
        "name": "deposit",
        "type": "function",
        "inputs": [],
        "outputs": [],
        "stateMutability": "payable",
    }
]


def _fund(l1: DevnetChain, owner: str, executor: str, maker: str) -> None:
    """USDC for the executor, WETH for the maker (who writes the calls it sells)."""
    from onchain_helpers import erc20

    tx = erc20(l1, "USDC").functions.transfer(executor, 50_000 * 10**6).transact({"from": owner})
    assert l1.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    weth = l1.w3.eth.contract(address=l1.book.address("WETH"), abi=WETH_ABI)
    tx = weth.functions.deposit().transact({"from": maker, "value": 10 * 10**18})
    assert l1.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


@pytest.fixture
async def venue(
    l1: DevnetChain,
    maker: OptionsMaker,
    maker_account: DevAccount,
    devnet_accounts: tuple[DevAccount, ...],
    tmp_path: Path,
) -> AsyncIterator[OnchainOptionsVenue]:
    owner = devnet_accounts[0]
    executor = l1.book.address("BatchExecutor")
    _fund(l1, owner.address, executor, maker_account.address)
    async with onchain_venue(
        l1, owner.private_key, store_at(tmp_path), (maker.url,), executor=executor
    ) as v:
        yield v


def _spread(venue: OnchainOptionsVenue, tag: str, size: str = "1") -> list[PlaceOrder]:
    """A put spread: buy the 3,000 put, sell the 2,500 put, ``size`` ETH each."""
    return [
        PlaceOrder(
            client_order_id=client_order_id(f"{tag}-{i}", 0),
            instrument=put_of(venue, strike),
            side=side,
            quantity=D(size),
            limit_price=None,
        )
        for i, (strike, side) in enumerate(((3000, Side.BUY), (2500, Side.SELL)))
    ]


def _requests(venue: OnchainOptionsVenue, orders: list[PlaceOrder]) -> list[PackageRequest]:
    out = []
    for o in orders:
        listing = venue.listing(o.instrument)
        out.append(
            PackageRequest(
                order=o, listing=listing, contracts=venue._contracts(listing, o.quantity)
            )
        )
    return out


def test_package_shape_is_the_gcd_of_the_legs_and_refuses_bad_counts() -> None:
    assert package_shape([10, 20, 10]) == (10, (1, 2, 1))
    assert package_shape([7]) == (7, (1,))
    for bad in ([], [0, 3], [True], [-1]):
        with pytest.raises(InvalidInput):
            package_shape(bad)  # type: ignore[arg-type]


async def test_the_digest_we_compute_is_the_contracts_and_the_maker_signs_it(
    l1: DevnetChain, maker: OptionsMaker, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    mk = market(l1)
    sids = [s.series_id for s in mk.all_series()][:3]
    taker = devnet_accounts[0].address
    pkg = await asyncio.to_thread(
        quote_package,
        maker,
        [(sids[0], True, 10), (sids[1], False, 20), (sids[2], True, 30)],
        taker,
    )
    assert (pkg.size, [g.ratio for g in pkg.legs]) == (10, [1, 2, 3])
    assert [g.maker_sells for g in pkg.legs] == [True, False, True]
    ours = package_digest(pkg.as_tuple(), chain_id=l1.chain_id, market=mk.address)
    assert ours == mk.hash_package(pkg.as_tuple())
    from oms_chain.venues.options.quotes import recovers_to

    assert recovers_to(ours, pkg.signature, maker.address)
    (left,) = [mk.contract.functions.remainingPackage(pkg.as_tuple()).call()]
    assert left == 10


def test_our_digest_is_the_contracts_for_random_packages(l1: DevnetChain) -> None:
    """Seeded random packages: 0 to 20 legs (beyond the 16 a fill takes: the digest is still
    defined), extreme and random words in every field, either taker."""
    import random

    from eth_utils import to_checksum_address

    mk = market(l1)
    rng = random.Random(20261203)

    def word() -> int:
        return rng.choice([0, 1, 2**256 - 1, rng.getrandbits(rng.choice([8, 64, 256]))])

    def address() -> str:
        return to_checksum_address(rng.getrandbits(160).to_bytes(20, "big"))

    for n in (0, 1, 2, 3, 4, 7, 16, 20):
        for _ in range(4):
            legs = [(word(), rng.random() < 0.5, word(), word()) for _ in range(n)]
            taker = rng.choice(["0x" + "00" * 20, address()])
            fields = (address(), taker, legs, word(), word(), word(), rng.random() < 0.5, word())
            ours = package_digest(fields, chain_id=l1.chain_id, market=mk.address)
            assert ours == mk.hash_package(fields), fields


async def test_the_maker_refuses_bad_package_requests_with_the_reason(
    maker: OptionsMaker, maker_account: DevAccount, devnet_accounts: tuple[DevAccount, ...]
) -> None:
    taker = devnet_accounts[0].address
    cases = [
        ({"legs": [], "taker": taker}, "1 to 16 legs"),
        ({"legs": [{"series_id": 1, "side": "up", "size": 1}], "taker": taker}, "legs[0].side"),
        ({"legs": [{"series_id": 1, "side": "buy", "size": 0}], "taker": taker}, "legs[0].size"),
        ({"legs": [{"series_id": 999, "side": "buy", "size": 1}], "taker": taker}, "leg 0"),
        ({"legs": [{"series_id": 1, "side": "buy", "size": 1}]}, "taker"),
        (
            {"legs": [{"series_id": 1, "side": "buy", "size": 1}], "taker": maker_account.address},
            "the taker is the maker",
        ),
    ]
    async with aiohttp.ClientSession() as http:
        for body, reason in cases:
            async with http.post(maker.url + "/rfq/package", json=body) as resp:
                data = await resp.json()
                assert resp.status == 400, body
                assert reason in data["error"], (body, data)


async def test_a_tampered_or_stale_package_is_refused_by_the_venue(
    l1: DevnetChain, venue: OnchainOptionsVenue, maker_account: DevAccount
) -> None:
    asked = _requests(venue, _spread(venue, "t"))
    pkg, problems = await best_package(venue, asked)
    assert pkg is not None, problems
    next_block = await venue.chain_time() + 1
    assert await _problem(venue, pkg, asked, next_block) is None
    cheaper = replace(pkg.legs[0], premium=pkg.legs[0].premium - 1)
    tampered = [
        replace(pkg, legs=(cheaper, pkg.legs[1])),  # a leg's price
        replace(pkg, taker="0x" + "00" * 20),  # opened to anyone
        replace(pkg, salt=pkg.salt + 1),
    ]
    for bad in tampered:
        problem = await _problem(venue, bad, asked, next_block)
        assert problem is not None and "signature does not verify" in problem, problem
    wrong_side = replace(pkg, legs=(PackageLeg(pkg.legs[0].series_id, False, 1, 1), pkg.legs[1]))
    assert "wrong side" in (await _problem(venue, wrong_side, asked, next_block) or "")
    assert "expired" in (await _problem(venue, pkg, asked, pkg.deadline + 1) or "")
    tx = market(l1).contract.functions.bumpNonce().transact({"from": maker_account.address})
    assert l1.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    assert "nonce" in (await _problem(venue, pkg, asked, next_block) or "")


async def test_a_maker_without_packages_still_fills_the_structure_with_one_quote_per_leg(
    l1: DevnetChain,
    devnet_accounts: tuple[DevAccount, ...],
    maker_account: DevAccount,
    tmp_path: Path,
) -> None:
    owner = devnet_accounts[0]
    executor = l1.book.address("BatchExecutor")
    _fund(l1, owner.address, executor, maker_account.address)
    plain = OptionsMaker(
        OptionsMarketClient.from_book(l1.w3, l1.book),
        maker_account.private_key,
        config=MakerConfig(max_size=1_000_000, packages=False),
    )
    await asyncio.to_thread(plain.prepare)
    async with (
        plain,
        onchain_venue(
            l1, owner.private_key, store_at(tmp_path), (plain.url,), executor=executor
        ) as v,
    ):
        batch = AtomicOptionsBatch(v)
        call = PlaceOrder(
            client_order_id=client_order_id("plain-call", 0),
            instrument=call_of(v, 3500),
            side=Side.BUY,
            quantity=D("0.5"),
            limit_price=None,
        )
        orders = [*_spread(v, "plain"), call]
        prepared = await batch.prepare(
            client_order_id("plain", 0), orders, max_net_premium=D(10_000)
        )
        assert prepared.package is None and all(leg.quote is not None for leg in prepared.legs)
        done = await batch.wait((await batch.send(prepared)).batch_id)
        assert done.all_filled and done.filled == (10, 10, 5)


async def test_a_package_structure_fills_each_leg_its_own_contracts_and_nets_the_premium(
    l1: DevnetChain, venue: OnchainOptionsVenue
) -> None:
    from onchain_helpers import balance

    batch = AtomicOptionsBatch(venue)
    call = PlaceOrder(
        client_order_id=client_order_id("net-call", 0),
        instrument=call_of(venue, 3500),
        side=Side.BUY,
        quantity=D("0.3"),
        limit_price=None,
    )
    orders = [*_spread(venue, "net", "2"), call]
    prepared = await batch.prepare(client_order_id("net", 0), orders, max_net_premium=D(10_000))
    pkg = prepared.package
    assert pkg is not None and pkg.size == 1 and [g.ratio for g in pkg.legs] == [20, 20, 3]
    assert prepared.net_premium > 0  # a debit: the bought put and call cost more than the sale
    usdc0 = balance(l1, "USDC", venue.holder)
    done = await batch.wait((await batch.send(prepared)).batch_id)
    assert done.all_filled and done.filled == (20, 20, 3)
    put_collateral = 20 * 2500 * 10**5  # 20 contracts x 0.1 ETH x 2,500 USDC
    assert usdc0 - balance(l1, "USDC", venue.holder) == prepared.net_premium + put_collateral
    paid, received = pkg.premiums(1)
    assert paid - received == prepared.net_premium
    # exact approvals: nothing left approved to the market after the batch
    from onchain_helpers import erc20

    usdc = erc20(l1, "USDC")
    assert usdc.functions.allowance(venue.holder, venue.market_address).call() == 0


async def test_a_package_is_taken_only_when_no_worse_than_the_best_single_quotes(
    l1: DevnetChain,
    devnet_accounts: tuple[DevAccount, ...],
    maker_account: DevAccount,
    tmp_path: Path,
) -> None:
    owner = devnet_accounts[0]
    executor = l1.book.address("BatchExecutor")
    _fund(l1, owner.address, executor, maker_account.address)

    def agent(spread: str, packages: bool) -> OptionsMaker:
        return OptionsMaker(
            OptionsMarketClient.from_book(l1.w3, l1.book),
            maker_account.private_key,
            config=MakerConfig(max_size=1_000_000, spread=D(spread), packages=packages),
        )

    wide_package, tight_single = agent("0.10", True), agent("0", False)
    await asyncio.to_thread(wide_package.prepare)
    for i, (pair, want_package) in enumerate(
        (((wide_package, tight_single), False), ((agent("0", True), agent("0.10", False)), True))
    ):
        async with (
            pair[0],
            pair[1],
            onchain_venue(
                l1,
                owner.private_key,
                store_at(tmp_path, f"v{i}.db"),
                (pair[0].url, pair[1].url),
                executor=executor,
            ) as v,
        ):
            batch = AtomicOptionsBatch(v)
            orders = _spread(v, f"cmp{i}")
            prepared = await batch.prepare(
                client_order_id(f"cmp{i}", 0), orders, max_net_premium=D(10_000)
            )
            pkg, _ = await best_package(v, _requests(v, orders))
            assert pkg is not None
            package_net = pkg.premiums(pkg.size)[0] - pkg.premiums(pkg.size)[1]
            if want_package:  # the package from the tight maker beats the wide single quotes
                assert prepared.package is not None and prepared.net_premium == package_net
            else:  # the tight maker's single quotes net less than the wide maker's package
                assert prepared.package is None, (prepared.net_premium, package_net)
                assert all(leg.quote is not None for leg in prepared.legs)
                assert prepared.net_premium < package_net
                done = await batch.wait((await batch.send(prepared)).batch_id)
                assert done.all_filled and done.filled == (10, 10)
