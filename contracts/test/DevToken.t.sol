// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {DevToken} from "../src/DevToken.sol";
import {TestBase} from "./utils/TestBase.sol";

contract DevTokenTest is TestBase {
    DevToken internal token;
    address internal constant ALICE = address(0xA11CE);
    address internal constant BOB = address(0xB0B);
    address internal constant FAUCET = address(0xFA0CE7);

    function setUp() public {
        token = new DevToken("USD Coin (devnet)", "USDC", 6);
    }

    function test_metadata_and_owner_are_set_at_construction() public view {
        assertEq(token.name(), "USD Coin (devnet)", "name");
        assertEq(token.symbol(), "USDC", "symbol");
        assertEq(token.decimals(), 6, "decimals");
        assertEq(token.owner(), address(this), "owner");
        assertEq(token.totalSupply(), 0, "totalSupply");
    }

    function test_decimals_are_configurable() public {
        DevToken wbtc = new DevToken("Wrapped BTC (devnet)", "WBTC", 8);
        DevToken dai = new DevToken("Dai (devnet)", "DAI", 18);
        assertEq(wbtc.decimals(), 8, "WBTC decimals");
        assertEq(dai.decimals(), 18, "DAI decimals");
    }

    function test_owner_mints_and_emits_transfer_from_zero() public {
        vm.expectEmit(true, true, false, true);
        emit DevToken.Transfer(address(0), ALICE, 1_000e6);
        token.mint(ALICE, 1_000e6);
        assertEq(token.balanceOf(ALICE), 1_000e6, "balance");
        assertEq(token.totalSupply(), 1_000e6, "totalSupply");
    }

    function test_stranger_cannot_mint() public {
        vm.expectRevert(abi.encodeWithSelector(DevToken.NotMinter.selector, ALICE));
        vm.prank(ALICE);
        token.mint(ALICE, 1);
    }

    function test_faucet_granted_by_owner_mints_until_revoked() public {
        token.setFaucet(FAUCET, true);
        assertTrue(token.isFaucet(FAUCET), "faucet granted");
        vm.prank(FAUCET);
        token.mint(BOB, 5);
        assertEq(token.balanceOf(BOB), 5, "minted by faucet");

        token.setFaucet(FAUCET, false);
        vm.expectRevert(abi.encodeWithSelector(DevToken.NotMinter.selector, FAUCET));
        vm.prank(FAUCET);
        token.mint(BOB, 5);
    }

    function test_only_owner_grants_faucets() public {
        vm.expectRevert(abi.encodeWithSelector(DevToken.NotOwner.selector, ALICE));
        vm.prank(ALICE);
        token.setFaucet(ALICE, true);
    }

    function test_ownership_transfer_moves_mint_right() public {
        token.transferOwnership(ALICE);
        assertEq(token.owner(), ALICE, "new owner");
        vm.expectRevert(abi.encodeWithSelector(DevToken.NotMinter.selector, address(this)));
        token.mint(ALICE, 1);
        vm.prank(ALICE);
        token.mint(ALICE, 1);
        assertEq(token.balanceOf(ALICE), 1, "minted by new owner");
    }

    function test_mint_to_zero_address_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(DevToken.InvalidReceiver.selector, address(0)));
        token.mint(address(0), 1);
    }

    function test_mint_beyond_uint256_supply_reverts() public {
        token.mint(ALICE, type(uint256).max);
        vm.expectRevert(abi.encodeWithSignature("Panic(uint256)", 0x11));
        token.mint(BOB, 1);
    }

    function test_transfer_moves_balance() public {
        token.mint(ALICE, 100);
        vm.prank(ALICE);
        assertTrue(token.transfer(BOB, 40), "transfer returns true");
        assertEq(token.balanceOf(ALICE), 60, "sender");
        assertEq(token.balanceOf(BOB), 40, "receiver");
        assertEq(token.totalSupply(), 100, "supply unchanged");
    }

    function test_transfer_of_whole_balance_and_of_zero_succeed() public {
        token.mint(ALICE, 100);
        vm.startPrank(ALICE);
        token.transfer(BOB, 100);
        token.transfer(BOB, 0);
        vm.stopPrank();
        assertEq(token.balanceOf(ALICE), 0, "sender emptied");
        assertEq(token.balanceOf(BOB), 100, "receiver");
    }

    function test_transfer_to_self_keeps_balance() public {
        token.mint(ALICE, 100);
        vm.prank(ALICE);
        token.transfer(ALICE, 30);
        assertEq(token.balanceOf(ALICE), 100, "self transfer");
    }

    function test_transfer_above_balance_reverts_with_insufficient_balance() public {
        token.mint(ALICE, 10);
        vm.expectRevert(
            abi.encodeWithSelector(DevToken.InsufficientBalance.selector, ALICE, 10, 11)
        );
        vm.prank(ALICE);
        token.transfer(BOB, 11);
    }

    function test_transfer_to_zero_address_reverts() public {
        token.mint(ALICE, 10);
        vm.expectRevert(abi.encodeWithSelector(DevToken.InvalidReceiver.selector, address(0)));
        vm.prank(ALICE);
        token.transfer(address(0), 1);
    }

    function test_approve_sets_allowance_and_emits_approval() public {
        vm.expectEmit(true, true, false, true);
        emit DevToken.Approval(ALICE, BOB, 77);
        vm.prank(ALICE);
        assertTrue(token.approve(BOB, 77), "approve returns true");
        assertEq(token.allowance(ALICE, BOB), 77, "allowance");
    }

    function test_approve_zero_spender_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(DevToken.InvalidSpender.selector, address(0)));
        token.approve(address(0), 1);
    }

    function test_transfer_from_spends_allowance() public {
        token.mint(ALICE, 100);
        vm.prank(ALICE);
        token.approve(BOB, 50);
        vm.prank(BOB);
        assertTrue(token.transferFrom(ALICE, BOB, 30), "transferFrom returns true");
        assertEq(token.allowance(ALICE, BOB), 20, "allowance left");
        assertEq(token.balanceOf(BOB), 30, "received");
    }

    function test_transfer_from_above_allowance_reverts() public {
        token.mint(ALICE, 100);
        vm.prank(ALICE);
        token.approve(BOB, 5);
        vm.expectRevert(abi.encodeWithSelector(DevToken.InsufficientAllowance.selector, BOB, 5, 6));
        vm.prank(BOB);
        token.transferFrom(ALICE, BOB, 6);
    }

    function test_transfer_from_above_balance_reverts_even_with_allowance() public {
        token.mint(ALICE, 3);
        vm.prank(ALICE);
        token.approve(BOB, 10);
        vm.expectRevert(abi.encodeWithSelector(DevToken.InsufficientBalance.selector, ALICE, 3, 4));
        vm.prank(BOB);
        token.transferFrom(ALICE, BOB, 4);
    }

    function test_infinite_allowance_is_never_spent() public {
        token.mint(ALICE, 100);
        vm.prank(ALICE);
        token.approve(BOB, type(uint256).max);
        vm.prank(BOB);
        token.transferFrom(ALICE, BOB, 60);
        assertEq(token.allowance(ALICE, BOB), type(uint256).max, "allowance stays infinite");
    }

    function testFuzz_transfer_conserves_supply(uint256 minted, uint256 sent) public {
        minted = bound(minted, 0, type(uint128).max);
        sent = bound(sent, 0, minted);
        token.mint(ALICE, minted);
        vm.prank(ALICE);
        token.transfer(BOB, sent);
        assertEq(token.balanceOf(ALICE), minted - sent, "sender");
        assertEq(token.balanceOf(BOB), sent, "receiver");
        assertEq(token.balanceOf(ALICE) + token.balanceOf(BOB), token.totalSupply(), "supply");
    }

    function testFuzz_transfer_from_spends_exactly_the_amount(
        uint256 allowed,
        uint256 amount
    ) public {
        allowed = bound(allowed, 0, type(uint256).max - 1);
        amount = bound(amount, 0, allowed);
        token.mint(ALICE, amount);
        vm.prank(ALICE);
        token.approve(BOB, allowed);
        vm.prank(BOB);
        token.transferFrom(ALICE, BOB, amount);
        assertEq(token.allowance(ALICE, BOB), allowed - amount, "allowance left");
        assertEq(token.balanceOf(BOB), amount, "received");
    }

    function testFuzz_transfer_above_balance_always_reverts(uint256 balance, uint256 extra)
        public
    {
        balance = bound(balance, 0, type(uint128).max);
        extra = bound(extra, 1, type(uint128).max);
        token.mint(ALICE, balance);
        vm.expectRevert(
            abi.encodeWithSelector(
                DevToken.InsufficientBalance.selector, ALICE, balance, balance + extra
            )
        );
        vm.prank(ALICE);
        token.transfer(BOB, balance + extra);
    }
}
