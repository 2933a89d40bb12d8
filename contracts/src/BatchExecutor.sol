// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC1155Holder} from "@openzeppelin/contracts/token/ERC1155/utils/ERC1155Holder.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title BatchExecutor
/// @notice A small smart account: it holds its owner's funds and positions and runs a list of
///         calls (option fills, Uniswap swaps, approvals) in one transaction, all or nothing.
///
/// Only the owner may execute (two-step ownership transfer); nobody else can make it call
/// anything, and it never calls itself, so the owner-only functions stay owner-only. Each call
/// may carry a guard: the executor's balance of `guardToken` must change by at least `minDelta`
/// across that call (negative: at most that much spent). Aggregate guards check the balance
/// deltas over the whole batch: "max net premium paid" is a quote-token guard with a negative
/// minDelta, "min net premium received" one with a positive minDelta, "min token out" a guard on
/// the token bought. Any failing call or guard reverts the whole batch. `NATIVE` stands for ETH.
///
/// It answers ERC-1271 for signatures of its owner, so it can also be an RFQ maker, and accepts
/// ERC-1155 transfers (option positions). The owner does not sign the asked hash itself but the
/// EIP-712 message `BatchExecutorMessage(bytes32 hash)` under the domain {name "BatchExecutor",
/// version "1", chainId, verifyingContract = this executor} (`messageDigest(hash)`): a signature
/// the owner made for itself or for another account (e.g. a Permit2 permit) is not valid here.
contract BatchExecutor is Ownable2Step, ERC1155Holder, ReentrancyGuardTransient, IERC1271 {
    struct Call {
        address target;
        uint256 value;
        bytes data;
        /// address(0): no per-call guard
        address guardToken;
        int256 minDelta;
    }

    struct Guard {
        address token;
        int256 minDelta;
    }

    address public constant NATIVE = 0xEeeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE;
    bytes32 public constant MESSAGE_TYPEHASH = keccak256("BatchExecutorMessage(bytes32 hash)");
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    event Executed(uint256 calls, uint256 guards);

    error EmptyBatch();
    error SelfCall(uint256 index);
    error CallFailed(uint256 index, address target, bytes reason);
    error CallGuardFailed(uint256 index, address token, int256 delta, int256 minDelta);
    error GuardFailed(uint256 index, address token, int256 delta, int256 minDelta);

    constructor(address initialOwner) Ownable(initialOwner) {}

    receive() external payable {}

    /// @notice Run `calls` in order, then check `guards`; revert everything if any fails.
    /// @return results the return data of each call
    function execute(Call[] calldata calls, Guard[] calldata guards)
        external
        payable
        onlyOwner
        nonReentrant
        returns (bytes[] memory results)
    {
        if (calls.length == 0) revert EmptyBatch();
        uint256[] memory before = new uint256[](guards.length);
        for (uint256 g = 0; g < guards.length; ++g) {
            before[g] = _balance(guards[g].token);
        }
        results = new bytes[](calls.length);
        for (uint256 i = 0; i < calls.length; ++i) {
            Call calldata c = calls[i];
            address target = c.target;
            address guardToken = c.guardToken;
            if (target == address(this)) revert SelfCall(i);
            uint256 start = guardToken == address(0) ? 0 : _balance(guardToken);
            (bool ok, bytes memory ret) = target.call{value: c.value}(c.data);
            if (!ok) revert CallFailed(i, target, ret);
            if (guardToken != address(0)) {
                int256 delta = _delta(start, _balance(guardToken));
                if (delta < c.minDelta) revert CallGuardFailed(i, guardToken, delta, c.minDelta);
            }
            results[i] = ret;
        }
        for (uint256 g = 0; g < guards.length; ++g) {
            int256 delta = _delta(before[g], _balance(guards[g].token));
            if (delta < guards[g].minDelta) revert GuardFailed(g, guards[g].token, delta, guards[g].minDelta);
        }
        emit Executed(calls.length, guards.length);
    }

    /// @notice The EIP-712 domain separator on the current chain (rebuilt from `block.chainid`).
    function domainSeparator() public view returns (bytes32) {
        return keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("BatchExecutor"), keccak256("1"), block.chainid, address(this))
        );
    }

    /// @notice The digest the owner signs so that `isValidSignature(hash, sig)` holds.
    function messageDigest(bytes32 hash) public view returns (bytes32) {
        return keccak256(
            abi.encodePacked("\x19\x01", domainSeparator(), keccak256(abi.encode(MESSAGE_TYPEHASH, hash)))
        );
    }

    /// @inheritdoc IERC1271
    /// @dev `signature` is the owner's ECDSA signature of `messageDigest(hash)`, never of `hash`.
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(messageDigest(hash), signature);
        if (err == ECDSA.RecoverError.NoError && signer == owner()) return IERC1271.isValidSignature.selector;
        return 0xffffffff;
    }

    function _balance(address token) private view returns (uint256) {
        return token == NATIVE ? address(this).balance : IERC20(token).balanceOf(address(this));
    }

    function _delta(uint256 a, uint256 b) private pure returns (int256) {
        return b >= a ? int256(b - a) : -int256(a - b);
    }
}
