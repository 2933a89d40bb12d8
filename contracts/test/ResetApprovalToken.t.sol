// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ResetApprovalToken} from "../src/ResetApprovalToken.sol";
import {TestBase} from "./utils/TestBase.sol";

contract ResetApprovalTokenTest is TestBase {
    ResetApprovalToken internal token;
    address internal constant SPENDER = address(0x5BE9D);

    function setUp() public {
        token = new ResetApprovalToken();
    }

    function test_approve_from_zero_works() public {
        token.approve(SPENDER, 100);
        assertEq(token.allowance(address(this), SPENDER), 100, "allowance");
    }

    function test_changing_a_non_zero_allowance_reverts() public {
        token.approve(SPENDER, 100);
        vm.expectRevert(abi.encodeWithSignature("Error(string)", "reset allowance to 0 first"));
        token.approve(SPENDER, 200);
    }

    function test_reset_to_zero_then_approve_works() public {
        token.approve(SPENDER, 100);
        token.approve(SPENDER, 0);
        token.approve(SPENDER, 200);
        assertEq(token.allowance(address(this), SPENDER), 200, "allowance");
    }

    function test_transfer_from_spends_the_allowance() public {
        token.mint(address(this), 1_000);
        token.approve(SPENDER, 300);
        vm.prank(SPENDER);
        token.transferFrom(address(this), SPENDER, 250);
        assertEq(token.allowance(address(this), SPENDER), 50, "allowance left");
        assertEq(token.balanceOf(SPENDER), 250, "received");
    }
}
