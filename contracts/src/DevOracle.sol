// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";

/// @title DevOracle
/// @notice A price feed the devnet controls, read through the Chainlink AggregatorV3 interface.
///         Every answer the owner posts opens a new round; all rounds stay readable. The owner
///         may post a round with past timestamps to simulate a stale feed. Answers are not
///         range-checked, so consumers can also be tested against zero or negative prices.
contract DevOracle is AggregatorV3Interface {
    struct Round {
        int256 answer;
        uint64 startedAt;
        uint64 updatedAt;
    }

    uint8 public immutable decimals;
    uint256 public constant version = 1;
    string public description;
    address public owner;
    uint80 public latestRound;

    mapping(uint80 roundId => Round) private _rounds;

    /// Same events as Chainlink's AggregatorInterface.
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
    event NewRound(uint256 indexed roundId, address indexed startedBy, uint256 startedAt);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error NotOwner(address caller);
    error NoDataPresent();
    error RoundNotFound(uint80 roundId);
    error InvalidTimestamps(uint256 startedAt, uint256 updatedAt, uint256 now_);
    error InvalidOwner(address newOwner);

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    /// @param description_ e.g. "ETH / USD"
    /// @param decimals_ decimals of the answer (8 for USD feeds)
    /// @param initialAnswer first answer, posted as round 1 now
    constructor(string memory description_, uint8 decimals_, int256 initialAnswer) {
        description = description_;
        decimals = decimals_;
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
        _post(initialAnswer, block.timestamp, block.timestamp);
    }

    /// @notice Post a new answer, updated now. Returns the new round id.
    function setAnswer(int256 answer) external onlyOwner returns (uint80) {
        return _post(answer, block.timestamp, block.timestamp);
    }

    /// @notice Post a new answer with explicit timestamps (startedAt <= updatedAt <= now).
    function setRoundData(int256 answer, uint256 startedAt, uint256 updatedAt)
        external
        onlyOwner
        returns (uint80)
    {
        if (startedAt > updatedAt || updatedAt > block.timestamp) {
            revert InvalidTimestamps(startedAt, updatedAt, block.timestamp);
        }
        return _post(answer, startedAt, updatedAt);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert InvalidOwner(newOwner);
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    function latestRoundData()
        external
        view
        returns (
            uint80 roundId,
            int256 answer,
            uint256 startedAt,
            uint256 updatedAt,
            uint80 answeredInRound
        )
    {
        if (latestRound == 0) revert NoDataPresent();
        return _roundData(latestRound);
    }

    function getRoundData(uint80 roundId_)
        external
        view
        returns (
            uint80 roundId,
            int256 answer,
            uint256 startedAt,
            uint256 updatedAt,
            uint80 answeredInRound
        )
    {
        if (roundId_ == 0 || roundId_ > latestRound) revert RoundNotFound(roundId_);
        return _roundData(roundId_);
    }

    function latestAnswer() external view returns (int256) {
        return _rounds[latestRound].answer;
    }

    function latestTimestamp() external view returns (uint256) {
        return _rounds[latestRound].updatedAt;
    }

    function _roundData(uint80 roundId_)
        private
        view
        returns (uint80, int256, uint256, uint256, uint80)
    {
        Round storage r = _rounds[roundId_];
        return (roundId_, r.answer, r.startedAt, r.updatedAt, roundId_);
    }

    function _post(int256 answer, uint256 startedAt, uint256 updatedAt) private returns (uint80) {
        uint80 roundId = latestRound + 1;
        latestRound = roundId;
        _rounds[roundId] = Round(answer, uint64(startedAt), uint64(updatedAt));
        emit NewRound(roundId, msg.sender, startedAt);
        emit AnswerUpdated(answer, roundId, updatedAt);
        return roundId;
    }
}
