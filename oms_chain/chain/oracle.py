"""Chainlink-style price feeds (``AggregatorV3Interface``) pushed as they update.

:func:`oracle_answers` reads a feed's ``decimals()`` and ``latestRoundData()`` once, then follows
its ``AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt)`` logs
(the event Chainlink aggregators and the devnet's ``DevOracle`` emit with every round) through a
:class:`~oms_chain.chain.ws.WsRpcClient` log subscription, which survives reconnects and fills
the gap. The subscription is opened before the first read, so no round posted in between is
missed; a round id not above the newest seen is a repeat (or an old round) and is skipped. A
log the node retracts after a reorg makes the feed read ``latestRoundData()`` again: the
answer on the new branch is yielded if it differs.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

from eth_abi import decode as abi_decode
from eth_utils import is_address, keccak, to_checksum_address

from oms_chain.chain.types import LogEntry
from oms_chain.chain.ws import LogFilter, WsRpcClient
from oms_chain.model.errors import InvalidInput

__all__ = ["ANSWER_UPDATED_TOPIC", "OracleAnswer", "oracle_answers", "read_latest_answer"]

_log = logging.getLogger(__name__)

ANSWER_UPDATED_TOPIC = "0x" + keccak(text="AnswerUpdated(int256,uint256,uint256)").hex()
_DECIMALS = "0x" + keccak(text="decimals()")[:4].hex()
_LATEST = "0x" + keccak(text="latestRoundData()")[:4].hex()


@dataclass(frozen=True, slots=True, kw_only=True)
class OracleAnswer:
    """One round of a feed: ``answer`` as the contract holds it (an integer, ``decimals``
    implied), ``price`` the same as a Decimal, ``updated_at`` in seconds (chain time).
    ``block_number`` is where the round's log was seen (``None`` for a direct read)."""

    feed: str
    round_id: int
    answer: int
    decimals: int
    updated_at: int
    block_number: int | None = None

    @property
    def price(self) -> Decimal:
        """The answer in whole units (``answer / 10**decimals``), exact."""
        return Decimal(self.answer).scaleb(-self.decimals)

    @classmethod
    def from_log(cls, log: LogEntry, decimals: int) -> OracleAnswer:
        """From an ``AnswerUpdated`` log of the feed.

        Raises :class:`InvalidInput` if the log is not an ``AnswerUpdated`` event.
        """
        if len(log.topics) != 3 or log.topics[0] != ANSWER_UPDATED_TOPIC:
            raise InvalidInput(f"log {log.tx_hash}:{log.log_index} is not AnswerUpdated")
        try:
            (answer,) = abi_decode(["int256"], bytes.fromhex(log.topics[1][2:]))
            (round_id,) = abi_decode(["uint256"], bytes.fromhex(log.topics[2][2:]))
            (updated_at,) = abi_decode(["uint256"], bytes.fromhex(log.data[2:]))
        except Exception as exc:  # eth-abi raises several types for short or bad data
            raise InvalidInput(f"malformed AnswerUpdated log {log.tx_hash}: {exc}") from exc
        return cls(
            feed=to_checksum_address(log.address),
            round_id=int(round_id),
            answer=int(answer),
            decimals=decimals,
            updated_at=int(updated_at),
            block_number=log.block_number,
        )


def _feed_address(feed: str) -> str:
    if not isinstance(feed, str) or not is_address(feed):
        raise InvalidInput(f"feed must be a 0x-prefixed contract address, got {feed!r}")
    return to_checksum_address(feed)


async def _call(client: WsRpcClient, feed: str, selector: str, out: list[str]) -> tuple[int, ...]:
    raw = await client.call("eth_call", [{"to": feed, "data": selector}, "latest"])
    data = bytes.fromhex(str(raw)[2:])
    if not data:
        raise InvalidInput(f"{feed} answered nothing to {selector}: not an AggregatorV3 feed")
    return tuple(int(v) for v in abi_decode(out, data))


async def read_latest_answer(
    client: WsRpcClient, feed: str, decimals: int | None = None
) -> OracleAnswer:
    """The feed's ``latestRoundData()`` now (``decimals`` read from the feed when not given).

    Raises:
        InvalidInput: ``feed`` is not an address, or answers nothing (no contract there).
        RpcError: the call reverted (a feed without data reverts).
    """
    address = _feed_address(feed)
    if decimals is None:
        (decimals,) = await _call(client, address, _DECIMALS, ["uint8"])
    round_id, answer, _started, updated_at, _in_round = await _call(
        client, address, _LATEST, ["uint80", "int256", "uint256", "uint256", "uint80"]
    )
    return OracleAnswer(
        feed=address,
        round_id=round_id,
        answer=answer,
        decimals=decimals,
        updated_at=updated_at,
    )


async def oracle_answers(client: WsRpcClient, feed: str) -> AsyncIterator[OracleAnswer]:
    """The feed's latest round now, then every newer round as its log arrives (see the
    module docstring). Runs until the client closes or gives up reconnecting (then raises
    :class:`~oms_chain.chain.rpc.RpcUnavailable`).

    Raises:
        InvalidInput: ``feed`` is not an address (before anything is subscribed) or answers
            nothing to ``decimals()`` / ``latestRoundData()`` (the subscription is closed).
    """
    address = _feed_address(feed)
    sub = await client.subscribe_logs(
        LogFilter(addresses=(address,), topics=(ANSWER_UPDATED_TOPIC,))
    )
    try:
        last = await read_latest_answer(client, address)
        yield last
        async for log in sub:
            if log.removed:  # a reorg took the round back: whatever the new branch says
                now = await read_latest_answer(client, address, last.decimals)
                if (now.round_id, now.answer) != (last.round_id, last.answer):
                    last = now
                    yield now
                continue
            try:
                got = OracleAnswer.from_log(log, last.decimals)
            except InvalidInput as exc:
                _log.warning("feed %s: skipping a log: %s", address, exc)
                continue
            if got.round_id <= last.round_id:
                continue
            last = got
            yield got
    finally:
        await sub.unsubscribe()
