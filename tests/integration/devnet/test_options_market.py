"""Our options market on the devnet (real Anvil, our compiled bytecode): quotes signed in Python
are accepted by the contract, fills move exact amounts, settlement pays exactly to the wei, and
the batch executor swaps on Uniswap and fills options in one all-or-nothing transaction."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from web3.exceptions import ContractCustomError

from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.options_market import (
    CONTRACT_SIZES,
    STRIKES_USD,
    OptionsMarketClient,
    Quote,
    expiry_schedule,
    set_feed_price,
    sign_quote,
    warp_to,
)
from oms_chain.devnet.solidity import load_artifact
from oms_chain.devnet.world import DevnetChain
from oms_chain.model.errors import InvalidInput

MAX = 2**256 - 1


def _erc20(chain: DevnetChain, symbol: str) -> Any:
    return chain.w3.eth.contract(address=chain.book.address(symbol), abi=ERC20_ABI)


def _send(chain: DevnetChain, fn: Any, sender: str, value: int = 0) -> Any:
    receipt = chain.w3.eth.wait_for_transaction_receipt(
        fn.transact({"from": sender, "value": value})
    )
    assert receipt["status"] == 1
    return receipt


def _find(market: OptionsMarketClient, underlying: str, strike: int, is_call: bool) -> int:
    """The earliest-expiring listed series of ``underlying`` (an address) at ``strike`` USDC."""
    for s in market.all_series():
        if s.underlying == underlying and s.strike == strike * 10**6 and s.is_call is is_call:
            return s.series_id
    raise AssertionError(f"no {underlying} {strike} series")


@pytest.fixture
def market(l1: DevnetChain) -> OptionsMarketClient:
    return OptionsMarketClient.from_book(l1.w3, l1.book)


def _approve_all(chain: DevnetChain, owner: str, spender: str) -> None:
    for symbol in ("USDC", "WETH", "WBTC"):
        _send(chain, _erc20(chain, symbol).functions.approve(spender, MAX), owner)


def test_the_world_lists_eth_and_wbtc_series_at_weekly_expiries(
    l1: DevnetChain, market: OptionsMarketClient
) -> None:
    for name in ("OptionsMarket", "BatchExecutor", "OracleETHUSD", "OracleBTCUSD"):
        assert len(l1.w3.eth.get_code(l1.book.address(name))) > 0, name
    series = market.all_series()
    assert len(series) == 36
    expiries = sorted({s.expiry for s in series})
    now = int(l1.w3.eth.get_block("latest")["timestamp"])
    assert len(expiries) == 3 and expiries[0] - now >= 86_400 - 3_600
    for e in expiries:
        when = dt.datetime.fromtimestamp(e, dt.UTC)
        assert (when.weekday(), when.hour, when.minute) == (4, 8, 0)
    eth = [s for s in series if s.underlying == l1.book.token("WETH").address]
    btc = [s for s in series if s.underlying == l1.book.token("WBTC").address]
    assert sorted({s.strike for s in eth}) == [k * 10**6 for k in STRIKES_USD["WETH"]]
    assert sorted({s.strike for s in btc}) == [k * 10**6 for k in STRIKES_USD["WBTC"]]
    assert {s.contract_size for s in eth} == {CONTRACT_SIZES["WETH"]}
    assert {(s.underlying_decimals, s.quote_decimals, s.feed_decimals) for s in btc} == {(8, 6, 8)}
    assert {s.feed for s in eth} == {l1.book.address("OracleETHUSD")}
    put_3000 = next(s for s in eth if s.strike == 3000 * 10**6 and not s.is_call)
    assert put_3000.collateral_per_contract == 300 * 10**6


def test_expiry_schedule_is_the_next_fridays_a_day_away() -> None:
    thursday_0900 = int(dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC).timestamp())
    thursday_0700 = int(dt.datetime(2026, 12, 3, 7, 0, tzinfo=dt.UTC).timestamp())
    friday = [int(dt.datetime(2026, 12, d, 8, 0, tzinfo=dt.UTC).timestamp()) for d in (4, 11, 18)]
    assert expiry_schedule(thursday_0700) == tuple(friday)
    assert expiry_schedule(thursday_0900) == (*friday[1:], friday[2] + 7 * 86_400)


def test_python_typed_data_digest_equals_the_contracts(
    l1: DevnetChain, market: OptionsMarketClient
) -> None:
    maker = l1.accounts[1]
    q = Quote(
        maker=maker.address,
        series_id=5,
        maker_sells=True,
        size=7,
        premium=12_345_678,
        deadline=2**40,
        nonce=0,
        salt=99,
    )
    signable = encode_typed_data(
        full_message=q.typed_data(chain_id=l1.chain_id, market=market.address)
    )
    digest = keccak(b"\x19" + signable.version + signable.header + signable.body)
    assert digest == market.hash_quote(q)
    sig = market.sign(q, maker.private_key)
    assert Account._recover_hash(digest, signature=sig) == maker.address


def test_signed_quote_fills_settles_and_redeems_to_the_wei(
    l1: DevnetChain, market: OptionsMarketClient
) -> None:
    deployer, maker, taker = l1.accounts[0], l1.accounts[1], l1.accounts[2]
    usdc = _erc20(l1, "USDC")
    _approve_all(l1, maker.address, market.address)
    _approve_all(l1, taker.address, market.address)
    sid = _find(market, l1.book.token("WETH").address, 3000, is_call=False)
    info = market.series(sid)
    now = int(l1.w3.eth.get_block("latest")["timestamp"])
    q = Quote(
        maker=maker.address,
        series_id=sid,
        maker_sells=True,
        size=5,
        premium=42_500_000,
        deadline=now + 600,
        nonce=market.nonce(maker.address),
        salt=1,
    )
    sig = market.sign(q, maker.private_key)
    maker_before = usdc.functions.balanceOf(maker.address).call()
    taker_before = usdc.functions.balanceOf(taker.address).call()

    receipt = market.fill(q, sig, 3, taker=taker.address)
    market.fill(q, sig, 2, taker=taker.address)
    assert receipt["gasUsed"] > 0
    assert market.position(taker.address, sid) == (5, 0)
    assert market.position(maker.address, sid) == (0, 5)
    assert usdc.functions.balanceOf(taker.address).call() == taker_before - 5 * 42_500_000
    assert (
        usdc.functions.balanceOf(maker.address).call()
        == maker_before + 5 * 42_500_000 - 5 * 300_000_000
    )
    assert market.remaining(q) == 0

    warp_to(l1.w3, info.expiry + 30)
    round_id = set_feed_price(
        l1.w3, l1.book.address("OracleETHUSD"), Decimal("2750.5"), sender=deployer.address
    )
    assert market.settlement_round(sid) == round_id
    market.settle(sid, sender=taker.address)
    settled = market.series(sid)
    assert settled.settlement_price == 2_750_500_000
    assert settled.payoff_per_contract == 24_950_000  # 0.1 ETH x 249.5 USDC

    mid = usdc.functions.balanceOf(taker.address).call()
    market.redeem(sid, 5, holder=taker.address)
    assert usdc.functions.balanceOf(taker.address).call() == mid + 124_750_000
    before_w = usdc.functions.balanceOf(maker.address).call()
    market.withdraw(sid, 5, writer=maker.address)
    assert usdc.functions.balanceOf(maker.address).call() == before_w + 5 * 275_050_000
    assert usdc.functions.balanceOf(market.address).call() == 0


def test_call_settles_in_the_underlying_to_the_wei(
    l1: DevnetChain, market: OptionsMarketClient
) -> None:
    deployer, maker, taker = l1.accounts[0], l1.accounts[3], l1.accounts[4]
    weth = _erc20(l1, "WETH")
    weth_abi = l1.w3.eth.contract(address=weth.address, abi=_weth_abi())
    _send(l1, weth_abi.functions.deposit(), maker.address, value=10**18)
    _approve_all(l1, maker.address, market.address)
    _approve_all(l1, taker.address, market.address)
    sid = _find(market, l1.book.token("WETH").address, 2500, is_call=True)
    info = market.series(sid)
    now = int(l1.w3.eth.get_block("latest")["timestamp"])
    q = Quote(
        maker=maker.address,
        series_id=sid,
        maker_sells=True,
        size=4,
        premium=61_000_000,
        deadline=now + 600,
        allow_partial=False,
    )
    market.fill(q, market.sign(q, maker.private_key), 4, taker=taker.address)
    assert weth.functions.balanceOf(market.address).call() == 4 * 10**17

    warp_to(l1.w3, info.expiry + 1)
    set_feed_price(
        l1.w3, l1.book.address("OracleETHUSD"), Decimal("3100.12345678"), sender=deployer.address
    )
    market.settle(sid, sender=deployer.address)
    price = 310_012_345_678 * 10**6 // 10**8
    per_contract = 10**17 * (price - 2_500 * 10**6) // price
    assert market.series(sid).payoff_per_contract == per_contract == 19_358_050_236_306_460
    before = weth.functions.balanceOf(taker.address).call()
    market.redeem(sid, 4, holder=taker.address)
    assert weth.functions.balanceOf(taker.address).call() == before + 4 * per_contract


def test_a_quote_signed_for_another_chain_is_refused(
    l1: DevnetChain, market: OptionsMarketClient
) -> None:
    maker, taker = l1.accounts[1], l1.accounts[2]
    _approve_all(l1, maker.address, market.address)
    _approve_all(l1, taker.address, market.address)
    now = int(l1.w3.eth.get_block("latest")["timestamp"])
    q = Quote(
        maker=maker.address, series_id=2, maker_sells=True, size=1, premium=1, deadline=now + 600
    )
    sig = sign_quote(q, maker.private_key, chain_id=1, market=market.address)
    sent = l1.w3.eth.get_transaction_count(taker.address)
    with pytest.raises(InvalidInput, match=f"does not verify .* on chain {l1.chain_id}"):
        market.fill(q, sig, 1, taker=taker.address)
    assert l1.w3.eth.get_transaction_count(taker.address) == sent
    # and the contract itself refuses it
    refused = _custom_error(market.contract.functions.fill(q.as_tuple(), sig, 1), taker.address)
    assert refused == _selector("BadSignature(bytes32,address)") + (
        market.hash_quote(q).hex() + f"{int(maker.address, 16):064x}"
    )
    assert market.position(taker.address, 2) == (0, 0)


def test_every_reason_a_fill_would_fail_is_named_before_sending(
    l1: DevnetChain, market: OptionsMarketClient
) -> None:
    maker, taker, poor = l1.accounts[1], l1.accounts[2], l1.accounts[5]
    _approve_all(l1, maker.address, market.address)
    _approve_all(l1, taker.address, market.address)
    now = int(l1.w3.eth.get_block("latest")["timestamp"])
    sid = _find(market, l1.book.token("WETH").address, 3000, is_call=False)

    def quote(**kw: Any) -> Quote:
        fields: dict[str, Any] = {
            "maker": maker.address,
            "series_id": sid,
            "maker_sells": True,
            "size": 4,
            "premium": 10**6,
            "deadline": now + 600,
        }
        fields.update(kw)
        return Quote(**fields)

    def refused(q: Quote, amount: int, match: str, by: str = taker.address) -> None:
        with pytest.raises(InvalidInput, match=match):
            market.fill(q, market.sign(q, maker.private_key), amount, taker=by)

    sent = l1.w3.eth.get_transaction_count(taker.address)
    refused(quote(series_id=999), 1, "unknown series 999")
    refused(quote(deadline=now - 1), 1, "the quote expired")
    refused(quote(taker=maker.address), 1, "may only be filled by")
    refused(quote(nonce=7), 1, "nonce 7 is not the maker's current nonce 0")
    refused(quote(allow_partial=False), 2, "all-or-none")
    # the taker writes (maker buys) without the USDC to lock: insufficient collateral
    usdc = _erc20(l1, "USDC")
    _send(l1, usdc.functions.approve(market.address, MAX), poor.address)
    balance = usdc.functions.balanceOf(poor.address).call()
    _send(l1, usdc.functions.transfer(maker.address, balance - 299 * 10**6), poor.address)
    refused(
        quote(maker_sells=False),
        1,
        "seller .* holds 299000000 base units .* needs 300000000",
        by=poor.address,
    )
    assert l1.w3.eth.get_transaction_count(taker.address) == sent
    # a valid quote passes the same checks and fills
    ok = quote()
    market.fill(ok, market.sign(ok, maker.private_key), 4, taker=taker.address)
    assert market.position(taker.address, sid) == (4, 0)


def test_bad_input_is_refused_before_anything_is_sent(
    l1: DevnetChain, market: OptionsMarketClient
) -> None:
    maker, taker = l1.accounts[1], l1.accounts[2]
    sent = l1.w3.eth.get_transaction_count(taker.address)
    with pytest.raises(InvalidInput, match="unknown series 999"):
        market.series(999)
    with pytest.raises(InvalidInput, match="series_id must be >= 1"):
        Quote(maker=maker.address, series_id=0, maker_sells=True, size=1, premium=1, deadline=1)
    with pytest.raises(InvalidInput, match="maker must be"):
        Quote(maker="0x1234", series_id=1, maker_sells=True, size=1, premium=1, deadline=1)
    with pytest.raises(InvalidInput, match="premium must be"):
        Quote(maker=maker.address, series_id=1, maker_sells=True, size=1, premium=-1, deadline=1)
    q = Quote(maker=maker.address, series_id=1, maker_sells=True, size=2, premium=1, deadline=1)
    with pytest.raises(InvalidInput, match=r"amount must be within 1\.\.2"):
        market.fill(q, b"\x01" * 65, 3, taker=taker.address)
    with pytest.raises(InvalidInput, match="cannot fill its own quote"):
        market.fill(q, b"\x01" * 65, 1, taker=maker.address)
    with pytest.raises(InvalidInput, match="no round at or after expiry"):
        market.settlement_round(1)
    with pytest.raises(InvalidInput, match="more than 8 decimals"):
        set_feed_price(
            l1.w3,
            l1.book.address("OracleETHUSD"),
            Decimal("1.000000001"),
            sender=l1.accounts[0].address,
        )
    with pytest.raises(InvalidInput, match="not after the latest block"):
        warp_to(l1.w3, 1)
    assert l1.w3.eth.get_transaction_count(taker.address) == sent


def _selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


def _custom_error(fn: Any, sender: str) -> str:
    """The revert data (0x-hex) of a call that must revert with a custom error."""
    with pytest.raises(ContractCustomError) as info:
        fn.transact({"from": sender})
    return str(info.value.data)


def _weth_abi() -> list[dict[str, Any]]:
    from oms_chain.devnet.artifacts import load_protocol_artifact

    return load_protocol_artifact("WETH9").abi


def _swap_router_abi() -> list[dict[str, Any]]:
    from oms_chain.devnet.artifacts import load_protocol_artifact

    return load_protocol_artifact("SwapRouter").abi


def test_batch_swaps_on_uniswap_and_fills_in_one_transaction_or_not_at_all(
    l1: DevnetChain, market: OptionsMarketClient
) -> None:
    owner, maker = l1.accounts[0], l1.accounts[1]
    batch = l1.w3.eth.contract(
        address=l1.book.address("BatchExecutor"), abi=load_artifact("BatchExecutor")["abi"]
    )
    usdc, weth = _erc20(l1, "USDC"), _erc20(l1, "WETH")
    _send(l1, usdc.functions.transfer(batch.address, 50_000 * 10**6), owner.address)
    _approve_all(l1, maker.address, market.address)
    router = l1.w3.eth.contract(address=l1.book.address("SwapRouter"), abi=_swap_router_abi())
    sid = _find(market, l1.book.token("WETH").address, 3500, is_call=True)
    now = int(l1.w3.eth.get_block("latest")["timestamp"])
    quotes = [
        Quote(
            maker=maker.address,
            series_id=sid,
            maker_sells=False,
            size=2,
            premium=prem,
            deadline=now + 600,
            salt=i,
        )
        for i, prem in enumerate((30_000_000, 31_000_000))
    ]
    sigs = [market.sign(q, maker.private_key) for q in quotes]
    swap = router.encode_abi(
        "exactInputSingle",
        args=[(usdc.address, weth.address, 500, batch.address, now + 600, 3_000 * 10**6, 0, 0)],
    )

    def calls(min_weth_out: int) -> list[tuple[Any, ...]]:
        none = "0x0000000000000000000000000000000000000000"
        return [
            (usdc.address, 0, usdc.encode_abi("approve", args=[router.address, MAX]), none, 0),
            (router.address, 0, swap, weth.address, min_weth_out),
            (weth.address, 0, weth.encode_abi("approve", args=[market.address, MAX]), none, 0),
            *[
                (
                    market.address,
                    0,
                    market.contract.encode_abi("fill", args=[q.as_tuple(), s, q.size]),
                    none,
                    0,
                )
                for q, s in zip(quotes, sigs, strict=True)
            ],
        ]

    # the taker (the executor) writes 4 calls: 0.4 WETH locked, 122 USDC of premium received
    guards = [(usdc.address, -3_000 * 10**6 + 122 * 10**6)]
    swap_guard = _custom_error(batch.functions.execute(calls(10**18), guards), owner.address)
    assert swap_guard.startswith(_selector("CallGuardFailed(uint256,address,int256,int256)"))
    assert swap_guard[10 : 10 + 64] == f"{1:064x}"  # the swap, call 1, bought too little WETH
    assert usdc.functions.balanceOf(batch.address).call() == 50_000 * 10**6
    assert market.position(batch.address, sid) == (0, 0)
    one_short = [(usdc.address, -3_000 * 10**6 + 123 * 10**6)]
    premium_guard = _custom_error(batch.functions.execute(calls(0), one_short), owner.address)
    assert premium_guard == _selector("GuardFailed(uint256,address,int256,int256)") + (
        f"{0:064x}{int(usdc.address, 16):064x}"
        f"{(-2_878 * 10**6) % 2**256:064x}{(-2_877 * 10**6) % 2**256:064x}"
    )
    stranger = _custom_error(batch.functions.execute(calls(0), guards), maker.address)
    assert stranger == _selector("OwnableUnauthorizedAccount(address)") + (
        f"{int(maker.address, 16):064x}"
    )

    _send(l1, batch.functions.execute(calls(9 * 10**17), guards), owner.address)
    assert market.position(batch.address, sid) == (0, 4)
    assert market.position(maker.address, sid) == (4, 0)
    assert (
        usdc.functions.balanceOf(batch.address).call()
        == 50_000 * 10**6 - 3_000 * 10**6 + 122 * 10**6
    )
    assert weth.functions.balanceOf(market.address).call() == 4 * 10**17


def _protocol(chain: DevnetChain, name: str, address: str | None = None) -> Any:
    from oms_chain.devnet.artifacts import load_protocol_artifact

    art = load_protocol_artifact(name)
    return chain.w3.eth.contract(address=address or chain.book.address(name), abi=art.abi)


def test_a_safe_maker_signs_its_quote_through_erc1271(
    l1: DevnetChain, market: OptionsMarketClient
) -> None:
    owner, taker = l1.accounts[6], l1.accounts[2]
    zero = "0x" + "00" * 20
    singleton = _protocol(l1, "SafeL2")
    handler = _protocol(l1, "CompatibilityFallbackHandler")
    setup = singleton.encode_abi(
        "setup", args=[[owner.address], 1, zero, b"", handler.address, zero, 0, zero]
    )
    create = _protocol(l1, "SafeProxyFactory").functions.createProxyWithNonce(
        singleton.address, setup, 1931
    )
    safe_address = create.call({"from": owner.address})
    _send(l1, create, owner.address)
    safe = _protocol(l1, "SafeL2", safe_address)
    usdc = _erc20(l1, "USDC")
    _send(l1, usdc.functions.transfer(safe_address, 10_000 * 10**6), owner.address)
    # the owner sends the Safe's approval itself: a v=1 signature by msg.sender
    approved_by_sender = bytes.fromhex(f"{int(owner.address, 16):064x}{0:064x}01")
    approve = usdc.encode_abi("approve", args=[market.address, MAX])
    _send(
        l1,
        safe.functions.execTransaction(
            usdc.address, 0, approve, 0, 0, 0, 0, zero, zero, approved_by_sender
        ),
        owner.address,
    )
    _approve_all(l1, taker.address, market.address)

    sid = _find(market, l1.book.token("WETH").address, 2500, is_call=False)
    now = int(l1.w3.eth.get_block("latest")["timestamp"])
    q = Quote(
        maker=safe_address,
        series_id=sid,
        maker_sells=True,
        size=3,
        premium=15 * 10**6,
        deadline=now + 600,
    )
    safe_message = handler.functions.getMessageHashForSafe(
        safe_address, market.hash_quote(q)
    ).call()
    signed = Account.unsafe_sign_hash(safe_message, owner.private_key)
    signature = signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v])

    market.fill(q, signature, 3, taker=taker.address)
    assert market.position(safe_address, sid) == (0, 3)
    assert market.position(taker.address, sid) == (3, 0)
    # 3 puts at 2500 lock 750 USDC; the Safe keeps 45 USDC of premium
    assert (
        usdc.functions.balanceOf(safe_address).call() == 10_000 * 10**6 - 750 * 10**6 + 45 * 10**6
    )
    q2 = Quote(
        maker=safe_address,
        series_id=sid,
        maker_sells=True,
        size=1,
        premium=1,
        deadline=now + 600,
        salt=2,
    )
    message2 = handler.functions.getMessageHashForSafe(safe_address, market.hash_quote(q2)).call()
    forged = Account.unsafe_sign_hash(message2, taker.private_key)  # not an owner of the Safe
    bad = forged.r.to_bytes(32, "big") + forged.s.to_bytes(32, "big") + bytes([forged.v])
    with pytest.raises(InvalidInput, match="does not verify"):
        market.fill(q2, bad, 1, taker=taker.address)
