// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title AuditAnchor
/// @notice Public, append-only record of event-store chain heads. A writer (any account)
///         anchors (store id, position, head hash) of its audit chain; the event log stays on
///         chain for good, so whoever later rewrites the store (even with the writer's key)
///         cannot make an anchored head disappear. Per writer and store, positions never go
///         back and one position has one hash: a rewritten chain cannot be re-anchored over the
///         old one.
contract AuditAnchor {
    struct Head {
        uint64 position;
        uint64 anchoredAt;
        bytes32 hash;
    }

    mapping(address writer => mapping(bytes32 storeId => Head)) private _latest;

    /// One anchored head. `storeId` is the store's id (16 bytes, left-aligned); `position`
    /// the number of events; `head` the hash of the event at `position`.
    event Anchored(
        address indexed writer, bytes32 indexed storeId, uint64 indexed position, bytes32 head
    );

    /// The writer anchored `latest` for this store before: a smaller position is a rewind.
    error PositionRewound(bytes32 storeId, uint64 latest, uint64 given);
    /// The writer anchored this position before with another hash.
    error HeadConflict(bytes32 storeId, uint64 position, bytes32 anchored, bytes32 given);

    /// @notice Anchor the head of `storeId`'s chain for the calling writer.
    function anchor(bytes32 storeId, uint64 position, bytes32 head) external {
        Head storage last = _latest[msg.sender][storeId];
        if (last.anchoredAt != 0) {
            if (position < last.position) {
                revert PositionRewound(storeId, last.position, position);
            }
            if (position == last.position && head != last.hash) {
                revert HeadConflict(storeId, position, last.hash, head);
            }
        }
        last.position = position;
        last.hash = head;
        last.anchoredAt = uint64(block.timestamp);
        emit Anchored(msg.sender, storeId, position, head);
    }

    /// @notice The newest head `writer` anchored for `storeId` (all zero when none).
    function latest(address writer, bytes32 storeId)
        external
        view
        returns (uint64 position, bytes32 head, uint64 anchoredAt)
    {
        Head storage h = _latest[writer][storeId];
        return (h.position, h.hash, h.anchoredAt);
    }
}
