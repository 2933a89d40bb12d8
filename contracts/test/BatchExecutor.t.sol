// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {BatchExecutor} from "../src/BatchExecutor.sol";
import {DevToken} from "../src/DevToken.sol";
import {OptionsMarket} from "../src/OptionsMarket.sol";
import {OptionsFixture} from "./utils/OptionsFixture.sol";

contract BatchExecutorTest is OptionsFixture {
    BatchExecutor internal account;
    address internal owner;

    function setUp() public override {
        super.setUp();
        owner = address(0x0A0A);
        account = new BatchExecutor(owner);
        usdc.mint(address(account), 100_000e6);
        weth.mint(address(account), 10e18);
        BatchExecutor.Call[] memory calls = new BatchExecutor.Call[](2);
        calls[0] = _call(address(usdc), abi.encodeCall(usdc.approve, (address(market), type(uint256).max)));
        calls[1] = _call(address(weth), abi.encodeCall(weth.approve, (address(market), type(uint256).max)));
        vm.prank(owner);
        account.execute(calls, _noGuards());
    }

    function _call(address target, bytes memory data) internal pure returns (BatchExecutor.Call memory) {
        return BatchExecutor.Call(target, 0, data, address(0), 0);
    }

    function _noGuards() internal pure returns (BatchExecutor.Guard[] memory) {
        return new BatchExecutor.Guard[](0);
    }

    function _guard(address token, int256 minDelta) internal pure returns (BatchExecutor.Guard[] memory g) {
        g = new BatchExecutor.Guard[](1);
        g[0] = BatchExecutor.Guard(token, minDelta);
    }

    /// A fill of `size` contracts of a fresh maker quote (salt tells them apart).
    function _fillCall(uint256 seriesId, bool makerSells, uint256 size, uint256 premium, uint256 salt)
        internal
        view
        returns (BatchExecutor.Call memory)
    {
        OptionsMarket.Quote memory q = _quote(seriesId, makerSells, size, premium);
        q.salt = salt;
        bytes memory sig = _sign(MAKER_KEY, q);
        return _call(address(market), abi.encodeCall(market.fill, (q, sig, size)));
    }

    function test_a_batch_of_fills_runs_in_one_transaction() public {
        BatchExecutor.Call[] memory calls = new BatchExecutor.Call[](3);
        calls[0] = _fillCall(ethPut, true, 2, 40e6, 1); // buy 2 puts: pay 80
        calls[1] = _fillCall(ethCall, true, 1, 90e6, 2); // buy 1 call: pay 90
        calls[2] = _fillCall(ethPut, false, 1, 35e6, 3); // write 1 put: receive 35, lock 300
        vm.expectEmit(false, false, false, true);
        emit BatchExecutor.Executed(3, 1);
        vm.prank(owner);
        bytes[] memory results = account.execute(calls, _guard(address(usdc), -435e6));
        assertEq(abi.decode(results[0], (uint256)), 80e6, "first fill's premium");
        assertEq(usdc.balanceOf(address(account)), 100_000e6 - 80e6 - 90e6 + 35e6 - 300e6, "net USDC");
        assertEq(market.balanceOf(address(account), market.longId(ethPut)), 2, "put longs");
        assertEq(market.balanceOf(address(account), market.longId(ethCall)), 1, "call long");
        assertEq(market.balanceOf(address(account), market.shortId(ethPut)), 1, "put short");
    }

    function test_any_failing_call_reverts_the_whole_batch() public {
        BatchExecutor.Call[] memory calls = new BatchExecutor.Call[](2);
        calls[0] = _fillCall(ethPut, true, 2, 40e6, 1);
        OptionsMarket.Quote memory q = _quote(ethPut, true, 1, 1e6);
        q.salt = 9;
        bytes memory sig = _sign(TAKER_KEY, q); // not the maker's signature
        calls[1] = _call(address(market), abi.encodeCall(market.fill, (q, sig, 1)));
        bytes memory reason = abi.encodeWithSelector(OptionsMarket.BadSignature.selector, market.hashQuote(q), maker);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(BatchExecutor.CallFailed.selector, 1, address(market), reason));
        account.execute(calls, _noGuards());
        assertEq(market.balanceOf(address(account), market.longId(ethPut)), 0, "first fill undone");
        assertEq(usdc.balanceOf(address(account)), 100_000e6, "no premium paid");
    }

    function test_a_per_call_guard_reverts_the_batch() public {
        BatchExecutor.Call[] memory calls = new BatchExecutor.Call[](1);
        calls[0] = _fillCall(ethPut, true, 2, 40e6, 1);
        calls[0].guardToken = address(usdc);
        calls[0].minDelta = -79e6; // pay at most 79, the fill costs 80
        vm.prank(owner);
        vm.expectRevert(
            abi.encodeWithSelector(BatchExecutor.CallGuardFailed.selector, 0, address(usdc), int256(-80e6), int256(-79e6))
        );
        account.execute(calls, _noGuards());
        calls[0].minDelta = -80e6;
        vm.prank(owner);
        account.execute(calls, _noGuards());
    }

    function test_max_net_premium_paid_guard() public {
        BatchExecutor.Call[] memory calls = new BatchExecutor.Call[](2);
        calls[0] = _fillCall(ethPut, true, 2, 40e6, 1);
        calls[1] = _fillCall(ethCall, true, 1, 90e6, 2);
        vm.prank(owner);
        vm.expectRevert(
            abi.encodeWithSelector(BatchExecutor.GuardFailed.selector, 0, address(usdc), int256(-170e6), int256(-169e6))
        );
        account.execute(calls, _guard(address(usdc), -169e6));
        assertEq(market.balanceOf(address(account), market.longId(ethPut)), 0, "nothing kept");
    }

    function test_min_net_premium_received_guard() public {
        // sell a call (receive 90, lock 0.1 WETH) and a put (receive 35, lock 300 USDC)
        BatchExecutor.Call[] memory calls = new BatchExecutor.Call[](2);
        calls[0] = _fillCall(ethCall, false, 1, 90e6, 1);
        calls[1] = _fillCall(ethPut, false, 1, 35e6, 2);
        BatchExecutor.Guard[] memory g = new BatchExecutor.Guard[](2);
        g[0] = BatchExecutor.Guard(address(usdc), 125e6 - 300e6); // premium in, put collateral out
        g[1] = BatchExecutor.Guard(address(weth), -1e17);
        vm.prank(owner);
        account.execute(calls, g);
        vm.warp(block.timestamp + 1);
        calls[0] = _fillCall(ethCall, false, 1, 89e6, 3);
        calls[1] = _fillCall(ethPut, false, 1, 35e6, 4);
        vm.prank(owner);
        vm.expectRevert(
            abi.encodeWithSelector(
                BatchExecutor.GuardFailed.selector, 0, address(usdc), int256(124e6 - 300e6), int256(125e6 - 300e6)
            )
        );
        account.execute(calls, g);
    }

    function test_min_token_out_guard_on_a_balance_delta() public {
        // stands in for a swap: the call moves 5 WETH in from a counterparty's allowance
        address seller = address(0x5E11);
        weth.mint(seller, 5e18);
        vm.prank(seller);
        weth.approve(address(account), 5e18);
        BatchExecutor.Call[] memory calls = new BatchExecutor.Call[](1);
        calls[0] = _call(address(weth), abi.encodeCall(weth.transferFrom, (seller, address(account), 5e18)));
        vm.prank(owner);
        vm.expectRevert(
            abi.encodeWithSelector(BatchExecutor.GuardFailed.selector, 0, address(weth), int256(5e18), int256(6e18))
        );
        account.execute(calls, _guard(address(weth), 6e18));
        vm.prank(owner);
        account.execute(calls, _guard(address(weth), 5e18));
        assertEq(weth.balanceOf(address(account)), 15e18, "tokens in");
    }

    function test_native_eth_is_guarded_with_the_native_sentinel() public {
        vms.deal(address(account), 1 ether);
        BatchExecutor.Call[] memory calls = new BatchExecutor.Call[](1);
        calls[0] = BatchExecutor.Call(address(0xBEEF), 0.4 ether, "", address(0), 0);
        address native = account.NATIVE();
        vm.prank(owner);
        vm.expectRevert(
            abi.encodeWithSelector(BatchExecutor.GuardFailed.selector, 0, native, -int256(0.4 ether), -int256(0.3 ether))
        );
        account.execute(calls, _guard(native, -0.3 ether));
        vm.prank(owner);
        account.execute(calls, _guard(native, -0.4 ether));
        assertEq(address(0xBEEF).balance, 0.4 ether, "sent");
    }

    function test_strangers_cannot_execute_and_the_account_never_calls_itself() public {
        BatchExecutor.Call[] memory calls = new BatchExecutor.Call[](1);
        calls[0] = _call(address(usdc), abi.encodeCall(usdc.transfer, (taker, 1)));
        vm.prank(taker);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, taker));
        account.execute(calls, _noGuards());
        calls[0] = _call(address(account), abi.encodeCall(account.transferOwnership, (taker)));
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(BatchExecutor.SelfCall.selector, 0));
        account.execute(calls, _noGuards());
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(BatchExecutor.EmptyBatch.selector));
        account.execute(new BatchExecutor.Call[](0), _noGuards());
    }

    function test_ownership_moves_in_two_steps() public {
        vm.prank(owner);
        account.transferOwnership(taker);
        assertEq(account.owner(), owner, "still the old owner");
        vm.prank(taker);
        account.acceptOwnership();
        assertEq(account.owner(), taker, "new owner");
    }

    function testFuzz_a_batch_fails_whole_when_any_guard_is_one_unit_short(uint256 premium, uint256 size) public {
        premium = bound(premium, 1, 1_000e6);
        size = bound(size, 1, 50);
        BatchExecutor.Call[] memory calls = new BatchExecutor.Call[](2);
        calls[0] = _fillCall(ethPut, true, size, premium, 1);
        calls[1] = _fillCall(ethCall, true, size, premium, 2);
        int256 paid = -int256(2 * size * premium);
        vm.prank(owner);
        vm.expectRevert(
            abi.encodeWithSelector(BatchExecutor.GuardFailed.selector, 0, address(usdc), paid, paid + 1)
        );
        account.execute(calls, _guard(address(usdc), paid + 1));
        vm.prank(owner);
        account.execute(calls, _guard(address(usdc), paid));
        assertEq(market.balanceOf(address(account), market.longId(ethCall)), size, "filled once");
    }

    function _raw(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vms.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function test_erc1271_refuses_the_owners_plain_signature_of_the_hash() public {
        // The owner signed `h` for itself (e.g. a Permit2 permit): that must not approve it here.
        BatchExecutor keyed = new BatchExecutor(maker);
        bytes32 h = keccak256("a permit the owner signed for its own address");
        assertTrue(keyed.isValidSignature(h, _raw(MAKER_KEY, h)) == bytes4(0xffffffff), "plain refused");
    }

    function test_erc1271_accepts_the_owners_signature_of_the_executor_bound_message() public {
        BatchExecutor keyed = new BatchExecutor(maker);
        bytes32 h = keccak256("a quote hash");
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("BatchExecutor"),
                keccak256("1"),
                block.chainid,
                address(keyed)
            )
        );
        bytes32 digest = keccak256(
            abi.encodePacked("\x19\x01", domain, keccak256(abi.encode(keccak256("BatchExecutorMessage(bytes32 hash)"), h)))
        );
        assertTrue(keyed.messageDigest(h) == digest, "digest is the documented EIP-712 message");
        assertTrue(keyed.isValidSignature(h, _raw(MAKER_KEY, digest)) == bytes4(0x1626ba7e), "wrapped accepted");
        // bound to this executor: the same owner's approval for another executor does not carry over
        BatchExecutor other = new BatchExecutor(maker);
        assertTrue(other.isValidSignature(h, _raw(MAKER_KEY, digest)) == bytes4(0xffffffff), "other refused");
        // and to the owner: another key's signature of the right digest is refused
        assertTrue(keyed.isValidSignature(h, _raw(TAKER_KEY, digest)) == bytes4(0xffffffff), "stranger refused");
    }
}
