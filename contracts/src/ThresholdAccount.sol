// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {FrostSecp256k1} from "./FrostSecp256k1.sol";

/// @title ThresholdAccount
/// @notice A smart account owned by a FROST(secp256k1, SHA-256) group key: t of n participants
///         sign an operation together (RFC 9591, two rounds, no one holds the key) and anyone
///         (a relayer paying gas) submits it.
///
/// Every operation is EIP-712 typed data under the domain {name "ThresholdAccount", version "1",
/// chainId, verifyingContract}; the domain is rebuilt from `block.chainid` on every check, so a
/// signature for one chain or one account is refused on any other. Each executed operation uses
/// the account's next nonce (sequential, so a signature executes at most once) and carries a
/// deadline. `execute` runs one call, `executeBatch` a list (all or nothing); both sign
/// `Execute(Call[] calls,uint256 nonce,uint256 deadline)`. `rotateKey` installs a new group key
/// and must be signed by the current group. `isValidSignature` (EIP-1271) accepts a group
/// signature over `ThresholdMessage(bytes32 hash)` in this account's domain, so the group can be
/// an owner of a Safe: the group signs the wrapped digest of the SafeTx hash. Safe v1.4.1 asks a
/// contract owner the legacy form `isValidSignature(bytes data, bytes sig)` (magic 0x20c13b0b)
/// with the SafeTx hash's preimage as `data`; that form checks `keccak256(data)` the same way.
/// Signatures are 65 bytes (RFC 9591: compressed R || z) or 97 bytes (the same || R.y, cheaper).
contract ThresholdAccount {
    struct Call {
        address to;
        uint256 value;
        bytes data;
    }

    bytes32 public constant CALL_TYPEHASH = keccak256("Call(address to,uint256 value,bytes data)");
    bytes32 public constant EXECUTE_TYPEHASH =
        keccak256("Execute(Call[] calls,uint256 nonce,uint256 deadline)Call(address to,uint256 value,bytes data)");
    bytes32 public constant ROTATE_TYPEHASH =
        keccak256("RotateKey(uint256 keyX,uint8 keyParity,uint256 nonce,uint256 deadline)");
    bytes32 public constant MESSAGE_TYPEHASH = keccak256("ThresholdMessage(bytes32 hash)");
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes4 private constant ERC1271_MAGIC = 0x1626ba7e;
    bytes4 private constant LEGACY_ERC1271_MAGIC = 0x20c13b0b;

    /// The group key: x coordinate and y parity (0 even, 1 odd) of the compressed point.
    uint256 public groupKeyX;
    uint8 public groupKeyParity;
    /// The nonce the next executed operation or key rotation must carry.
    uint256 public nonce;

    event Executed(uint256 indexed nonce, bytes32 digest, uint256 calls);
    event KeyRotated(uint256 indexed nonce, uint256 oldKeyX, uint256 newKeyX, uint8 newKeyParity);

    error InvalidGroupKey(uint256 keyX, uint8 keyParity);
    error InvalidSignature(bytes32 digest);
    error Expired(uint256 deadline, uint256 timestamp);
    error CallFailed(uint256 index, bytes returndata);
    error EmptyBatch();

    constructor(uint256 keyX, uint8 keyParity) {
        if (!FrostSecp256k1.isValidKey(keyX, keyParity)) revert InvalidGroupKey(keyX, keyParity);
        groupKeyX = keyX;
        groupKeyParity = keyParity;
    }

    receive() external payable {}

    /// @notice The EIP-712 domain separator on the current chain.
    function domainSeparator() public view returns (bytes32) {
        return keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("ThresholdAccount"), keccak256("1"), block.chainid, address(this))
        );
    }

    /// @notice The digest the group signs to execute `calls` with `opNonce` before `deadline`.
    function executeDigest(Call[] memory calls, uint256 opNonce, uint256 deadline) public view returns (bytes32) {
        bytes32[] memory hashes = new bytes32[](calls.length);
        for (uint256 i = 0; i < calls.length; i++) {
            hashes[i] = keccak256(abi.encode(CALL_TYPEHASH, calls[i].to, calls[i].value, keccak256(calls[i].data)));
        }
        bytes32 structHash =
            keccak256(abi.encode(EXECUTE_TYPEHASH, keccak256(abi.encodePacked(hashes)), opNonce, deadline));
        return _typedDigest(structHash);
    }

    /// @notice The digest the group signs to rotate to the key (keyX, keyParity).
    function rotateDigest(uint256 keyX, uint8 keyParity, uint256 opNonce, uint256 deadline)
        public
        view
        returns (bytes32)
    {
        return _typedDigest(keccak256(abi.encode(ROTATE_TYPEHASH, keyX, keyParity, opNonce, deadline)));
    }

    /// @notice The digest the group signs for EIP-1271 approval of `hash` by this account.
    function messageDigest(bytes32 hash) public view returns (bytes32) {
        return _typedDigest(keccak256(abi.encode(MESSAGE_TYPEHASH, hash)));
    }

    /// @notice True when `signature` is the current group's signature of the 32-byte `digest`.
    function isGroupSignature(bytes32 digest, bytes calldata signature) public view returns (bool) {
        return FrostSecp256k1.verifySignature(groupKeyX, groupKeyParity, abi.encodePacked(digest), signature);
    }

    /// @notice True when `signature` (65 or 97 bytes) is a FROST(secp256k1, SHA-256) signature of
    ///         `message` under the key (keyX, keyParity): the verifier, for off-chain checks.
    function verifyFrost(uint256 keyX, uint8 keyParity, bytes calldata message, bytes calldata signature)
        external
        view
        returns (bool)
    {
        return FrostSecp256k1.verifySignature(keyX, keyParity, message, signature);
    }

    /// @notice Runs one call signed by the group (a relayer may submit it).
    function execute(address to, uint256 value, bytes calldata data, uint256 deadline, bytes calldata signature)
        external
        payable
        returns (bytes memory)
    {
        Call[] memory calls = new Call[](1);
        calls[0] = Call(to, value, data);
        return _execute(calls, deadline, signature)[0];
    }

    /// @notice Runs a list of calls signed by the group, all or nothing.
    function executeBatch(Call[] calldata calls, uint256 deadline, bytes calldata signature)
        external
        payable
        returns (bytes[] memory)
    {
        return _execute(calls, deadline, signature);
    }

    /// @notice Installs a new group key; signed by the current group.
    function rotateKey(uint256 keyX, uint8 keyParity, uint256 deadline, bytes calldata signature) external {
        if (block.timestamp > deadline) revert Expired(deadline, block.timestamp);
        if (!FrostSecp256k1.isValidKey(keyX, keyParity)) revert InvalidGroupKey(keyX, keyParity);
        uint256 opNonce = nonce;
        bytes32 digest = rotateDigest(keyX, keyParity, opNonce, deadline);
        if (!isGroupSignature(digest, signature)) revert InvalidSignature(digest);
        nonce = opNonce + 1;
        emit KeyRotated(opNonce, groupKeyX, keyX, keyParity);
        groupKeyX = keyX;
        groupKeyParity = keyParity;
    }

    /// @notice EIP-1271: the magic value when the group signed `messageDigest(hash)`.
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        return isGroupSignature(messageDigest(hash), signature) ? ERC1271_MAGIC : bytes4(0xffffffff);
    }

    /// @notice Legacy EIP-1271 (what Safe v1.4.1 calls on a contract owner, with the SafeTx hash's
    ///         preimage): the legacy magic value when the group signed
    ///         `messageDigest(keccak256(data))`, i.e. the same approval as the bytes32 form.
    function isValidSignature(bytes calldata data, bytes calldata signature) external view returns (bytes4) {
        return isGroupSignature(messageDigest(keccak256(data)), signature)
            ? LEGACY_ERC1271_MAGIC
            : bytes4(0xffffffff);
    }

    function _execute(Call[] memory calls, uint256 deadline, bytes calldata signature)
        private
        returns (bytes[] memory results)
    {
        if (calls.length == 0) revert EmptyBatch();
        if (block.timestamp > deadline) revert Expired(deadline, block.timestamp);
        uint256 opNonce = nonce;
        bytes32 digest = executeDigest(calls, opNonce, deadline);
        if (!isGroupSignature(digest, signature)) revert InvalidSignature(digest);
        nonce = opNonce + 1; // before the calls: a re-entered signature is already used
        results = new bytes[](calls.length);
        for (uint256 i = 0; i < calls.length; i++) {
            (bool ok, bytes memory ret) = calls[i].to.call{value: calls[i].value}(calls[i].data);
            if (!ok) revert CallFailed(i, ret);
            results[i] = ret;
        }
        emit Executed(opNonce, digest, calls.length);
    }

    function _typedDigest(bytes32 structHash) private view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }
}
