// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {BatchExecutor} from "../src/BatchExecutor.sol";
import {DevOracle} from "../src/DevOracle.sol";
import {OptionsMarket} from "../src/OptionsMarket.sol";
import {OptionsFixture, ScriptedFeed} from "./utils/OptionsFixture.sol";

contract OptionsMarketListingTest is OptionsFixture {
    function test_series_record_decimals_collateral_and_feed() public view {
        OptionsMarket.Series memory s = market.series(ethPut);
        assertEq(s.underlying, address(weth), "underlying");
        assertEq(s.quote, address(usdc), "quote");
        assertEq(address(s.feed), address(ethFeed), "feed");
        assertEq(s.underlyingDecimals, 18, "underlying decimals");
        assertEq(s.quoteDecimals, 6, "quote decimals");
        assertEq(s.feedDecimals, 8, "feed decimals");
        assertEq(s.collateralPerContract, 300e6, "0.1 WETH put at 3000 locks 300 USDC");
        assertEq(market.series(ethCall).collateralPerContract, 1e17, "call locks 0.1 WETH");
        assertEq(market.series(btcPut).collateralPerContract, 600e6, "0.01 WBTC put at 60000");
        assertEq(market.collateralToken(ethCall), address(weth), "call collateral token");
        assertEq(market.collateralToken(ethPut), address(usdc), "put collateral token");
        assertEq(market.longId(ethPut), 4, "long id");
        assertEq(market.shortId(ethPut), 5, "short id");
        assertEq(market.seriesCount(), 3, "series count");
    }

    function test_listing_emits_the_series() public {
        vm.expectEmit(true, true, true, true);
        emit OptionsMarket.SeriesListed(4, address(weth), address(usdc), 3_500e6, EXPIRY, true, ETH_SIZE, address(ethFeed));
        market.listSeries(address(weth), address(usdc), 3_500e6, EXPIRY, true, ETH_SIZE);
    }

    function test_duplicate_series_are_refused() public {
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.SeriesExists.selector, ethCall));
        market.listSeries(address(weth), address(usdc), K_ETH, EXPIRY, true, ETH_SIZE);
    }

    function test_only_owner_or_lister_lists() public {
        vm.prank(taker);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.NotLister.selector, taker));
        market.listSeries(address(weth), address(usdc), 1e6, EXPIRY, true, ETH_SIZE);
        market.setLister(taker, true);
        vm.prank(taker);
        assertEq(market.listSeries(address(weth), address(usdc), 1e6, EXPIRY, true, ETH_SIZE), 4, "lister lists");
        vm.prank(taker);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, taker));
        market.setFeed(address(weth), ethFeed);
    }

    function test_bad_series_parameters_are_refused() public {
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.NoFeed.selector, address(usdc)));
        market.listSeries(address(usdc), address(weth), 1, EXPIRY, true, 1);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.InvalidSeries.selector, "expiry must be in the future"));
        market.listSeries(address(weth), address(usdc), K_ETH, uint64(T0), true, ETH_SIZE);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.InvalidSeries.selector, "strike must be > 0"));
        market.listSeries(address(weth), address(usdc), 0, EXPIRY, true, ETH_SIZE);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.InvalidSeries.selector, "contract size must be > 0"));
        market.listSeries(address(weth), address(usdc), K_ETH, EXPIRY, true, 0);
        vm.expectRevert(
            abi.encodeWithSelector(OptionsMarket.InvalidSeries.selector, "underlying and quote must be two distinct tokens")
        );
        market.listSeries(address(weth), address(weth), K_ETH, EXPIRY, true, ETH_SIZE);
        // 1 wei of WETH at 3000 USDC is 3e-12 USDC: not a whole number of base units
        vm.expectRevert(
            abi.encodeWithSelector(
                OptionsMarket.InvalidSeries.selector, "put collateral strike * contractSize / 10**decimals is not whole"
            )
        );
        market.listSeries(address(weth), address(usdc), K_ETH, EXPIRY, false, 1);
    }

    function test_unknown_series_reverts_everywhere() public {
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.UnknownSeries.selector, 99));
        market.series(99);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.UnknownSeries.selector, 99));
        market.write(99, 1);
        OptionsMarket.Quote memory q = _quote(99, true, 1, 1);
        bytes memory sig = _sign(MAKER_KEY, q);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.UnknownSeries.selector, 99));
        _fillAs(taker, q, sig, 1);
    }

    function test_dev_oracle_is_an_aggregator_v3() public view {
        (uint80 id, int256 answer,,, uint80 inRound) = market.feedOf(address(weth)).latestRoundData();
        assertEq(id, 1, "round");
        assertEq(answer, 3_000e8, "answer");
        assertEq(inRound, 1, "answeredInRound");
    }
}

contract OptionsMarketTradingTest is OptionsFixture {
    function test_write_locks_collateral_and_mints_long_and_short() public {
        vm.prank(maker);
        market.write(ethPut, 7);
        assertEq(usdc.balanceOf(address(market)), 2_100e6, "7 puts lock 2100 USDC");
        assertEq(market.balanceOf(maker, market.longId(ethPut)), 7, "longs");
        assertEq(market.balanceOf(maker, market.shortId(ethPut)), 7, "shorts");
        vm.prank(maker);
        market.write(ethCall, 3);
        assertEq(weth.balanceOf(address(market)), 3e17, "3 calls lock 0.3 WETH");
    }

    function test_maker_sells_taker_pays_premium_and_gets_longs() public {
        OptionsMarket.Quote memory q = _quote(ethPut, true, 10, 25e6);
        bytes memory sig = _sign(MAKER_KEY, q);
        uint256 makerUsdc = usdc.balanceOf(maker);
        uint256 takerUsdc = usdc.balanceOf(taker);
        vm.expectEmit(true, true, true, true);
        emit OptionsMarket.QuoteFilled(market.hashQuote(q), maker, taker, ethPut, true, 10, 250e6, 10);
        assertEq(_fillAs(taker, q, sig, 10), 250e6, "premium total");
        assertEq(usdc.balanceOf(taker), takerUsdc - 250e6, "taker paid premium");
        assertEq(usdc.balanceOf(maker), makerUsdc + 250e6 - 3_000e6, "maker got premium, posted 3000 collateral");
        assertEq(usdc.balanceOf(address(market)), 3_000e6, "market holds collateral");
        assertEq(market.balanceOf(taker, market.longId(ethPut)), 10, "taker long");
        assertEq(market.balanceOf(maker, market.shortId(ethPut)), 10, "maker short");
        assertEq(market.filled(market.hashQuote(q)), 10, "filled");
    }

    function test_maker_buys_taker_writes_the_call() public {
        OptionsMarket.Quote memory q = _quote(ethCall, false, 4, 80e6);
        bytes memory sig = _sign(MAKER_KEY, q);
        uint256 takerWeth = weth.balanceOf(taker);
        _fillAs(taker, q, sig, 4);
        assertEq(weth.balanceOf(taker), takerWeth - 4e17, "taker posted 0.4 WETH");
        assertEq(market.balanceOf(maker, market.longId(ethCall)), 4, "maker long");
        assertEq(market.balanceOf(taker, market.shortId(ethCall)), 4, "taker short");
        assertEq(usdc.balanceOf(taker), 10_000_000e6 + 320e6, "taker received premium");
    }

    function test_partial_fills_accumulate_up_to_the_size() public {
        OptionsMarket.Quote memory q = _quote(ethPut, true, 10, 1e6);
        bytes memory sig = _sign(MAKER_KEY, q);
        bytes32 h = market.hashQuote(q);
        _fillAs(taker, q, sig, 3);
        _fillAs(taker, q, sig, 6);
        assertEq(market.filled(h), 9, "filled after two fills");
        assertEq(market.remaining(q), 1, "remaining");
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.Overfill.selector, h, 10, 9, 2));
        _fillAs(taker, q, sig, 2);
        _fillAs(taker, q, sig, 1);
        assertEq(market.remaining(q), 0, "fully filled");
    }

    function test_all_or_none_quotes_refuse_partial_fills() public {
        OptionsMarket.Quote memory q = _quote(ethPut, true, 10, 1e6);
        q.allowPartial = false;
        bytes memory sig = _sign(MAKER_KEY, q);
        vm.expectRevert(
            abi.encodeWithSelector(OptionsMarket.PartialFillNotAllowed.selector, market.hashQuote(q), 10, 4)
        );
        _fillAs(taker, q, sig, 4);
        _fillAs(taker, q, sig, 10);
    }

    function test_zero_amount_is_refused() public {
        OptionsMarket.Quote memory q = _quote(ethPut, true, 10, 1e6);
        bytes memory sig = _sign(MAKER_KEY, q);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.ZeroAmount.selector));
        _fillAs(taker, q, sig, 0);
    }

    function test_signature_of_another_key_or_another_quote_is_refused() public {
        OptionsMarket.Quote memory q = _quote(ethPut, true, 10, 1e6);
        bytes memory wrongKey = _sign(TAKER_KEY, q);
        bytes32 h = market.hashQuote(q);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.BadSignature.selector, h, maker));
        _fillAs(taker, q, wrongKey, 1);
        bytes memory sig = _sign(MAKER_KEY, q);
        q.premium = 0; // the taker tampers with the price
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.BadSignature.selector, market.hashQuote(q), maker));
        _fillAs(taker, q, sig, 1);
    }

    /// The fill hashes the quote's calldata words as they are: a word that is not a clean address
    /// or bool (here the maker's or the taker's upper bits, makerSells = 2 or allowPartial = 2)
    /// must revert, never be read as another quote than the one hashed.
    function test_quote_words_with_dirty_bits_are_refused() public {
        OptionsMarket.Quote memory q = _quote(ethPut, true, 10, 1e6);
        bytes memory sig = _sign(MAKER_KEY, q);
        bytes memory clean = abi.encodeCall(market.fill, (q, sig, 1));
        // maker, taker, makerSells, allowPartial
        uint256[4] memory words = [uint256(0), 1, 3, 8];
        uint256[4] memory dirt = [uint256(1) << 200, uint256(1) << 160, 2, 2];
        for (uint256 i = 0; i < 4; ++i) {
            bytes memory data = bytes.concat(clean);
            uint256 at = 4 + 32 * words[i];
            uint256 d = dirt[i];
            assembly {
                let p := add(add(data, 32), at)
                mstore(p, or(mload(p), d))
            }
            vm.prank(taker);
            (bool ok,) = address(market).call(data);
            assertTrue(!ok, "a dirty quote word is refused");
        }
        vm.prank(taker);
        (bool cleanOk,) = address(market).call(clean);
        assertTrue(cleanOk, "the clean quote fills");
        assertEq(market.filled(market.hashQuote(q)), 1, "filled once");
    }

    function test_expired_quote_is_refused_and_deadline_is_inclusive() public {
        OptionsMarket.Quote memory q = _quote(ethPut, true, 10, 1e6);
        bytes memory sig = _sign(MAKER_KEY, q);
        vm.warp(q.deadline);
        _fillAs(taker, q, sig, 1);
        vm.warp(q.deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.QuoteExpired.selector, market.hashQuote(q), q.deadline));
        _fillAs(taker, q, sig, 1);
        assertEq(market.remaining(q), 0, "nothing remains of an expired quote");
    }

    function test_bumping_the_nonce_kills_every_outstanding_quote() public {
        OptionsMarket.Quote memory q = _quote(ethPut, true, 10, 1e6);
        bytes memory sig = _sign(MAKER_KEY, q);
        vm.expectEmit(true, false, false, true);
        emit OptionsMarket.NonceBumped(maker, 1);
        vm.prank(maker);
        market.bumpNonce();
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.StaleNonce.selector, maker, 0, 1));
        _fillAs(taker, q, sig, 1);
        OptionsMarket.Quote memory fresh = _quote(ethPut, true, 10, 1e6);
        assertEq(fresh.nonce, 1, "new quotes carry the new nonce");
        _fillAs(taker, fresh, _sign(MAKER_KEY, fresh), 1);
    }

    function test_cancelled_quote_cannot_be_filled_and_only_the_maker_cancels() public {
        OptionsMarket.Quote memory q = _quote(ethPut, true, 10, 1e6);
        bytes memory sig = _sign(MAKER_KEY, q);
        bytes32 h = market.hashQuote(q);
        vm.prank(taker);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.NotMaker.selector, maker, taker));
        market.cancelQuote(q);
        _fillAs(taker, q, sig, 2);
        vm.expectEmit(true, true, false, true);
        emit OptionsMarket.QuoteCancelled(h, maker);
        vm.prank(maker);
        market.cancelQuote(q);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.QuoteIsCancelled.selector, h));
        _fillAs(taker, q, sig, 1);
    }

    function test_quote_for_a_named_taker_refuses_others_and_self_trade_is_refused() public {
        OptionsMarket.Quote memory q = _quote(ethPut, true, 10, 1e6);
        q.taker = taker;
        bytes memory sig = _sign(MAKER_KEY, q);
        address stranger = address(0x5757);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.WrongTaker.selector, taker, stranger));
        _fillAs(stranger, q, sig, 1);
        _fillAs(taker, q, sig, 1);
        OptionsMarket.Quote memory open = _quote(ethPut, true, 10, 1e6);
        bytes memory openSig = _sign(MAKER_KEY, open);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.SelfTrade.selector, maker));
        _fillAs(maker, open, openSig, 1);
    }

    function test_a_signature_from_one_chain_is_refused_on_another() public {
        OptionsMarket.Quote memory q = _quote(ethPut, true, 10, 1e6);
        bytes memory sig = _sign(MAKER_KEY, q);
        bytes32 here = market.hashQuote(q);
        vms.chainId(10);
        bytes32 there = market.hashQuote(q);
        assertTrue(here != there, "the digest names the chain");
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.BadSignature.selector, there, maker));
        _fillAs(taker, q, sig, 1);
    }

    function test_a_contract_maker_signs_through_erc1271() public {
        BatchExecutor account = new BatchExecutor(maker);
        usdc.mint(address(account), 10_000e6);
        BatchExecutor.Call[] memory calls = new BatchExecutor.Call[](1);
        calls[0] = BatchExecutor.Call(
            address(usdc), 0, abi.encodeCall(usdc.approve, (address(market), type(uint256).max)), address(0), 0
        );
        vm.prank(maker);
        account.execute(calls, new BatchExecutor.Guard[](0));
        OptionsMarket.Quote memory q = _quote(ethPut, true, 2, 5e6);
        q.maker = address(account);
        q.nonce = 0;
        // the owner's plain signature of the quote hash is not the account's (no cross-account replay)
        bytes memory plain = _sign(MAKER_KEY, q);
        vm.expectRevert(
            abi.encodeWithSelector(OptionsMarket.BadSignature.selector, market.hashQuote(q), address(account))
        );
        _fillAs(taker, q, plain, 2);
        // the account's owner signs the executor-bound EIP-712 message wrapping the quote hash
        (uint8 v, bytes32 r, bytes32 s_) = vms.sign(MAKER_KEY, account.messageDigest(market.hashQuote(q)));
        bytes memory sig = abi.encodePacked(r, s_, v);
        _fillAs(taker, q, sig, 2);
        assertEq(market.balanceOf(address(account), market.shortId(ethPut)), 2, "the account wrote");
        assertEq(usdc.balanceOf(address(account)), 10_000e6 - 600e6 + 10e6, "collateral out, premium in");
        OptionsMarket.Quote memory forged = _quote(ethPut, true, 2, 5e6);
        forged.maker = address(account);
        forged.salt = 2;
        bytes memory notOwner = _sign(TAKER_KEY, forged);
        vm.expectRevert(
            abi.encodeWithSelector(OptionsMarket.BadSignature.selector, market.hashQuote(forged), address(account))
        );
        _fillAs(address(0x5757), forged, notOwner, 1);
    }

    function test_no_trading_or_writing_at_or_after_expiry() public {
        OptionsMarket.Quote memory q = _quote(ethPut, true, 10, 1e6);
        q.deadline = EXPIRY + 10;
        bytes memory sig = _sign(MAKER_KEY, q);
        vm.warp(EXPIRY);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.SeriesExpired.selector, ethPut, EXPIRY));
        _fillAs(taker, q, sig, 1);
        vm.prank(maker);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.SeriesExpired.selector, ethPut, EXPIRY));
        market.write(ethPut, 1);
    }

    function test_insufficient_collateral_reverts_the_fill() public {
        address poor = address(0xD00D);
        usdc.mint(poor, 100e6);
        vm.prank(poor);
        usdc.approve(address(market), type(uint256).max);
        OptionsMarket.Quote memory q = _quote(ethPut, false, 1, 1e6); // the taker writes a put
        bytes memory sig = _sign(MAKER_KEY, q);
        vms.expectRevert();
        _fillAs(poor, q, sig, 1);
        assertEq(market.filled(market.hashQuote(q)), 0, "nothing filled");
    }

    function test_close_returns_collateral_before_settlement() public {
        vm.startPrank(maker);
        market.write(ethCall, 5);
        uint256 before = weth.balanceOf(maker);
        market.close(ethCall, 2);
        vm.stopPrank();
        assertEq(weth.balanceOf(maker), before + 2e17, "0.2 WETH back");
        assertEq(market.balanceOf(maker, market.longId(ethCall)), 3, "longs left");
        assertEq(market.balanceOf(maker, market.shortId(ethCall)), 3, "shorts left");
    }

    function test_multicall_lists_many_series_and_refuses_strangers() public {
        bytes[] memory calls = new bytes[](2);
        calls[0] = abi.encodeCall(market.listSeries, (address(weth), address(usdc), 4_000e6, EXPIRY, true, ETH_SIZE));
        calls[1] = abi.encodeCall(market.listSeries, (address(weth), address(usdc), 4_000e6, EXPIRY, false, ETH_SIZE));
        bytes[] memory results = market.multicall(calls);
        assertEq(abi.decode(results[1], (uint256)), 5, "second listing's id");
        vm.prank(taker);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.NotLister.selector, taker));
        market.multicall(calls);
    }

    function test_a_receiver_that_reenters_cannot_fill_twice() public {
        Reenterer evil = new Reenterer(market);
        usdc.mint(address(evil), 1_000e6);
        evil.approve(DevTokenApprove(address(usdc)));
        OptionsMarket.Quote memory q = _quote(ethPut, true, 2, 1e6);
        bytes memory sig = _sign(MAKER_KEY, q);
        evil.arm(q, sig);
        vm.expectRevert(abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector));
        evil.fill(q, sig, 1);
        assertEq(market.filled(market.hashQuote(q)), 0, "nothing filled");
    }

    function test_shorts_move_with_the_token_and_the_holder_withdraws() public {
        vm.prank(maker);
        market.write(ethPut, 2);
        address buyer = address(0xC0FFEE);
        uint256 shortToken = market.shortId(ethPut);
        vm.prank(maker);
        market.safeTransferFrom(maker, buyer, shortToken, 2, "");
        vm.prank(maker);
        vms.expectRevert(); // the maker no longer holds shorts to close against its longs
        market.close(ethPut, 1);
        market.settle(ethPut, _expireAt(ethFeed, 3_100e8));
        vm.prank(buyer);
        assertEq(market.withdraw(ethPut, 2), 600e6, "the short holder takes the put collateral");
        vm.prank(maker);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.AlreadySettled.selector, ethPut));
        market.close(ethPut, 1);
    }

    function testFuzz_fills_move_exact_premium_and_collateral(uint256 size, uint256 premium, uint256 part) public {
        size = bound(size, 1, 10_000);
        premium = bound(premium, 0, 1_000e6);
        part = bound(part, 1, size);
        OptionsMarket.Quote memory q = _quote(ethPut, true, size, premium);
        bytes memory sig = _sign(MAKER_KEY, q);
        uint256 takerUsdc = usdc.balanceOf(taker);
        uint256 makerUsdc = usdc.balanceOf(maker);
        _fillAs(taker, q, sig, part);
        if (part < size) _fillAs(taker, q, sig, size - part);
        assertEq(usdc.balanceOf(taker), takerUsdc - size * premium, "taker paid size * premium");
        assertEq(usdc.balanceOf(maker), makerUsdc + size * premium - size * 300e6, "maker net");
        assertEq(usdc.balanceOf(address(market)), size * 300e6, "collateral");
        assertEq(market.balanceOf(taker, market.longId(ethPut)), size, "longs");
        assertEq(market.remaining(q), 0, "remaining");
    }
}

contract OptionsMarketSettlementTest is OptionsFixture {
    function _openPosition(uint256 seriesId, uint256 amount) internal {
        OptionsMarket.Quote memory q = _quote(seriesId, true, amount, 1e6);
        _fillAs(taker, q, _sign(MAKER_KEY, q), amount);
    }

    function test_put_below_strike_pays_the_holder_and_the_writer_gets_the_rest() public {
        _openPosition(ethPut, 10);
        uint80 round = _expireAt(ethFeed, 2_500e8);
        vm.expectEmit(true, false, false, true);
        emit OptionsMarket.Settled(ethPut, round, 2_500e6, 50e6);
        market.settle(ethPut, round);
        uint256 takerBefore = usdc.balanceOf(taker);
        vm.prank(taker);
        assertEq(market.redeem(ethPut, 10), 500e6, "10 x 0.1 ETH x 500 USDC");
        assertEq(usdc.balanceOf(taker), takerBefore + 500e6, "taker paid");
        vm.prank(maker);
        assertEq(market.withdraw(ethPut, 10), 2_500e6, "writer keeps 3000 - 500");
        assertEq(usdc.balanceOf(address(market)), 0, "market empty");
    }

    function test_call_above_strike_pays_in_the_underlying() public {
        _openPosition(ethCall, 10);
        market.settle(ethCall, _expireAt(ethFeed, 3_600e8));
        OptionsMarket.Series memory s = market.series(ethCall);
        assertEq(s.settlementPrice, 3_600e6, "price in USDC units");
        // 0.1 ETH x (3600 - 3000) / 3600 = 0.016666... ETH, floored to the wei
        assertEq(s.payoffPerContract, 16_666_666_666_666_666, "payoff per contract");
        vm.prank(taker);
        assertEq(market.redeem(ethCall, 10), 166_666_666_666_666_660, "holder payout");
        vm.prank(maker);
        assertEq(market.withdraw(ethCall, 10), 833_333_333_333_333_340, "writer payout");
        assertEq(weth.balanceOf(address(market)), 0, "market empty");
    }

    function test_at_the_strike_both_options_expire_worthless() public {
        _openPosition(ethCall, 2);
        _openPosition(ethPut, 2);
        uint80 round = _expireAt(ethFeed, 3_000e8);
        market.settle(ethCall, round);
        market.settle(ethPut, round);
        vm.startPrank(taker);
        assertEq(market.redeem(ethCall, 2), 0, "call worthless");
        assertEq(market.redeem(ethPut, 2), 0, "put worthless");
        vm.stopPrank();
        vm.startPrank(maker);
        assertEq(market.withdraw(ethCall, 2), 2e17, "call writer gets all");
        assertEq(market.withdraw(ethPut, 2), 600e6, "put writer gets all");
        vm.stopPrank();
    }

    function test_call_below_and_put_above_strike_are_worthless() public {
        _openPosition(ethCall, 1);
        _openPosition(btcPut, 1);
        vm.warp(EXPIRY);
        market.settle(ethCall, ethFeed.setAnswer(2_000e8));
        market.settle(btcPut, btcFeed.setAnswer(70_000e8));
        assertEq(market.series(ethCall).payoffPerContract, 0, "call OTM");
        assertEq(market.series(btcPut).payoffPerContract, 0, "put OTM");
    }

    function test_wbtc_put_handles_eight_decimals() public {
        _openPosition(btcPut, 3);
        market.settle(btcPut, _expireAt(btcFeed, 55_123_45678901));
        // 0.01 BTC x (60000 - 55123.456789) USDC = 48.76543211 -> 48.765432 USDC
        assertEq(market.series(btcPut).payoffPerContract, 48_765_432, "payoff per contract");
        vm.prank(taker);
        assertEq(market.redeem(btcPut, 3), 146_296_296, "holder payout");
    }

    function test_settle_before_expiry_or_twice_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.NotExpired.selector, ethPut, EXPIRY));
        market.settle(ethPut, 1);
        uint80 round = _expireAt(ethFeed, 2_000e8);
        market.settle(ethPut, round);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.AlreadySettled.selector, ethPut));
        market.settle(ethPut, round);
    }

    function test_redeem_or_withdraw_before_settlement_reverts() public {
        _openPosition(ethPut, 1);
        vm.warp(EXPIRY + 1);
        vm.prank(taker);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.NotSettled.selector, ethPut));
        market.redeem(ethPut, 1);
        vm.prank(maker);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.NotSettled.selector, ethPut));
        market.withdraw(ethPut, 1);
    }

    function test_a_round_from_before_expiry_is_stale() public {
        vm.warp(EXPIRY - 10);
        uint80 early = ethFeed.setAnswer(2_000e8);
        vm.warp(EXPIRY + 5);
        vm.expectRevert(
            abi.encodeWithSelector(OptionsMarket.RoundBeforeExpiry.selector, early, EXPIRY - 10, EXPIRY)
        );
        market.settle(ethPut, early);
        // a round posted now but stamped before expiry is stale too
        uint80 backdated = ethFeed.setRoundData(2_000e8, EXPIRY - 5, EXPIRY - 5);
        vm.expectRevert(
            abi.encodeWithSelector(OptionsMarket.RoundBeforeExpiry.selector, backdated, EXPIRY - 5, EXPIRY)
        );
        market.settle(ethPut, backdated);
    }

    function test_a_missing_round_reverts() public {
        vm.warp(EXPIRY + 5);
        vm.expectRevert(abi.encodeWithSelector(DevOracle.RoundNotFound.selector, uint80(2)));
        market.settle(ethPut, 2);
    }

    function test_only_the_first_round_after_expiry_settles() public {
        vm.warp(EXPIRY + 1);
        uint80 first = ethFeed.setAnswer(2_000e8);
        vm.warp(EXPIRY + 2);
        uint80 second = ethFeed.setAnswer(3_500e8);
        vm.expectRevert(
            abi.encodeWithSelector(OptionsMarket.NotFirstRoundAfterExpiry.selector, second, first, EXPIRY + 1)
        );
        market.settle(ethCall, second);
        market.settle(ethCall, first);
    }

    function test_a_feed_silent_for_three_hours_after_expiry_still_settles_with_its_first_round() public {
        _openPosition(ethPut, 1);
        vm.warp(EXPIRY - 60);
        ethFeed.setAnswer(2_900e8); // the last round before expiry
        vm.warp(EXPIRY + 3 hours); // heartbeat longer than an hour: nothing posted since
        uint80 late = ethFeed.setAnswer(2_000e8);
        vm.warp(EXPIRY + 3 hours + 10);
        uint80 later = ethFeed.setAnswer(3_500e8);
        // still the FIRST round at or after expiry: the later one cannot be picked
        vm.expectRevert(
            abi.encodeWithSelector(OptionsMarket.NotFirstRoundAfterExpiry.selector, later, late, EXPIRY + 3 hours)
        );
        market.settle(ethPut, later);
        vm.expectEmit(true, false, false, true);
        emit OptionsMarket.Settled(ethPut, late, 2_000e6, 100e6); // 0.1 * (3000 - 2000)
        market.settle(ethPut, late);
        OptionsMarket.Series memory s = market.series(ethPut);
        assertEq(uint256(s.settlementPrice), 2_000e6, "settled at the late first round");
        vm.prank(taker);
        assertEq(market.redeem(ethPut, 1), 100e6, "the long is paid: collateral not locked");
    }

    function test_zero_or_negative_prices_are_refused() public {
        ScriptedFeed feed = new ScriptedFeed();
        feed.put(1, 1e8, T0, 1);
        uint256 sid = _seriesOn(feed);
        vm.warp(EXPIRY);
        uint80 zero = ethFeed.setAnswer(0);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.BadPrice.selector, zero, int256(0)));
        market.settle(ethPut, zero);
        feed.put(2, -1, EXPIRY, 2);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.BadPrice.selector, uint80(2), int256(-1)));
        market.settle(sid, 2);
    }

    function test_an_incomplete_round_is_refused() public {
        ScriptedFeed feed = new ScriptedFeed();
        feed.put(1, 1e8, T0, 1);
        uint256 sid = _seriesOn(feed);
        vm.warp(EXPIRY);
        feed.put(2, 2e8, EXPIRY, 1); // answer carried over from round 1
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.IncompleteRound.selector, uint80(2), uint80(1)));
        market.settle(sid, 2);
    }

    function test_first_round_of_a_new_phase_settles_without_a_predecessor() public {
        ScriptedFeed feed = new ScriptedFeed();
        uint256 sid = _seriesOn(feed);
        vm.warp(EXPIRY);
        uint80 phase2first = uint80((uint256(2) << 64) | 1);
        feed.put(phase2first, 2e8, EXPIRY, phase2first);
        market.settle(sid, phase2first);
        assertEq(market.series(sid).settlementPrice, 2e6, "settled at 2 USDC");
    }

    function _seriesOn(ScriptedFeed feed) internal returns (uint256) {
        market.setFeed(address(wbtc), feed);
        return market.listSeries(address(wbtc), address(usdc), 1e6, EXPIRY, false, 1e8);
    }

    function testFuzz_wbtc_put_payoff_is_exact_with_eight_decimals(uint256 price8, uint256 amount) public {
        price8 = bound(price8, 1, 200_000e8);
        amount = bound(amount, 1, 1_000);
        _openPosition(btcPut, amount);
        market.settle(btcPut, _expireAt(btcFeed, int256(price8)));
        uint256 price = price8 / 100;
        uint256 want = price < K_BTC ? ((K_BTC - price) * BTC_SIZE) / 1e8 : 0;
        assertEq(market.series(btcPut).payoffPerContract, want, "payoff per contract");
        vm.prank(taker);
        uint256 toHolder = market.redeem(btcPut, amount);
        vm.prank(maker);
        uint256 toWriter = market.withdraw(btcPut, amount);
        assertEq(toHolder, amount * want, "holder payout");
        assertEq(toHolder + toWriter, amount * 600e6, "holder + writer = collateral");
    }

    function testFuzz_payoffs_conserve_collateral(uint256 price8, uint256 amount, bool isCall) public {
        price8 = bound(price8, 1, 1_000_000e8);
        amount = bound(amount, 1, 1_000);
        uint256 sid = isCall ? ethCall : ethPut;
        _openPosition(sid, amount);
        address token = market.collateralToken(sid);
        uint256 locked = amount * market.series(sid).collateralPerContract;
        market.settle(sid, _expireAt(ethFeed, int256(price8)));
        vm.prank(taker);
        uint256 toHolder = market.redeem(sid, amount);
        vm.prank(maker);
        uint256 toWriter = market.withdraw(sid, amount);
        assertEq(toHolder + toWriter, locked, "holder + writer = collateral");
        assertEq(DevTokenLike(token).balanceOf(address(market)), 0, "market empty");
        uint256 price = price8 / 100; // 8 -> 6 decimals
        uint256 want;
        if (isCall && price > K_ETH) want = amount * ((ETH_SIZE * (price - K_ETH)) / price);
        if (!isCall && price < K_ETH) want = amount * ((K_ETH - price) * ETH_SIZE / 1e18);
        assertEq(toHolder, want, "holder payout");
    }
}

interface DevTokenLike {
    function balanceOf(address) external view returns (uint256);
}

/// A taker contract whose ERC-1155 receive hook tries to fill the same quote again.
contract Reenterer {
    OptionsMarket internal immutable market;
    OptionsMarket.Quote internal quote;
    bytes internal signature;

    constructor(OptionsMarket market_) {
        market = market_;
    }

    function approve(DevTokenApprove token) external {
        token.approve(address(market), type(uint256).max);
    }

    function arm(OptionsMarket.Quote calldata q, bytes calldata sig) external {
        quote = q;
        signature = sig;
    }

    function fill(OptionsMarket.Quote calldata q, bytes calldata sig, uint256 amount) external {
        market.fill(q, sig, amount);
    }

    function onERC1155Received(address, address, uint256, uint256, bytes calldata) external returns (bytes4) {
        market.fill(quote, signature, 1);
        return this.onERC1155Received.selector;
    }
}

interface DevTokenApprove {
    function approve(address spender, uint256 amount) external returns (bool);
}
