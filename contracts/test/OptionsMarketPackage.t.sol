// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {BatchExecutor} from "../src/BatchExecutor.sol";
import {DevToken} from "../src/DevToken.sol";
import {OptionsMarket} from "../src/OptionsMarket.sol";
import {OptionsFixture} from "./utils/OptionsFixture.sol";

interface VmPackage {
    function snapshotState() external returns (uint256);
    function revertToState(uint256 snapshotId) external returns (bool);
}

/// `fillPackage`: one maker signature over every leg of a structure; every check of `fill` once
/// per package (and per leg where it is the leg's), one record, the same end balances as the
/// legs filled one by one, all or nothing; settlement unchanged.
contract OptionsMarketPackageTest is OptionsFixture {
    VmPackage internal constant vmState = VmPackage(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);
    uint256 internal constant K_LOW = 2_500e6;
    uint256 internal constant K_HIGH = 3_500e6;
    uint256 internal ethPutLow; // 2,500 put: 250 USDC collateral per contract
    uint256 internal ethCallHigh; // 3,500 call: 0.1 WETH per contract

    function setUp() public override {
        super.setUp();
        ethPutLow = market.listSeries(address(weth), address(usdc), K_LOW, EXPIRY, false, ETH_SIZE);
        ethCallHigh = market.listSeries(address(weth), address(usdc), K_HIGH, EXPIRY, true, ETH_SIZE);
    }

    function _leg(uint256 seriesId, bool makerSells, uint256 ratio, uint256 premium)
        internal
        pure
        returns (OptionsMarket.Leg memory)
    {
        return OptionsMarket.Leg({seriesId: seriesId, makerSells: makerSells, ratio: ratio, premium: premium});
    }

    /// A short iron condor for the taker: buys the 2,500 put and the 3,500 call (the maker sells
    /// them), writes the 3,000 put and the 3,000 call (the maker buys them).
    function _condorLegs() internal view returns (OptionsMarket.Leg[] memory legs) {
        legs = new OptionsMarket.Leg[](4);
        legs[0] = _leg(ethPutLow, true, 1, 20e6);
        legs[1] = _leg(ethPut, false, 1, 60e6);
        legs[2] = _leg(ethCall, false, 1, 70e6);
        legs[3] = _leg(ethCallHigh, true, 1, 25e6);
    }

    function _pkg(OptionsMarket.Leg[] memory legs, uint256 size) internal view returns (OptionsMarket.Package memory) {
        return OptionsMarket.Package({
            maker: maker,
            taker: address(0),
            legs: legs,
            size: size,
            deadline: block.timestamp + 60,
            nonce: market.nonces(maker),
            allowPartial: true,
            salt: 1
        });
    }

    function _signP(uint256 key, OptionsMarket.Package memory p) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vms.sign(key, market.hashPackage(p));
        return abi.encodePacked(r, s, v);
    }

    function _fillP(OptionsMarket.Package memory p, bytes memory sig, uint256 units)
        internal
        returns (uint256 paid, uint256 received)
    {
        vm.prank(taker);
        return market.fillPackage(p, sig, units);
    }

    /// Every balance a package fill can move: tokens of maker, taker and market, positions.
    function _state() internal view returns (uint256[] memory out) {
        address[2] memory who = [maker, taker];
        uint256[5] memory ids = [ethPut, ethCall, btcPut, ethPutLow, ethCallHigh];
        out = new uint256[](2 * 3 + 2 * 10 + 3);
        uint256 k;
        for (uint256 i = 0; i < 2; ++i) {
            out[k++] = usdc.balanceOf(who[i]);
            out[k++] = weth.balanceOf(who[i]);
            out[k++] = wbtc.balanceOf(who[i]);
            for (uint256 j = 0; j < 5; ++j) {
                out[k++] = market.balanceOf(who[i], market.longId(ids[j]));
                out[k++] = market.balanceOf(who[i], market.shortId(ids[j]));
            }
        }
        out[k++] = usdc.balanceOf(address(market));
        out[k++] = weth.balanceOf(address(market));
        out[k++] = wbtc.balanceOf(address(market));
    }

    function _assertState(uint256[] memory got, uint256[] memory want, string memory what) internal pure {
        for (uint256 k = 0; k < want.length; ++k) {
            assertEq(got[k], want[k], string.concat(what, ": balance ", vm.toString(k)));
        }
    }

    // -- the happy path, to the wei ----------------------------------------------------------------

    function test_an_iron_condor_package_moves_exact_collateral_net_premium_and_positions() public {
        OptionsMarket.Package memory p = _pkg(_condorLegs(), 5);
        bytes memory sig = _signP(MAKER_KEY, p);
        uint256[] memory u0 = new uint256[](6);
        (u0[0], u0[1], u0[2]) = (usdc.balanceOf(taker), weth.balanceOf(taker), usdc.balanceOf(maker));
        (u0[3], u0[4], u0[5]) = (weth.balanceOf(maker), usdc.balanceOf(address(market)), weth.balanceOf(address(market)));
        bytes32 h = market.hashPackage(p);
        vm.expectEmit(true, true, true, true);
        emit OptionsMarket.PackageFilled(h, maker, taker, 3, 3, 3 * 45e6, 3 * 130e6);
        (uint256 paid, uint256 received) = _fillP(p, sig, 3);
        assertEq(paid, 135e6, "premium paid: 3 x (20 + 25)");
        assertEq(received, 390e6, "premium received: 3 x (60 + 70)");
        // taker: writes 3 puts at 3,000 (900 USDC) and 3 calls (0.3 WETH); nets 255 USDC credit
        assertEq(usdc.balanceOf(taker), u0[0] - 900e6 + 255e6, "taker USDC");
        assertEq(weth.balanceOf(taker), u0[1] - 3e17, "taker WETH");
        // maker: writes 3 puts at 2,500 (750 USDC) and 3 calls (0.3 WETH); pays the 255 credit
        assertEq(usdc.balanceOf(maker), u0[2] - 750e6 - 255e6, "maker USDC");
        assertEq(weth.balanceOf(maker), u0[3] - 3e17, "maker WETH");
        assertEq(usdc.balanceOf(address(market)), u0[4] + 1_650e6, "market USDC collateral");
        assertEq(weth.balanceOf(address(market)), u0[5] + 6e17, "market WETH collateral");
        assertEq(market.balanceOf(taker, market.longId(ethPutLow)), 3, "taker long low put");
        assertEq(market.balanceOf(taker, market.shortId(ethPut)), 3, "taker short put");
        assertEq(market.balanceOf(taker, market.shortId(ethCall)), 3, "taker short call");
        assertEq(market.balanceOf(taker, market.longId(ethCallHigh)), 3, "taker long high call");
        assertEq(market.balanceOf(maker, market.shortId(ethPutLow)), 3, "maker short low put");
        assertEq(market.balanceOf(maker, market.longId(ethPut)), 3, "maker long put");
        assertEq(market.balanceOf(maker, market.longId(ethCall)), 3, "maker long call");
        assertEq(market.balanceOf(maker, market.shortId(ethCallHigh)), 3, "maker short high call");
        assertEq(market.filled(h), 3, "units recorded once for the package");
        assertEq(market.remainingPackage(p), 2, "two units left");
    }

    /// The package leaves every party exactly where the same legs filled one by one leave it.
    function _assertSameAsSeparateFills(OptionsMarket.Package memory p, uint256 units) internal {
        uint256 snap = vmState.snapshotState();
        uint256 paid;
        uint256 received;
        for (uint256 i = 0; i < p.legs.length; ++i) {
            OptionsMarket.Leg memory leg = p.legs[i];
            uint256 n = units * leg.ratio;
            OptionsMarket.Quote memory q = _quote(leg.seriesId, leg.makerSells, n, leg.premium);
            q.salt = 1000 + i;
            uint256 premium = _fillAs(taker, q, _sign(MAKER_KEY, q), n);
            if (leg.makerSells) paid += premium;
            else received += premium;
        }
        uint256[] memory separate = _state();
        vmState.revertToState(snap);
        (uint256 gotPaid, uint256 gotReceived) = _fillP(p, _signP(MAKER_KEY, p), units);
        assertEq(gotPaid, paid, "premium paid");
        assertEq(gotReceived, received, "premium received");
        _assertState(_state(), separate, "package vs separate fills");
    }

    function test_a_package_moves_what_its_legs_filled_one_by_one_move() public {
        _assertSameAsSeparateFills(_pkg(_condorLegs(), 4), 4);
    }

    function test_ratios_scale_each_leg_and_two_legs_may_share_a_series() public {
        OptionsMarket.Leg[] memory legs = new OptionsMarket.Leg[](3);
        legs[0] = _leg(ethPut, true, 1, 40e6); // a 1x2 put ratio spread, plus the same put again
        legs[1] = _leg(ethPutLow, false, 2, 15e6);
        legs[2] = _leg(ethPut, true, 3, 41e6);
        _assertSameAsSeparateFills(_pkg(legs, 7), 7);
    }

    /// Fuzz: one to six legs on five series (puts and calls, both sides), any ratio, premium
    /// and units: the package's moves equal the separate fills' to the wei.
    function testFuzz_package_equals_separate_fills(uint256 seed, uint8 count, uint256 units) public {
        uint256 n = bound(count, 1, 6);
        units = bound(units, 1, 50);
        uint256[5] memory ids = [ethPut, ethCall, btcPut, ethPutLow, ethCallHigh];
        OptionsMarket.Leg[] memory legs = new OptionsMarket.Leg[](n);
        for (uint256 i = 0; i < n; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            legs[i] = _leg(ids[(r >> 2) % 5], r & 1 != 0, 1 + ((r >> 8) % 5), (r >> 16) % 1_000e6);
        }
        OptionsMarket.Package memory p = _pkg(legs, units + (seed % 3));
        _assertSameAsSeparateFills(p, units);
    }

    // -- refusals: nothing moves --------------------------------------------------------------------

    function _assertRefused(OptionsMarket.Package memory p, bytes memory sig, uint256 units, bytes memory err)
        internal
    {
        uint256[] memory before = _state();
        vm.prank(taker);
        vm.expectRevert(err);
        market.fillPackage(p, sig, units);
        _assertState(_state(), before, "refused");
    }

    function test_a_signature_of_another_key_or_another_package_is_refused() public {
        OptionsMarket.Package memory p = _pkg(_condorLegs(), 2);
        bytes32 h = market.hashPackage(p);
        _assertRefused(p, _signP(TAKER_KEY, p), 1, abi.encodeWithSelector(OptionsMarket.BadSignature.selector, h, maker));
        OptionsMarket.Package memory other = _pkg(_condorLegs(), 3);
        _assertRefused(p, _signP(MAKER_KEY, other), 1, abi.encodeWithSelector(OptionsMarket.BadSignature.selector, h, maker));
        // a single-leg Quote's signature over the same digest bytes is no package signature
        OptionsMarket.Quote memory q = _quote(ethPut, true, 2, 40e6);
        _assertRefused(p, _sign(MAKER_KEY, q), 1, abi.encodeWithSelector(OptionsMarket.BadSignature.selector, h, maker));
        _assertRefused(p, hex"00", 1, abi.encodeWithSelector(OptionsMarket.BadSignature.selector, h, maker));
    }

    /// Any leg field, a leg added or dropped, or a package field changed after signing: refused.
    function test_a_tampered_leg_or_field_is_refused() public {
        OptionsMarket.Package memory p = _pkg(_condorLegs(), 2);
        bytes memory sig = _signP(MAKER_KEY, p);
        for (uint256 f = 0; f < 8; ++f) {
            OptionsMarket.Package memory t = _pkg(_condorLegs(), 2);
            if (f == 0) t.legs[1].premium += 1; // the taker asks for more credit
            if (f == 1) t.legs[0].ratio = 2;
            if (f == 2) t.legs[2].seriesId = btcPut;
            if (f == 3) t.legs[3].makerSells = false;
            if (f == 4) {
                OptionsMarket.Leg[] memory three = new OptionsMarket.Leg[](3);
                (three[0], three[1], three[2]) = (t.legs[1], t.legs[2], t.legs[3]); // drop the wing
                t.legs = three;
            }
            if (f == 5) t.size = 3;
            if (f == 6) t.allowPartial = false;
            if (f == 7) t.deadline += 1;
            bytes32 h = market.hashPackage(t);
            _assertRefused(t, sig, f == 6 ? 2 : 1, abi.encodeWithSelector(OptionsMarket.BadSignature.selector, h, maker));
        }
        _fillP(p, sig, 1); // the signed one fills
    }

    function test_a_dirty_maker_sells_word_is_refused() public {
        OptionsMarket.Package memory p = _pkg(_condorLegs(), 2);
        bytes memory sig = _signP(MAKER_KEY, p);
        bytes memory data = abi.encodeCall(market.fillPackage, (p, sig, 1));
        // head: selector, 3 words (offset of p, offset of sig, units); p: 8 words (legs at its
        // word 2 is an offset), then the legs' length and four words per leg
        uint256 legsAt = 4 + 32 * 3 + 32 * 8 + 32; // first leg
        uint256 makerSellsOfLeg1 = legsAt + 32 * 4 + 32;
        assertEq(uint8(data[makerSellsOfLeg1 + 31]), 0, "leg 1 is a maker buy");
        data[makerSellsOfLeg1] = 0x01; // a high bit set: not a clean bool
        vm.prank(taker);
        (bool ok,) = address(market).call(data);
        assertTrue(!ok, "a dirty bool word reverts");
        assertEq(market.filled(market.hashPackage(p)), 0, "nothing recorded");
    }

    /// A dirty `makerSells` word reverts in every entry point that hashes a package, before
    /// the signature is even looked at: `hashPackage`, `remainingPackage` and `cancelPackage`
    /// (which would otherwise cancel a digest nobody signed and leave the package live).
    function test_a_dirty_maker_sells_word_reverts_before_any_hash_is_used() public {
        OptionsMarket.Package memory p = _pkg(_condorLegs(), 2);
        bytes memory sig = _signP(MAKER_KEY, p);
        bytes32 h = market.hashPackage(p);
        // p is the first argument of each call: its legs start 4 + 32 * (head words) + 32 * 8
        // + 32 bytes in; makerSells of leg 1 is its second word
        bytes[4] memory calls = [
            abi.encodeCall(market.hashPackage, (p)),
            abi.encodeCall(market.remainingPackage, (p)),
            abi.encodeCall(market.cancelPackage, (p)),
            abi.encodeCall(market.fillPackage, (p, sig, 1))
        ];
        uint256[4] memory heads = [uint256(1), 1, 1, 3];
        for (uint256 c = 0; c < 4; ++c) {
            bytes memory data = calls[c];
            uint256 at = 4 + 32 * heads[c] + 32 * 8 + 32 + 32 * 4 + 32 + 31;
            assertEq(uint8(data[at]), 0, string.concat("leg 1 is a maker buy in call ", vm.toString(c)));
            data[at] = 0x02; // neither 0 nor 1
            vm.prank(c == 3 ? taker : maker);
            (bool ok, bytes memory err) = address(market).call(data);
            assertTrue(!ok, "a dirty bool word reverts");
            assertEq(err.length, 0, "reverted by the word check, not by a later one (BadSignature)");
        }
        assertTrue(!market.cancelled(h), "the signed package is not cancelled");
        assertEq(market.filled(h), 0, "nothing recorded");
        _fillP(p, sig, 1); // the clean package still fills
    }

    function test_an_expired_package_is_refused_and_its_deadline_is_inclusive() public {
        OptionsMarket.Package memory p = _pkg(_condorLegs(), 2);
        bytes memory sig = _signP(MAKER_KEY, p);
        vm.warp(p.deadline + 1);
        _assertRefused(
            p,
            sig,
            1,
            abi.encodeWithSelector(OptionsMarket.QuoteExpired.selector, market.hashPackage(p), p.deadline)
        );
        assertEq(market.remainingPackage(p), 0, "nothing remains once expired");
        vm.warp(p.deadline);
        _fillP(p, sig, 1);
    }

    function test_a_filled_package_cannot_be_replayed_and_partial_fills_add_up_to_its_size() public {
        OptionsMarket.Package memory p = _pkg(_condorLegs(), 3);
        bytes memory sig = _signP(MAKER_KEY, p);
        bytes32 h = market.hashPackage(p);
        _fillP(p, sig, 1);
        _fillP(p, sig, 2);
        assertEq(market.filled(h), 3, "1 + 2 units");
        assertEq(market.remainingPackage(p), 0, "none left");
        _assertRefused(p, sig, 1, abi.encodeWithSelector(OptionsMarket.Overfill.selector, h, 3, 3, 1));
        assertEq(market.balanceOf(taker, market.shortId(ethPut)), 3, "three units in all");
    }

    function test_an_all_or_none_package_refuses_a_partial_fill_and_units_must_be_positive() public {
        OptionsMarket.Package memory p = _pkg(_condorLegs(), 3);
        p.allowPartial = false;
        bytes memory sig = _signP(MAKER_KEY, p);
        bytes32 h = market.hashPackage(p);
        _assertRefused(p, sig, 2, abi.encodeWithSelector(OptionsMarket.PartialFillNotAllowed.selector, h, 3, 2));
        _assertRefused(p, sig, 4, abi.encodeWithSelector(OptionsMarket.Overfill.selector, h, 3, 0, 4));
        _assertRefused(p, sig, 0, abi.encodeWithSelector(OptionsMarket.ZeroAmount.selector));
        _fillP(p, sig, 3);
    }

    function test_cancelling_or_bumping_the_nonce_kills_a_package_and_only_its_maker_cancels() public {
        OptionsMarket.Package memory p = _pkg(_condorLegs(), 3);
        bytes memory sig = _signP(MAKER_KEY, p);
        bytes32 h = market.hashPackage(p);
        vm.prank(taker);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.NotMaker.selector, maker, taker));
        market.cancelPackage(p);
        uint256 snap = vmState.snapshotState();
        vm.prank(maker);
        market.cancelPackage(p);
        assertTrue(market.cancelled(h), "cancelled");
        assertEq(market.remainingPackage(p), 0, "nothing remains once cancelled");
        _assertRefused(p, sig, 1, abi.encodeWithSelector(OptionsMarket.QuoteIsCancelled.selector, h));
        vmState.revertToState(snap);
        vm.prank(maker);
        market.bumpNonce();
        _assertRefused(p, sig, 1, abi.encodeWithSelector(OptionsMarket.StaleNonce.selector, maker, 0, 1));
    }

    function test_a_named_taker_is_enforced_and_self_trade_is_refused() public {
        OptionsMarket.Package memory p = _pkg(_condorLegs(), 3);
        p.taker = address(0xBEEF);
        bytes memory sig = _signP(MAKER_KEY, p);
        _assertRefused(p, sig, 1, abi.encodeWithSelector(OptionsMarket.WrongTaker.selector, address(0xBEEF), taker));
        OptionsMarket.Package memory own = _pkg(_condorLegs(), 3);
        bytes memory ownSig = _signP(MAKER_KEY, own);
        vm.prank(maker);
        vm.expectRevert(abi.encodeWithSelector(OptionsMarket.SelfTrade.selector, maker));
        market.fillPackage(own, ownSig, 1);
    }

    function test_malformed_packages_are_refused_with_the_leg_named() public {
        OptionsMarket.Package memory empty = _pkg(new OptionsMarket.Leg[](0), 1);
        _assertRefused(
            empty,
            _signP(MAKER_KEY, empty),
            1,
            abi.encodeWithSelector(OptionsMarket.InvalidPackage.selector, 0, "a package has 1 to 16 legs")
        );
        OptionsMarket.Leg[] memory many = new OptionsMarket.Leg[](17);
        for (uint256 i = 0; i < 17; ++i) {
            many[i] = _leg(ethPut, true, 1, 1e6);
        }
        OptionsMarket.Package memory big = _pkg(many, 1);
        _assertRefused(
            big,
            _signP(MAKER_KEY, big),
            1,
            abi.encodeWithSelector(OptionsMarket.InvalidPackage.selector, 17, "a package has 1 to 16 legs")
        );
        OptionsMarket.Leg[] memory legs = _condorLegs();
        legs[2].ratio = 0;
        OptionsMarket.Package memory zero = _pkg(legs, 1);
        _assertRefused(
            zero,
            _signP(MAKER_KEY, zero),
            1,
            abi.encodeWithSelector(OptionsMarket.InvalidPackage.selector, 2, "ratio must be > 0")
        );
        legs = _condorLegs();
        legs[1].seriesId = 99;
        OptionsMarket.Package memory unknown = _pkg(legs, 1);
        _assertRefused(
            unknown, _signP(MAKER_KEY, unknown), 1, abi.encodeWithSelector(OptionsMarket.UnknownSeries.selector, 99)
        );
    }

    /// `remainingPackage` says 0 for every shape `fillPackage` refuses, not only for the
    /// package-wide reasons: callers (our batch) read it as "what the market still lets fill".
    function test_nothing_remains_of_a_package_whose_shape_cannot_fill() public {
        OptionsMarket.Package memory ok = _pkg(_condorLegs(), 2);
        assertEq(market.remainingPackage(ok), 2, "a fillable package");
        assertEq(market.remainingPackage(_pkg(new OptionsMarket.Leg[](0), 2)), 0, "no legs");
        OptionsMarket.Leg[] memory many = new OptionsMarket.Leg[](17);
        for (uint256 i = 0; i < 17; ++i) {
            many[i] = _leg(ethPut, true, 1, 1e6);
        }
        assertEq(market.remainingPackage(_pkg(many, 2)), 0, "17 legs");
        OptionsMarket.Leg[] memory legs = _condorLegs();
        legs[2].ratio = 0;
        assertEq(market.remainingPackage(_pkg(legs, 2)), 0, "a zero ratio");
        DevToken dai = new DevToken("Dai", "DAI", 18);
        uint256 daiCall = market.listSeries(address(weth), address(dai), 3_000e18, EXPIRY, true, ETH_SIZE);
        legs = _condorLegs();
        legs[3] = _leg(daiCall, true, 1, 1e18);
        assertEq(market.remainingPackage(_pkg(legs, 2)), 0, "legs in two quote tokens");
    }

    function test_every_leg_must_settle_in_one_quote_token() public {
        DevToken dai = new DevToken("Dai", "DAI", 18);
        uint256 daiCall = market.listSeries(address(weth), address(dai), 3_000e18, EXPIRY, true, ETH_SIZE);
        OptionsMarket.Leg[] memory legs = new OptionsMarket.Leg[](2);
        legs[0] = _leg(ethCall, true, 1, 90e6);
        legs[1] = _leg(daiCall, false, 1, 80e18);
        OptionsMarket.Package memory p = _pkg(legs, 1);
        _assertRefused(
            p,
            _signP(MAKER_KEY, p),
            1,
            abi.encodeWithSelector(
                OptionsMarket.InvalidPackage.selector, 1, "every leg must settle in the quote token of leg 0"
            )
        );
    }

    function test_a_leg_on_an_expired_series_refuses_the_whole_package() public {
        uint64 soon = uint64(block.timestamp + 30);
        uint256 shortLived = market.listSeries(address(weth), address(usdc), K_ETH, soon, false, ETH_SIZE);
        OptionsMarket.Leg[] memory legs = _condorLegs();
        legs[3] = _leg(shortLived, true, 1, 1e6);
        OptionsMarket.Package memory p = _pkg(legs, 1);
        bytes memory sig = _signP(MAKER_KEY, p);
        vm.warp(soon);
        assertEq(market.remainingPackage(p), 0, "nothing remains");
        _assertRefused(p, sig, 1, abi.encodeWithSelector(OptionsMarket.SeriesExpired.selector, shortLived, soon));
    }

    function test_a_maker_short_of_collateral_reverts_every_leg() public {
        OptionsMarket.Package memory p = _pkg(_condorLegs(), 3);
        bytes memory sig = _signP(MAKER_KEY, p);
        uint256 keep = 3 * 250e6 - 1; // one base unit short of the low put's collateral
        uint256 away = usdc.balanceOf(maker) - keep;
        vm.prank(maker);
        usdc.transfer(address(0xdead), away);
        uint256[] memory before = _state();
        vm.prank(taker);
        vms.expectRevert();
        market.fillPackage(p, sig, 3);
        _assertState(_state(), before, "short of collateral");
    }

    // -- through the executor: the net-premium guard --------------------------------------------------

    function _executor() internal returns (BatchExecutor account, address owner) {
        owner = address(0x0A0A);
        account = new BatchExecutor(owner);
        usdc.mint(address(account), 100_000e6);
        weth.mint(address(account), 10e18);
        BatchExecutor.Call[] memory calls = new BatchExecutor.Call[](2);
        calls[0] = BatchExecutor.Call(
            address(usdc), 0, abi.encodeCall(usdc.approve, (address(market), type(uint256).max)), address(0), 0
        );
        calls[1] = BatchExecutor.Call(
            address(weth), 0, abi.encodeCall(weth.approve, (address(market), type(uint256).max)), address(0), 0
        );
        vm.prank(owner);
        account.execute(calls, new BatchExecutor.Guard[](0));
    }

    function test_the_executors_net_premium_guard_holds_for_a_package() public {
        (BatchExecutor account, address owner) = _executor();
        OptionsMarket.Package memory p = _pkg(_condorLegs(), 2);
        bytes memory sig = _signP(MAKER_KEY, p);
        BatchExecutor.Call[] memory calls = new BatchExecutor.Call[](1);
        calls[0] = BatchExecutor.Call(address(market), 0, abi.encodeCall(market.fillPackage, (p, sig, 2)), address(0), 0);
        // the executor writes 2 puts at 3,000 (600 USDC posted) and nets a 170 USDC credit:
        // USDC may fall by 430 at most. Demanding one base unit more credit reverts it all.
        BatchExecutor.Guard[] memory tight = new BatchExecutor.Guard[](1);
        tight[0] = BatchExecutor.Guard(address(usdc), -430e6 + 1);
        uint256 usdc0 = usdc.balanceOf(address(account));
        vm.prank(owner);
        vm.expectRevert(
            abi.encodeWithSelector(BatchExecutor.GuardFailed.selector, 0, address(usdc), -430e6, -430e6 + 1)
        );
        account.execute(calls, tight);
        assertEq(market.filled(market.hashPackage(p)), 0, "nothing filled");
        BatchExecutor.Guard[] memory exact = new BatchExecutor.Guard[](1);
        exact[0] = BatchExecutor.Guard(address(usdc), -430e6);
        vm.prank(owner);
        account.execute(calls, exact);
        assertEq(usdc.balanceOf(address(account)), usdc0 - 430e6, "exact net move");
        assertEq(market.balanceOf(address(account), market.longId(ethCallHigh)), 2, "positions held");
    }

    function test_a_contract_maker_signs_a_package_through_erc1271() public {
        (BatchExecutor account, address owner) = _executor();
        uint256 ownerKey = 0x0A11;
        address ownerAddr = vms.addr(ownerKey);
        vm.prank(owner);
        account.transferOwnership(ownerAddr);
        vm.prank(ownerAddr);
        account.acceptOwnership();
        OptionsMarket.Package memory p = _pkg(_condorLegs(), 1);
        p.maker = address(account);
        p.nonce = market.nonces(address(account));
        (uint8 v, bytes32 r, bytes32 s) = vms.sign(ownerKey, account.messageDigest(market.hashPackage(p)));
        _fillP(p, abi.encodePacked(r, s, v), 1);
        assertEq(market.balanceOf(address(account), market.shortId(ethPutLow)), 1, "the contract maker wrote");
        _assertRefused(
            p,
            _signP(ownerKey, p), // the owner's plain signature of the digest is not the account's
            1,
            abi.encodeWithSelector(OptionsMarket.Overfill.selector, market.hashPackage(p), 1, 1, 1)
        );
    }

    // -- settlement at expiry is the legs' own ---------------------------------------------------------

    function test_package_positions_settle_at_expiry_exactly_as_single_fills_do() public {
        OptionsMarket.Package memory p = _pkg(_condorLegs(), 4);
        _fillP(p, _signP(MAKER_KEY, p), 4);
        uint80 roundId = _expireAt(ethFeed, 2_700e8);
        uint256[4] memory ids = [ethPutLow, ethPut, ethCall, ethCallHigh];
        for (uint256 i = 0; i < 4; ++i) {
            market.settle(ids[i], roundId);
        }
        uint256 usdcT = usdc.balanceOf(taker);
        uint256 wethT = weth.balanceOf(taker);
        vm.startPrank(taker);
        assertEq(market.redeem(ethPutLow, 4), 0, "the 2,500 put expires worthless");
        assertEq(market.withdraw(ethPut, 4), 4 * (300e6 - 30e6), "3,000 put writer keeps 300 - 30");
        assertEq(market.withdraw(ethCall, 4), 4 * 1e17, "3,000 call worthless at 2,700");
        assertEq(market.redeem(ethCallHigh, 4), 0, "3,500 call worthless");
        vm.stopPrank();
        assertEq(usdc.balanceOf(taker) - usdcT, 4 * 270e6, "taker USDC back");
        assertEq(weth.balanceOf(taker) - wethT, 4e17, "taker WETH back");
        vm.startPrank(maker);
        assertEq(market.withdraw(ethPutLow, 4), 4 * 250e6, "maker's low put collateral back");
        assertEq(market.redeem(ethPut, 4), 4 * 30e6, "maker's long put pays 300 - 270");
        assertEq(market.redeem(ethCall, 4), 0, "maker's long call worthless");
        assertEq(market.withdraw(ethCallHigh, 4), 4 * 1e17, "maker's high call collateral back");
        vm.stopPrank();
        assertEq(usdc.balanceOf(address(market)), 0, "no USDC left in the market");
        assertEq(weth.balanceOf(address(market)), 0, "no WETH left in the market");
    }
}
