// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {FrostSecp256k1} from "../src/FrostSecp256k1.sol";
import {ThresholdAccount} from "../src/ThresholdAccount.sol";
import {DevToken} from "../src/DevToken.sol";
import {TestBase} from "./utils/TestBase.sol";

struct Wallet {
    address addr;
    uint256 publicKeyX;
    uint256 publicKeyY;
    uint256 privateKey;
}

/// The cheatcodes this file needs beyond TestBase's.
interface VmExtra {
    function createWallet(uint256 privateKey) external returns (Wallet memory);
    function chainId(uint256 newChainId) external;
}

/// Exposes the library (internal functions) to the tests, with measured gas.
contract FrostHarness {
    function verifySignature(uint256 px, uint256 pParity, bytes memory message, bytes memory signature)
        external
        view
        returns (bool ok, uint256 gasUsed)
    {
        uint256 before = gasleft();
        ok = FrostSecp256k1.verifySignature(px, pParity, message, signature);
        gasUsed = before - gasleft();
    }

    function challenge(uint256 rx, uint256 rParity, uint256 px, uint256 pParity, bytes memory message)
        external
        view
        returns (uint256)
    {
        return FrostSecp256k1.challenge(rx, rParity, px, pParity, message);
    }

    function ecrecoverGas(bytes32 h, uint8 v, bytes32 r, bytes32 s) external view returns (address a, uint256 gasUsed) {
        uint256 before = gasleft();
        a = ecrecover(h, v, r, s);
        gasUsed = before - gasleft();
    }
}

contract Target {
    uint256 public total;

    function add(uint256 x) external payable returns (uint256) {
        total += x;
        return total;
    }

    function fail() external pure {
        revert("target says no");
    }
}

contract ThresholdAccountTest is TestBase {
    event log_named_uint(string key, uint256 val);

    VmExtra internal constant vmx = VmExtra(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);
    uint256 internal constant N = FrostSecp256k1.N;

    // RFC 9591, Appendix E.5 FROST(secp256k1, SHA-256): group key, message "test", signature.
    uint256 internal constant RFC_PX = 0xf37c34b66ced1fb51c34a90bdae006901f10625cc06c4f64663b0eae87d87b4f;
    bytes internal constant RFC_SIG =
        hex"024c1ad4e031872661fa6ebd05dfc7fb30db08b38d79f0edbc82051ae931381bc6a46881e25c7989d3816eae32074f1ab0d49ee908a59713ed5284c6bade7cfb02";
    uint256 internal constant RFC_RY = 0x004f4e57b19db58941523f0f8af6bf04bbe925e4550517c3a87e1bf89d6fd032;

    FrostHarness internal frost;
    ThresholdAccount internal account;
    Target internal target;
    uint256 internal groupSecret = 0x0d004150d27c3bf2a42f312683d35fac7394b1e9e318249c1bfe7f0795a83114;
    uint256 internal px;
    uint8 internal pParity;

    function setUp() public {
        frost = new FrostHarness();
        target = new Target();
        (px, pParity) = _key(groupSecret);
        account = new ThresholdAccount(px, pParity);
        vm.warp(1_000_000);
    }

    // --- helpers: a single-key Schnorr signer with the FROST suite's challenge (a FROST
    // signature is exactly such a signature; frost-rs makes real ones in the Python tests)

    function _key(uint256 secret) internal returns (uint256 x, uint8 parity) {
        Wallet memory w = vmx.createWallet(secret);
        return (w.publicKeyX, uint8(w.publicKeyY & 1));
    }

    function _sign(uint256 secret, uint256 k, bytes memory message, bool withY) internal returns (bytes memory) {
        Wallet memory key = vmx.createWallet(secret);
        Wallet memory r = vmx.createWallet(k);
        uint256 c = frost.challenge(r.publicKeyX, r.publicKeyY & 1, key.publicKeyX, key.publicKeyY & 1, message);
        uint256 z = addmod(k, mulmod(c, secret, N), N);
        bytes memory sig = abi.encodePacked(uint8(2 + (r.publicKeyY & 1)), r.publicKeyX, z);
        return withY ? abi.encodePacked(sig, r.publicKeyY) : sig;
    }

    function _signDigest(bytes32 digest) internal returns (bytes memory) {
        return _sign(groupSecret, uint256(keccak256(abi.encode("nonce", digest))) % (N - 1) + 1, abi.encodePacked(digest), true);
    }

    function _one(uint256 x) internal view returns (ThresholdAccount.Call[] memory calls) {
        calls = new ThresholdAccount.Call[](1);
        calls[0] = ThresholdAccount.Call(address(target), 0, abi.encodeCall(Target.add, (x)));
    }

    // --- RFC 9591 vectors

    function testRfcVectorVerifies() public {
        (bool ok, uint256 gasUsed) = frost.verifySignature(RFC_PX, 0, "test", RFC_SIG);
        assertTrue(ok, "RFC 9591 secp256k1 vector (65-byte encoding)");
        (bool ok97, uint256 gas97) = frost.verifySignature(RFC_PX, 0, "test", abi.encodePacked(RFC_SIG, RFC_RY));
        assertTrue(ok97, "RFC 9591 secp256k1 vector (97-byte encoding)");
        assertTrue(gas97 <= 6_000, string.concat("verification gas ", vm.toString(gas97), " > 6000"));
        assertTrue(gasUsed > gas97, "the 65-byte form costs the square root on top");
        emit log_named_uint("verification gas, 97-byte signature", gas97);
        emit log_named_uint("verification gas, 65-byte signature", gasUsed);
    }

    function testRfcVectorTamperedRefused() public {
        for (uint256 i = 0; i < 65; i++) {
            bytes memory sig = bytes.concat(RFC_SIG);
            sig[i] = bytes1(uint8(sig[i]) ^ 0x01);
            (bool ok,) = frost.verifySignature(RFC_PX, 0, "test", sig);
            assertTrue(!ok, string.concat("tampered byte ", vm.toString(i), " verified"));
        }
        (bool okMsg,) = frost.verifySignature(RFC_PX, 0, "tesu", RFC_SIG);
        assertTrue(!okMsg, "another message verified");
        (bool okKey,) = frost.verifySignature(RFC_PX, 1, "test", RFC_SIG);
        assertTrue(!okKey, "the negated group key verified");
        (uint256 otherX, uint8 otherP) = _key(12345);
        (bool okOther,) = frost.verifySignature(otherX, otherP, "test", RFC_SIG);
        assertTrue(!okOther, "another group key verified");
        (bool okY,) = frost.verifySignature(RFC_PX, 0, "test", abi.encodePacked(RFC_SIG, FrostSecp256k1.P - RFC_RY));
        assertTrue(!okY, "a wrong R.y verified");
        (bool okLen,) = frost.verifySignature(RFC_PX, 0, "test", abi.encodePacked(RFC_SIG, uint8(0)));
        assertTrue(!okLen, "a 66-byte signature verified");
    }

    function testAccountExposesTheVerifier() public view {
        assertTrue(account.verifyFrost(RFC_PX, 0, "test", RFC_SIG), "RFC vector through the account");
        assertTrue(!account.verifyFrost(RFC_PX, 0, "tesu", RFC_SIG), "another message");
    }

    function testEcrecoverBaseline() public {
        (, uint256 g) = frost.ecrecoverGas(bytes32(uint256(1)), 27, bytes32(RFC_PX), bytes32(uint256(7)));
        assertTrue(g >= 3_000, "ecrecover costs at least its 3000");
        emit log_named_uint("plain ecrecover gas", g);
    }

    // --- the account

    function testExecuteSingle() public {
        bytes32 digest = account.executeDigest(_one(5), 0, 2_000_000);
        bytes memory sig = _signDigest(digest);
        vm.prank(address(0xBEEF)); // any relayer
        account.execute(address(target), 0, abi.encodeCall(Target.add, (5)), 2_000_000, sig);
        assertEq(target.total(), 5, "target total");
        assertEq(account.nonce(), 1, "nonce");
        vm.expectRevert(abi.encodeWithSelector(ThresholdAccount.InvalidSignature.selector, account.executeDigest(_one(5), 1, 2_000_000)));
        account.execute(address(target), 0, abi.encodeCall(Target.add, (5)), 2_000_000, sig);
    }

    function testExecuteBatchAllOrNothing() public {
        ThresholdAccount.Call[] memory calls = new ThresholdAccount.Call[](2);
        calls[0] = ThresholdAccount.Call(address(target), 0, abi.encodeCall(Target.add, (2)));
        calls[1] = ThresholdAccount.Call(address(target), 0, abi.encodeCall(Target.add, (3)));
        account.executeBatch(calls, 2_000_000, _signDigest(account.executeDigest(calls, 0, 2_000_000)));
        assertEq(target.total(), 5, "batch total");

        calls[1] = ThresholdAccount.Call(address(target), 0, abi.encodeCall(Target.fail, ()));
        bytes memory sig = _signDigest(account.executeDigest(calls, 1, 2_000_000));
        vm.expectRevert(
            abi.encodeWithSelector(
                ThresholdAccount.CallFailed.selector, 1, abi.encodeWithSignature("Error(string)", "target says no")
            )
        );
        account.executeBatch(calls, 2_000_000, sig);
        assertEq(target.total(), 5, "failed batch left no trace");
        assertEq(account.nonce(), 1, "failed batch kept the nonce");
    }

    function testExpiredRefused() public {
        bytes memory sig = _signDigest(account.executeDigest(_one(1), 0, 999_999));
        vm.expectRevert(abi.encodeWithSelector(ThresholdAccount.Expired.selector, 999_999, 1_000_000));
        account.execute(address(target), 0, abi.encodeCall(Target.add, (1)), 999_999, sig);
    }

    function testReplayOnAnotherChainRefused() public {
        bytes32 digest = account.executeDigest(_one(1), 0, 2_000_000);
        bytes memory sig = _signDigest(digest);
        vmx.chainId(block.chainid + 1);
        bytes32 there = account.executeDigest(_one(1), 0, 2_000_000);
        assertTrue(there != digest, "the digest depends on the chain");
        vm.expectRevert(abi.encodeWithSelector(ThresholdAccount.InvalidSignature.selector, there));
        account.execute(address(target), 0, abi.encodeCall(Target.add, (1)), 2_000_000, sig);
    }

    function testReplayOnAnotherAccountRefused() public {
        ThresholdAccount other = new ThresholdAccount(px, pParity);
        bytes memory sig = _signDigest(account.executeDigest(_one(1), 0, 2_000_000));
        vm.expectRevert(
            abi.encodeWithSelector(ThresholdAccount.InvalidSignature.selector, other.executeDigest(_one(1), 0, 2_000_000))
        );
        other.execute(address(target), 0, abi.encodeCall(Target.add, (1)), 2_000_000, sig);
    }

    function testWrongGroupRefused() public {
        bytes32 digest = account.executeDigest(_one(1), 0, 2_000_000);
        bytes memory sig = _sign(777, 4242, abi.encodePacked(digest), true);
        vm.expectRevert(abi.encodeWithSelector(ThresholdAccount.InvalidSignature.selector, digest));
        account.execute(address(target), 0, abi.encodeCall(Target.add, (1)), 2_000_000, sig);
    }

    function testRotateKey() public {
        uint256 newSecret = 0xabcdef;
        (uint256 nx, uint8 np) = _key(newSecret);
        bytes memory sig = _signDigest(account.rotateDigest(nx, np, 0, 2_000_000));
        account.rotateKey(nx, np, 2_000_000, sig);
        assertEq(account.groupKeyX(), nx, "new key x");
        assertEq(account.nonce(), 1, "nonce after rotation");
        // the old group can no longer sign; the new one can
        bytes32 digest = account.executeDigest(_one(1), 1, 2_000_000);
        bytes memory oldSig = _signDigest(digest);
        vm.expectRevert(abi.encodeWithSelector(ThresholdAccount.InvalidSignature.selector, digest));
        account.execute(address(target), 0, abi.encodeCall(Target.add, (1)), 2_000_000, oldSig);
        account.execute(address(target), 0, abi.encodeCall(Target.add, (1)), 2_000_000, _sign(newSecret, 99, abi.encodePacked(digest), false));
        assertEq(target.total(), 1, "new group executed");
    }

    function testRotateToInvalidKeyRefused() public {
        vm.expectRevert(abi.encodeWithSelector(ThresholdAccount.InvalidGroupKey.selector, N, 0));
        account.rotateKey(N, 0, 2_000_000, "");
    }

    function testIsValidSignature() public {
        bytes32 hash = keccak256("a Safe transaction");
        bytes memory sig = _signDigest(account.messageDigest(hash));
        assertTrue(account.isValidSignature(hash, sig) == bytes4(0x1626ba7e), "EIP-1271 magic");
        assertTrue(account.isValidSignature(keccak256("another"), sig) == bytes4(0xffffffff), "other hash refused");
        // the raw hash signed without the account's wrapping is refused
        assertTrue(account.isValidSignature(hash, _signDigest(hash)) == bytes4(0xffffffff), "unwrapped refused");
    }

    function testLegacyIsValidSignatureForSafeOwners() public {
        bytes memory preimage = abi.encodePacked(hex"1901", keccak256("domain"), keccak256("safeTx"));
        bytes memory sig = _signDigest(account.messageDigest(keccak256(preimage)));
        assertTrue(account.isValidSignature(preimage, sig) == bytes4(0x20c13b0b), "legacy EIP-1271 magic");
        assertTrue(account.isValidSignature(keccak256(preimage), sig) == bytes4(0x1626ba7e), "same approval");
        assertTrue(account.isValidSignature(bytes("another preimage"), sig) == bytes4(0xffffffff), "other data");
        sig[40] ^= 0x01;
        assertTrue(account.isValidSignature(preimage, sig) == bytes4(0xffffffff), "tampered refused");
    }

    // --- fuzz

    function testFuzzSignVerify(uint256 secret, uint256 k, bytes memory message) public {
        secret = bound(secret, 1, N - 1);
        k = bound(k, 1, N - 1);
        (uint256 x, uint8 parity) = _key(secret);
        vm.assume(x < N);
        (bool ok,) = frost.verifySignature(x, parity, message, _sign(secret, k, message, false));
        assertTrue(ok, "65-byte signature");
        (bool ok97,) = frost.verifySignature(x, parity, message, _sign(secret, k, message, true));
        assertTrue(ok97, "97-byte signature");
    }

    function testFuzzTamperedRefused(uint256 k, bytes32 digest, uint8 index, uint8 flip) public {
        k = bound(k, 1, N - 1);
        vm.assume(flip != 0);
        bytes memory sig = _sign(groupSecret, k, abi.encodePacked(digest), true);
        sig[index % 97] = bytes1(uint8(sig[index % 97]) ^ flip);
        (bool ok,) = frost.verifySignature(px, pParity, abi.encodePacked(digest), sig);
        assertTrue(!ok, "tampered signature verified");
    }
}
