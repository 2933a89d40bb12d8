// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {OptionsMarket} from "../src/OptionsMarket.sol";
import {OptionsFixture} from "./utils/OptionsFixture.sol";

interface VmState {
    function snapshotState() external returns (uint256);
    function revertToState(uint256 snapshotId) external returns (bool);
}

/// `fillMany`: the same checks, records and end balances as the separate fills, with one token
/// move per party; all or nothing.
contract OptionsMarketFillManyTest is OptionsFixture {
    VmState internal constant vmState = VmState(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);
    uint256 internal constant MAKER2_KEY = 0xC0DE;
    address internal maker2;

    function setUp() public override {
        super.setUp();
        maker2 = vms.addr(MAKER2_KEY);
        _fund(maker2);
    }

    struct Batch {
        OptionsMarket.Quote[] quotes;
        bytes[] sigs;
        uint256[] amounts;
    }

    function _q(uint256 key, uint256 seriesId, bool makerSells, uint256 size, uint256 premium, uint256 salt)
        internal
        view
        returns (OptionsMarket.Quote memory q)
    {
        q = _quote(seriesId, makerSells, size, premium);
        q.maker = vms.addr(key);
        q.nonce = market.nonces(q.maker);
        q.salt = salt;
    }

    function _batch(uint256 n) internal pure returns (Batch memory b) {
        b.quotes = new OptionsMarket.Quote[](n);
        b.sigs = new bytes[](n);
        b.amounts = new uint256[](n);
    }

    function _set(Batch memory b, uint256 i, uint256 key, OptionsMarket.Quote memory q, uint256 amount)
        internal
        view
    {
        b.quotes[i] = q;
        b.sigs[i] = _sign(key, q);
        b.amounts[i] = amount;
    }

    /// Every balance a fill can move, of the maker(s), the taker and the market.
    function _state() internal view returns (uint256[] memory out) {
        address[3] memory who = [maker, maker2, taker];
        uint256[3] memory ids = [ethPut, ethCall, btcPut];
        out = new uint256[](3 * 3 + 3 + 3 * 6);
        uint256 k;
        for (uint256 i = 0; i < 3; ++i) {
            out[k++] = usdc.balanceOf(who[i]);
            out[k++] = weth.balanceOf(who[i]);
            out[k++] = wbtc.balanceOf(who[i]);
            for (uint256 j = 0; j < 3; ++j) {
                out[k++] = market.balanceOf(who[i], market.longId(ids[j]));
                out[k++] = market.balanceOf(who[i], market.shortId(ids[j]));
            }
        }
        out[k++] = usdc.balanceOf(address(market));
        out[k++] = weth.balanceOf(address(market));
        out[k++] = wbtc.balanceOf(address(market));
    }

    function _assertSameAsSeparateFills(Batch memory b) internal {
        uint256 snap = vmState.snapshotState();
        uint256[] memory premiums = new uint256[](b.quotes.length);
        for (uint256 i = 0; i < b.quotes.length; ++i) {
            premiums[i] = _fillAs(taker, b.quotes[i], b.sigs[i], b.amounts[i]);
        }
        uint256[] memory separate = _state();
        vmState.revertToState(snap);
        vm.prank(taker);
        uint256[] memory got = market.fillMany(b.quotes, b.sigs, b.amounts);
        uint256[] memory batched = _state();
        for (uint256 i = 0; i < got.length; ++i) {
            assertEq(got[i], premiums[i], string.concat("premium of quote ", vm.toString(i)));
            bytes32 h = market.hashQuote(b.quotes[i]);
            assertTrue(market.filled(h) >= b.amounts[i], "fill recorded per quote");
        }
        for (uint256 k = 0; k < separate.length; ++k) {
            assertEq(batched[k], separate[k], string.concat("balance ", vm.toString(k)));
        }
    }

    function test_four_fills_in_one_call_move_what_four_separate_fills_move() public {
        Batch memory b = _batch(4);
        _set(b, 0, MAKER_KEY, _q(MAKER_KEY, ethPut, true, 3, 40e6, 1), 3); // buy 3 puts
        _set(b, 1, MAKER_KEY, _q(MAKER_KEY, ethPut, true, 5, 41e6, 2), 2); // buy 2 more, partly
        _set(b, 2, MAKER_KEY, _q(MAKER_KEY, ethPut, false, 1, 35e6, 3), 1); // write 1 put
        _set(b, 3, MAKER2_KEY, _q(MAKER2_KEY, ethCall, true, 1, 90e6, 4), 1); // buy a call elsewhere
        _assertSameAsSeparateFills(b);
    }

    function test_a_taker_that_writes_more_than_it_buys_receives_the_net_premium() public {
        Batch memory b = _batch(2);
        _set(b, 0, MAKER_KEY, _q(MAKER_KEY, ethPut, true, 1, 40e6, 1), 1);
        _set(b, 1, MAKER_KEY, _q(MAKER_KEY, btcPut, false, 2, 700e6, 2), 2);
        _assertSameAsSeparateFills(b);
    }

    function test_any_bad_quote_reverts_the_whole_call() public {
        Batch memory b = _batch(2);
        _set(b, 0, MAKER_KEY, _q(MAKER_KEY, ethPut, true, 1, 40e6, 1), 1);
        OptionsMarket.Quote memory q = _q(MAKER_KEY, ethPut, true, 1, 40e6, 2);
        b.quotes[1] = q;
        b.sigs[1] = _sign(TAKER_KEY, q); // not the maker's
        b.amounts[1] = 1;
        uint256[] memory before = _state();
        vm.prank(taker);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.BadSignature.selector, market.hashQuote(q), maker));
        market.fillMany(b.quotes, b.sigs, b.amounts);
        uint256[] memory afterwards = _state();
        for (uint256 k = 0; k < before.length; ++k) {
            assertEq(afterwards[k], before[k], "nothing moved");
        }
        assertEq(market.filled(market.hashQuote(b.quotes[0])), 0, "first fill not recorded");
    }

    function test_a_quote_twice_in_one_call_cannot_overfill() public {
        Batch memory b = _batch(2);
        OptionsMarket.Quote memory q = _q(MAKER_KEY, ethPut, true, 3, 40e6, 1);
        _set(b, 0, MAKER_KEY, q, 2);
        _set(b, 1, MAKER_KEY, q, 2);
        vm.prank(taker);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.Overfill.selector, market.hashQuote(q), 3, 2, 2));
        market.fillMany(b.quotes, b.sigs, b.amounts);
    }

    function test_mismatched_or_empty_lists_are_refused() public {
        Batch memory b = _batch(1);
        _set(b, 0, MAKER_KEY, _q(MAKER_KEY, ethPut, true, 1, 40e6, 1), 1);
        vm.prank(taker);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.BatchLengths.selector, 1, 1, 0));
        market.fillMany(b.quotes, b.sigs, new uint256[](0));
        Batch memory empty = _batch(0);
        vm.prank(taker);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.BatchLengths.selector, 0, 0, 0));
        market.fillMany(empty.quotes, empty.sigs, empty.amounts);
    }

    /// Fuzz: three quotes on two series and one or two makers, each side either way.
    function testFuzz_fill_many_equals_separate_fills(
        uint256 sizeA,
        uint256 sizeB,
        uint256 premiumA,
        uint256 premiumB,
        uint8 flags
    ) public {
        sizeA = bound(sizeA, 1, 500);
        sizeB = bound(sizeB, 1, 500);
        premiumA = bound(premiumA, 0, 2_000e6);
        premiumB = bound(premiumB, 0, 2_000e6);
        _assertSameAsSeparateFills(_fuzzBatch(sizeA, sizeB, premiumA, premiumB, flags));
    }

    /// Fuzz: two to six legs, each on any of three series (two quote tokens' collateral, calls
    /// and puts), either side, from either maker, with any size and premium: every party ends
    /// where the same fills sent one by one leave it (merged pulls, net premiums, batch mints).
    function testFuzz_any_mix_of_legs_equals_separate_fills(uint256 seed, uint8 legs) public {
        uint256 n = bound(legs, 2, 6);
        uint256[3] memory ids = [ethPut, ethCall, btcPut];
        Batch memory b = _batch(n);
        for (uint256 i = 0; i < n; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            uint256 key = r & 1 != 0 ? MAKER2_KEY : MAKER_KEY;
            uint256 size = 1 + ((r >> 8) % 40);
            uint256 premium = (r >> 16) % 1_000e6;
            OptionsMarket.Quote memory q = _q(key, ids[(r >> 2) % 3], r & 2 != 0, size, premium, 100 + i);
            _set(b, i, key, q, 1 + ((r >> 32) % size));
        }
        _assertSameAsSeparateFills(b);
    }

    function _fuzzBatch(uint256 sizeA, uint256 sizeB, uint256 premiumA, uint256 premiumB, uint8 flags)
        internal
        view
        returns (Batch memory b)
    {
        bool sellsA = flags & 1 != 0;
        uint256 keyB = flags & 4 != 0 ? MAKER2_KEY : MAKER_KEY;
        b = _batch(3);
        _set(b, 0, MAKER_KEY, _q(MAKER_KEY, ethPut, sellsA, sizeA, premiumA, 1), sizeA);
        _set(b, 1, keyB, _q(keyB, ethCall, flags & 2 != 0, sizeB, premiumB, 2), sizeB);
        _set(b, 2, MAKER_KEY, _q(MAKER_KEY, ethPut, !sellsA, sizeB, premiumB, 3), sizeB);
    }
}
