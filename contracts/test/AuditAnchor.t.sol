// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AuditAnchor} from "../src/AuditAnchor.sol";
import {TestBase} from "./utils/TestBase.sol";

contract AuditAnchorTest is TestBase {
    AuditAnchor internal anchors;
    address internal constant WRITER = address(0xA11CE);
    address internal constant OTHER = address(0xB0B);
    bytes32 internal constant STORE = bytes32(bytes16(0x0123456789abcdef0123456789abcdef));
    bytes32 internal constant H1 = keccak256("head-1");
    bytes32 internal constant H2 = keccak256("head-2");
    uint256 internal constant T0 = 1_700_000_000;

    function setUp() public {
        vm.warp(T0);
        anchors = new AuditAnchor();
    }

    function _assertLatest(address writer, uint64 position, bytes32 head, uint256 at) internal view {
        (uint64 p, bytes32 h, uint64 t) = anchors.latest(writer, STORE);
        assertEq(p, position, "latest position");
        assertTrue(h == head, "latest head hash");
        assertEq(t, at, "latest anchoredAt");
    }

    function test_nothing_is_anchored_at_first() public view {
        _assertLatest(WRITER, 0, bytes32(0), 0);
    }

    function test_anchor_emits_the_head_and_records_it_as_latest() public {
        vm.expectEmit(true, true, true, true);
        emit AuditAnchor.Anchored(WRITER, STORE, 42, H1);
        vm.prank(WRITER);
        anchors.anchor(STORE, 42, H1);
        _assertLatest(WRITER, 42, H1, T0);
    }

    function test_later_heads_replace_the_latest_and_the_same_head_again_is_accepted() public {
        vm.startPrank(WRITER);
        anchors.anchor(STORE, 5, H1);
        vm.warp(T0 + 60);
        anchors.anchor(STORE, 9, H2);
        anchors.anchor(STORE, 9, H2);
        vm.stopPrank();
        _assertLatest(WRITER, 9, H2, T0 + 60);
    }

    function test_a_smaller_position_is_a_rewind_and_reverts() public {
        vm.startPrank(WRITER);
        anchors.anchor(STORE, 9, H1);
        vm.expectRevert(
            abi.encodeWithSelector(AuditAnchor.PositionRewound.selector, STORE, uint64(9), uint64(3))
        );
        anchors.anchor(STORE, 3, H2);
        vm.stopPrank();
    }

    function test_another_hash_at_an_anchored_position_reverts() public {
        vm.startPrank(WRITER);
        anchors.anchor(STORE, 9, H1);
        vm.expectRevert(
            abi.encodeWithSelector(AuditAnchor.HeadConflict.selector, STORE, uint64(9), H1, H2)
        );
        anchors.anchor(STORE, 9, H2);
        vm.stopPrank();
    }

    function test_writers_are_independent() public {
        vm.prank(WRITER);
        anchors.anchor(STORE, 9, H1);
        vm.prank(OTHER);
        anchors.anchor(STORE, 1, H2);
        _assertLatest(WRITER, 9, H1, T0);
        _assertLatest(OTHER, 1, H2, T0);
    }

    function testFuzz_positions_never_go_back(uint64 first, uint64 second, bytes32 h1, bytes32 h2)
        public
    {
        vm.startPrank(WRITER);
        anchors.anchor(STORE, first, h1);
        if (second < first) {
            vm.expectRevert(
                abi.encodeWithSelector(AuditAnchor.PositionRewound.selector, STORE, first, second)
            );
            anchors.anchor(STORE, second, h2);
            _assertLatest(WRITER, first, h1, T0);
        } else if (second == first && h1 != h2) {
            vm.expectRevert(
                abi.encodeWithSelector(AuditAnchor.HeadConflict.selector, STORE, first, h1, h2)
            );
            anchors.anchor(STORE, second, h2);
            _assertLatest(WRITER, first, h1, T0);
        } else {
            anchors.anchor(STORE, second, h2);
            _assertLatest(WRITER, second, h2, T0);
        }
        vm.stopPrank();
    }
}
