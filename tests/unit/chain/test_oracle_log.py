"""AnswerUpdated logs of a Chainlink-style feed become typed rounds, or a clear error."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms_chain.chain import ANSWER_UPDATED_TOPIC, LogEntry, OracleAnswer
from oms_chain.model.errors import InvalidInput

FEED = "0x5fbdb2315678afecb367f032d93f642f64180aa3"


def _word(value: int) -> str:
    return "0x" + (value % 2**256).to_bytes(32, "big").hex()


def _log(answer: int, round_id: int, updated_at: int, **over: object) -> LogEntry:
    fields: dict[str, object] = {
        "address": FEED,
        "topics": (ANSWER_UPDATED_TOPIC, _word(answer), _word(round_id)),
        "data": _word(updated_at),
        "block_number": 12,
        "block_hash": "0x" + "ab" * 32,
        "tx_hash": "0x" + "cd" * 32,
        "log_index": 0,
    }
    fields.update(over)
    return LogEntry(**fields)  # type: ignore[arg-type]


def test_answer_updated_log_decodes_to_the_exact_round():
    got = OracleAnswer.from_log(_log(309_912_345_678, 7, 1_700_000_123), decimals=8)
    assert (got.round_id, got.answer, got.updated_at, got.block_number) == (
        7,
        309_912_345_678,
        1_700_000_123,
        12,
    )
    assert got.price == Decimal("3099.12345678")
    assert got.feed == "0x5FbDB2315678afecb367f032d93F642f64180aa3"  # checksummed


def test_a_negative_answer_is_read_as_a_signed_int256():
    got = OracleAnswer.from_log(_log(-5, 2, 1), decimals=8)
    assert got.answer == -5 and got.price == Decimal("-5E-8")


def test_other_logs_are_refused_with_a_clear_error():
    with pytest.raises(InvalidInput, match="is not AnswerUpdated"):
        OracleAnswer.from_log(_log(1, 1, 1, topics=(ANSWER_UPDATED_TOPIC,)), decimals=8)
    with pytest.raises(InvalidInput, match="is not AnswerUpdated"):
        OracleAnswer.from_log(
            _log(1, 1, 1, topics=("0x" + "00" * 32, _word(1), _word(1))), decimals=8
        )
    with pytest.raises(InvalidInput, match="malformed AnswerUpdated log"):
        OracleAnswer.from_log(_log(1, 1, 1, data="0x"), decimals=8)
