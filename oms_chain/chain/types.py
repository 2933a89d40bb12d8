"""The chain's answers as our types, parsed once at the RPC edge: block headers
(:class:`Head`), event logs (:class:`LogEntry`) and transaction receipts (:class:`Receipt`).
Raw JSON-RPC dicts stop here; code above the chain layer reads these fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from oms_chain.model.errors import InvalidInput, RetryableError
from oms_chain.model.ids import TxHash

__all__ = ["Head", "LogEntry", "MalformedReceipt", "Receipt", "receipt_status"]


def _int(raw: Mapping[str, Any], key: str, what: str) -> int:
    value = raw.get(key)
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise InvalidInput(f"{what} has no {key!r} (got {value!r})")
    try:
        return int(value, 16)
    except ValueError as exc:
        raise InvalidInput(f"{what} has a bad {key!r}: {value!r}") from exc


def _str(raw: Mapping[str, Any], key: str, what: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise InvalidInput(f"{what} has no {key!r} (got {value!r})")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Head:
    """A block header as far as following the chain needs it (hashes as 0x-hex, timestamp in s)."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int

    @classmethod
    def from_rpc(cls, raw: Mapping[str, Any]) -> Head:
        """From a ``newHeads`` notification or an ``eth_getBlockByNumber`` result.

        Raises :class:`InvalidInput` if a field is missing or malformed.
        """
        return cls(
            number=_int(raw, "number", "block header"),
            hash=_str(raw, "hash", "block header").lower(),
            parent_hash=_str(raw, "parentHash", "block header").lower(),
            timestamp=_int(raw, "timestamp", "block header"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEntry:
    """One event log. ``removed`` is true when the node retracts it after a reorg.

    ``address`` is as the node sent it (compare lower-cased); topics, data and hashes are 0x-hex.
    """

    address: str
    topics: tuple[str, ...]
    data: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    removed: bool = False

    @classmethod
    def from_rpc(cls, raw: Mapping[str, Any]) -> LogEntry:
        """From a ``logs`` notification or an ``eth_getLogs`` result item.

        Raises :class:`InvalidInput` for a pending log (no block yet) or a malformed field.
        """
        topics = raw.get("topics")
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            raise InvalidInput(f"log has bad 'topics': {topics!r}")
        return cls(
            address=_str(raw, "address", "log"),
            topics=tuple(t.lower() for t in topics),
            data=_str(raw, "data", "log"),
            block_number=_int(raw, "blockNumber", "log"),
            block_hash=_str(raw, "blockHash", "log").lower(),
            tx_hash=_str(raw, "transactionHash", "log").lower(),
            log_index=_int(raw, "logIndex", "log"),
            removed=bool(raw.get("removed", False)),
        )

    @property
    def key(self) -> tuple[str, int]:
        """``(block_hash, log_index)``: identifies the log on one branch of the chain."""
        return self.block_hash, self.log_index


class MalformedReceipt(RetryableError, ValueError):
    """A node answered a receipt without a readable ``status`` (0x0 / 0x1). Whether the
    transaction succeeded is unknown: it is not a success; ask again or ask another node."""


def receipt_status(payload: Mapping[str, Any]) -> int:
    """The ``status`` of an ``eth_getTransactionReceipt`` result: 1 success, 0 reverted.

    Raises :class:`MalformedReceipt` when the field is missing or not 0x0 / 0x1 (a pre-Byzantium
    ``root`` receipt, or a broken node): such a receipt never counts as a success.
    """
    raw = payload.get("status")
    try:
        value = int(raw, 16) if isinstance(raw, str) else None
    except ValueError:
        value = None
    if value not in (0, 1):
        tx = payload.get("transactionHash", "?")
        raise MalformedReceipt(
            f"the receipt of {tx} has no valid status field (got {raw!r}); its outcome is "
            "unknown: ask the node again or use another RPC endpoint"
        )
    return value


def _created(payload: Mapping[str, Any]) -> str | None:
    """A receipt's ``contractAddress``: ``None`` unless it created a contract."""
    raw = payload.get("contractAddress")
    if raw is None:
        return None
    if not isinstance(raw, str) or len(raw) != 42 or not raw.startswith("0x"):
        raise InvalidInput(f"receipt has bad 'contractAddress': {raw!r}")
    return raw


@dataclass(frozen=True, slots=True)
class Receipt:
    """A mined transaction's receipt: where it was mined, whether it succeeded, the gas it
    paid (wei), its event logs and, for a contract creation, the new contract's address."""

    tx_hash: TxHash
    block_number: int
    block_hash: str
    status: int
    gas_used: int
    effective_gas_price: int
    logs: tuple[LogEntry, ...] = ()
    contract_address: str | None = None

    @classmethod
    def from_rpc(cls, payload: Mapping[str, Any]) -> Receipt:
        """Build from an ``eth_getTransactionReceipt`` result of a mined transaction.

        Raises :class:`MalformedReceipt` for a receipt without a valid ``status``, block or
        logs (its outcome is unknown; ask again or ask another node)."""
        status = receipt_status(payload)
        try:
            logs = payload.get("logs") or []
            if not isinstance(logs, list) or not all(isinstance(g, Mapping) for g in logs):
                raise InvalidInput(f"receipt has bad 'logs': {logs!r}")
            return cls(
                tx_hash=TxHash(_str(payload, "transactionHash", "receipt")),
                block_number=_int(payload, "blockNumber", "receipt"),
                block_hash=_str(payload, "blockHash", "receipt"),
                status=status,
                gas_used=int(payload.get("gasUsed", "0x0"), 16),
                effective_gas_price=int(payload.get("effectiveGasPrice", "0x0"), 16),
                logs=tuple(LogEntry.from_rpc(log) for log in logs),
                contract_address=_created(payload),
            )
        except (InvalidInput, TypeError, ValueError) as exc:
            raise MalformedReceipt(
                f"the receipt of {payload.get('transactionHash', '?')} is malformed ({exc}); "
                "ask the node again or use another RPC endpoint"
            ) from exc

    @property
    def gas_paid(self) -> int:
        """Wei the sender paid for gas (``gas_used * effective_gas_price``)."""
        return self.gas_used * self.effective_gas_price
