// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {DevOracle} from "../src/DevOracle.sol";
import {TestBase} from "./utils/TestBase.sol";

contract DevOracleTest is TestBase {
    DevOracle internal oracle;
    address internal constant ALICE = address(0xA11CE);
    uint256 internal constant T0 = 1_700_000_000;

    function setUp() public {
        vm.warp(T0);
        oracle = new DevOracle("ETH / USD", 8, 3_000e8);
    }

    function test_description_decimals_and_first_round() public view {
        assertEq(oracle.description(), "ETH / USD", "description");
        assertEq(oracle.decimals(), 8, "decimals");
        assertEq(oracle.version(), 1, "version");
        assertEq(oracle.latestRound(), 1, "latestRound");
        (uint80 id, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 inRound) =
            oracle.latestRoundData();
        assertEq(id, 1, "roundId");
        assertEq(answer, 3_000e8, "answer");
        assertEq(startedAt, T0, "startedAt");
        assertEq(updatedAt, T0, "updatedAt");
        assertEq(inRound, 1, "answeredInRound");
    }

    function test_each_answer_opens_a_round_and_history_is_kept() public {
        vm.warp(T0 + 60);
        vm.expectEmit(true, true, false, true);
        emit DevOracle.AnswerUpdated(3_100e8, 2, T0 + 60);
        assertEq(oracle.setAnswer(3_100e8), 2, "second round id");
        vm.warp(T0 + 120);
        oracle.setAnswer(2_900e8);

        (uint80 id, int256 answer,, uint256 updatedAt, uint80 inRound) = oracle.latestRoundData();
        assertEq(id, 3, "latest round");
        assertEq(answer, 2_900e8, "latest answer");
        assertEq(updatedAt, T0 + 120, "latest updatedAt");
        assertEq(inRound, 3, "answeredInRound");

        (id, answer,, updatedAt,) = oracle.getRoundData(2);
        assertEq(id, 2, "round 2 id");
        assertEq(answer, 3_100e8, "round 2 answer");
        assertEq(updatedAt, T0 + 60, "round 2 updatedAt");
        (, answer,,,) = oracle.getRoundData(1);
        assertEq(answer, 3_000e8, "round 1 answer");
        assertEq(oracle.latestAnswer(), 2_900e8, "latestAnswer");
        assertEq(oracle.latestTimestamp(), T0 + 120, "latestTimestamp");
    }

    function test_unknown_rounds_revert() public {
        vm.expectRevert(abi.encodeWithSelector(DevOracle.RoundNotFound.selector, uint80(0)));
        oracle.getRoundData(0);
        vm.expectRevert(abi.encodeWithSelector(DevOracle.RoundNotFound.selector, uint80(2)));
        oracle.getRoundData(2);
    }

    function test_only_owner_posts_answers() public {
        vm.expectRevert(abi.encodeWithSelector(DevOracle.NotOwner.selector, ALICE));
        vm.prank(ALICE);
        oracle.setAnswer(1);
        vm.expectRevert(abi.encodeWithSelector(DevOracle.NotOwner.selector, ALICE));
        vm.prank(ALICE);
        oracle.setRoundData(1, T0, T0);
    }

    function test_stale_round_keeps_its_old_timestamps() public {
        vm.warp(T0 + 3_600);
        oracle.setRoundData(2_500e8, T0 + 100, T0 + 200);
        (uint80 id, int256 answer, uint256 startedAt, uint256 updatedAt,) =
            oracle.latestRoundData();
        assertEq(id, 2, "round id");
        assertEq(answer, 2_500e8, "answer");
        assertEq(startedAt, T0 + 100, "startedAt");
        assertEq(updatedAt, T0 + 200, "updatedAt");
        assertEq(block.timestamp - updatedAt, 3_400, "age seen by a consumer");
    }

    function test_round_timestamps_must_be_ordered_and_not_in_future() public {
        vm.expectRevert(
            abi.encodeWithSelector(DevOracle.InvalidTimestamps.selector, T0, T0 - 1, T0)
        );
        oracle.setRoundData(1, T0, T0 - 1);
        vm.expectRevert(
            abi.encodeWithSelector(DevOracle.InvalidTimestamps.selector, T0, T0 + 1, T0)
        );
        oracle.setRoundData(1, T0, T0 + 1);
    }

    function test_zero_and_negative_answers_are_recorded_for_consumer_tests() public {
        oracle.setAnswer(0);
        (, int256 answer,,,) = oracle.latestRoundData();
        assertEq(answer, 0, "zero answer");
        oracle.setAnswer(-1);
        (, answer,,,) = oracle.latestRoundData();
        assertEq(answer, -1, "negative answer");
    }

    function test_ownership_transfer() public {
        oracle.transferOwnership(ALICE);
        assertEq(oracle.owner(), ALICE, "owner");
        vm.prank(ALICE);
        oracle.setAnswer(42);
        vm.expectRevert(abi.encodeWithSelector(DevOracle.NotOwner.selector, address(this)));
        oracle.setAnswer(43);
    }

    function testFuzz_rounds_record_answer_and_time(int256 answer, uint32 delay) public {
        vm.warp(T0 + uint256(delay));
        uint80 id = oracle.setAnswer(answer);
        (uint80 rid, int256 got, uint256 startedAt, uint256 updatedAt, uint80 inRound) =
            oracle.getRoundData(id);
        assertEq(rid, 2, "round id");
        assertEq(got, answer, "answer");
        assertEq(startedAt, T0 + uint256(delay), "startedAt");
        assertEq(updatedAt, T0 + uint256(delay), "updatedAt");
        assertEq(inRound, id, "answeredInRound");
    }
}
