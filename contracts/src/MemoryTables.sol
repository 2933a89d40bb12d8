// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title MemoryTables
/// @notice Flat tables in memory for merging token moves per party: a count word, then records
///         of four words (key, account, amount, owed), searched in assembly (cheaper than arrays
///         of memory structs). A table is its memory address (a `uint256`).
library MemoryTables {
    uint256 internal constant RECORD = 128; // key, account, amount, owed
    uint256 internal constant ADDRESS_MASK = (1 << 160) - 1;

    /// A new table in memory with room for `capacity` records: a count word, then records of
    /// four words (key, account, amount, owed).
    function table(uint256 capacity) internal pure returns (uint256 t) {
        assembly ("memory-safe") {
            t := mload(0x40)
            mstore(t, 0)
            mstore(0x40, add(t, add(32, mul(capacity, RECORD))))
        }
    }

    /// The memory address of the record (key, account) of table `t`, appended with zero amounts
    /// if new (the caller never appends more records than the table has room for).
    function entry(uint256 t, uint256 key, address account) internal pure returns (uint256 r) {
        assembly ("memory-safe") {
            let who := and(account, ADDRESS_MASK)
            let n := mload(t)
            let end := add(add(t, 32), mul(n, RECORD))
            for { r := add(t, 32) } lt(r, end) { r := add(r, RECORD) } {
                if and(eq(mload(r), key), eq(mload(add(r, 32)), who)) { break }
            }
            if eq(r, end) {
                mstore(r, key)
                mstore(add(r, 32), who)
                mstore(add(r, 64), 0)
                mstore(add(r, 96), 0)
                mstore(t, add(n, 1))
            }
        }
    }

    /// Add `value` to the word at memory address `word` (checked).
    function addTo(uint256 word, uint256 value) internal pure {
        uint256 v;
        assembly ("memory-safe") {
            v := mload(word)
        }
        v += value;
        assembly ("memory-safe") {
            mstore(word, v)
        }
    }

    /// Record `i` of table `t`: (key, account, amount, owed).
    function record(uint256 t, uint256 i)
        internal
        pure
        returns (uint256 key, address account, uint256 amount, uint256 owed)
    {
        assembly ("memory-safe") {
            let r := add(add(t, 32), mul(i, RECORD))
            key := mload(r)
            account := mload(add(r, 32))
            amount := mload(add(r, 64))
            owed := mload(add(r, 96))
        }
    }

    function length(uint256 t) internal pure returns (uint256 n) {
        assembly ("memory-safe") {
            n := mload(t)
        }
    }

    /// Mark record `i` of table `t` as done (its account zeroed).
    function forget(uint256 t, uint256 i) internal pure {
        assembly ("memory-safe") {
            mstore(add(add(add(t, 32), mul(i, RECORD)), 32), 0)
        }
    }
}
