// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// The few forge cheatcodes our tests use (forge-std is not a dependency of this repository).
interface Vm {
    function prank(address sender) external;
    function startPrank(address sender) external;
    function stopPrank() external;
    function warp(uint256 timestamp) external;
    function assume(bool condition) external pure;
    function expectRevert(bytes calldata revertData) external;
    function expectEmit(bool topic1, bool topic2, bool topic3, bool data) external;
    function toString(uint256 value) external pure returns (string memory);
    function toString(int256 value) external pure returns (string memory);
    function toString(address value) external pure returns (string memory);
}

/// Base for our forge tests: the cheatcode handle and assertions that revert with the values
/// that differed, which forge prints as the failure reason.
abstract contract TestBase {
    Vm internal constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

    function assertTrue(bool condition, string memory what) internal pure {
        if (!condition) revert(string.concat("assertion failed: ", what));
    }

    function assertEq(uint256 got, uint256 want, string memory what) internal pure {
        if (got != want) {
            revert(string.concat(what, ": got ", vm.toString(got), ", want ", vm.toString(want)));
        }
    }

    function assertEq(int256 got, int256 want, string memory what) internal pure {
        if (got != want) {
            revert(string.concat(what, ": got ", vm.toString(got), ", want ", vm.toString(want)));
        }
    }

    function assertEq(address got, address want, string memory what) internal pure {
        if (got != want) {
            revert(string.concat(what, ": got ", vm.toString(got), ", want ", vm.toString(want)));
        }
    }

    function assertEq(string memory got, string memory want, string memory what) internal pure {
        if (keccak256(bytes(got)) != keccak256(bytes(want))) {
            revert(string.concat(what, ": got '", got, "', want '", want, "'"));
        }
    }

    /// Map any `x` into [lo, hi] (inclusive), for fuzz inputs; requires lo <= hi.
    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        require(lo <= hi, "bound: lo > hi");
        uint256 span = hi - lo;
        if (span == type(uint256).max) return x;
        return lo + (x % (span + 1));
    }
}
