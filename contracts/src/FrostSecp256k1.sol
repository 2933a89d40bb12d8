// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title FrostSecp256k1
/// @notice Verifies RFC 9591 FROST(secp256k1, SHA-256) signatures (equivalently, plain Schnorr
///         signatures with that suite's challenge) for a group key given as a compressed point.
///
/// A signature is R (a curve point) and z (a scalar); it is valid when z*G == R + c*P, where
/// c = H2(enc(R) || enc(P) || message) is RFC 9591's challenge: hash_to_field with
/// expand_message_xmd(SHA-256), DST "FROST-secp256k1-SHA256-v1chal", 48 bytes reduced mod n.
/// The point arithmetic is done by the `ecrecover` precompile: with r = P.x, v = 27 + parity(P)
/// and s = -c*P.x, h = -z*P.x (mod n), ecrecover returns the address of P.x^-1*(s*P - h*G) =
/// z*G - c*P, which must equal the address of R. R's y coordinate is needed for its address: the
/// 97-byte encoding carries it (enc(R) || z || R.y, the cheap path); the 65-byte RFC encoding
/// (enc(R) || z) recovers it with the modexp precompile (a square root mod p).
/// The address comparison also proves R is on the curve: ecrecover's output is a real point.
library FrostSecp256k1 {
    /// secp256k1 field prime.
    uint256 internal constant P = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f;
    /// secp256k1 group order.
    uint256 internal constant N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141;

    /// DST' = "FROST-secp256k1-SHA256-v1chal" || I2OSP(29, 1), 30 bytes left-aligned in a word.
    uint256 internal constant DST_PRIME = 0x46524f53542d736563703235366b312d5348413235362d76316368616c1d0000;

    /// @notice RFC 9591's challenge c for nonce commitment R (x, parity), group key (x, parity)
    ///         and a message.
    function challenge(uint256 rx, uint256 rParity, uint256 px, uint256 pParity, bytes memory message)
        internal
        view
        returns (uint256)
    {
        // msg_prime = Z_pad(64) || enc(R) || enc(P) || message || I2OSP(48, 2) || 0x00 || DST'
        // b0 = H(msg_prime), b1 = H(b0 || 0x01 || DST'), b2 = H((b0 ^ b1) || 0x02 || DST')
        bytes32 b1;
        bytes32 b2;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            let len := mload(message)
            mstore(ptr, 0)
            mstore(add(ptr, 32), 0)
            mstore8(add(ptr, 64), add(2, rParity))
            mstore(add(ptr, 65), rx)
            mstore8(add(ptr, 97), add(2, pParity))
            mstore(add(ptr, 98), px)
            mcopy(add(ptr, 130), add(message, 32), len)
            let tail := add(ptr, add(130, len))
            // I2OSP(48, 2) || 0x00 || DST'
            mstore(tail, shl(232, 0x003000))
            mstore(add(tail, 3), DST_PRIME)
            let ok := staticcall(gas(), 2, ptr, add(163, len), 0, 32)
            let b0 := mload(0)
            mstore(ptr, b0)
            mstore8(add(ptr, 32), 1)
            mstore(add(ptr, 33), DST_PRIME)
            ok := and(ok, staticcall(gas(), 2, ptr, 63, 0, 32))
            b1 := mload(0)
            mstore(ptr, xor(b0, b1))
            mstore8(add(ptr, 32), 2)
            ok := and(ok, staticcall(gas(), 2, ptr, 63, 0, 32))
            b2 := mload(0)
            if iszero(ok) { revert(0, 0) }
        }
        // the 48 uniform bytes are b1 || b2[0:16], read big-endian and reduced mod n
        return addmod(mulmod(uint256(b1), 1 << 128, N), uint256(b2) >> 128, N);
    }

    /// @notice True when (R, z) is a valid signature of `message` under the group key
    ///         (px, pParity). R is given with both coordinates; its parity is ry's.
    function verify(uint256 px, uint256 pParity, bytes memory message, uint256 rx, uint256 ry, uint256 z)
        internal
        view
        returns (bool)
    {
        if (px == 0 || px >= N || pParity > 1 || rx >= P || ry >= P || z == 0 || z >= N) {
            return false;
        }
        uint256 c = challenge(rx, ry & 1, px, pParity, message);
        uint256 s = N - mulmod(c, px, N); // -c * px; c == 0 makes s == N: refused below
        uint256 h = N - mulmod(z, px, N); // -z * px (z != 0 and px < n, so never 0 mod n)
        if (s == N) return false;
        address got = ecrecover(bytes32(h), uint8(27 + pParity), bytes32(px), bytes32(s));
        address want = address(uint160(uint256(keccak256(abi.encodePacked(rx, ry)))));
        return got != address(0) && got == want;
    }

    /// @notice Verifies a signature in either encoding: 65 bytes enc(R) || z (RFC 9591) or 97
    ///         bytes enc(R) || z || R.y (the same plus R's y coordinate, cheaper on chain).
    function verifySignature(uint256 px, uint256 pParity, bytes memory message, bytes memory signature)
        internal
        view
        returns (bool)
    {
        uint256 len = signature.length;
        if (len != 65 && len != 97) return false;
        uint256 prefix = uint8(signature[0]);
        if (prefix != 2 && prefix != 3) return false;
        uint256 rx;
        uint256 z;
        uint256 ry;
        assembly ("memory-safe") {
            rx := mload(add(signature, 33))
            z := mload(add(signature, 65))
        }
        if (len == 97) {
            assembly ("memory-safe") {
                ry := mload(add(signature, 97))
            }
        } else {
            bool ok;
            (ry, ok) = decompress(rx, prefix - 2);
            if (!ok) return false;
        }
        if (ry & 1 != prefix - 2) return false;
        return verify(px, pParity, message, rx, ry, z);
    }

    /// @notice The y coordinate of the curve point with this x and y parity; ok is false when x
    ///         is not the x coordinate of a point.
    function decompress(uint256 x, uint256 parity) internal view returns (uint256 y, bool ok) {
        if (x >= P || parity > 1) return (0, false);
        uint256 rhs = addmod(mulmod(mulmod(x, x, P), x, P), 7, P);
        // p = 3 mod 4: sqrt(a) = a^((p+1)/4)
        (bool success, bytes memory out) = address(0x05).staticcall(
            abi.encodePacked(uint256(32), uint256(32), uint256(32), rhs, (P + 1) / 4, P)
        );
        if (!success || out.length != 32) return (0, false);
        y = abi.decode(out, (uint256));
        if (y == 0 || mulmod(y, y, P) != rhs) return (0, false);
        if (y & 1 != parity) y = P - y;
        return (y, true);
    }

    /// @notice True when (x, parity) is a valid group key for this verifier: a curve point whose
    ///         x is below the group order (ecrecover takes it as r).
    function isValidKey(uint256 x, uint256 parity) internal view returns (bool) {
        if (x == 0 || x >= N || parity > 1) return false;
        (, bool ok) = decompress(x, parity);
        return ok;
    }
}
