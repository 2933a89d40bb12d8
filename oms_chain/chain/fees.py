"""Transaction fees: EIP-1559 suggestions from ``eth_feeHistory``, legacy gas price otherwise.

The suggestion follows the base-fee trend (the next block's base fee, which the node reports as
the last entry of ``baseFeePerGas``) times a headroom multiplier, plus a priority fee taken as the
median over recent blocks of a chosen reward percentile. Caps from configuration bound both; a
base fee already above the cap is an error rather than a transaction that will never be mined.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from oms_chain.model.amounts import Wei
from oms_chain.model.errors import FinalError, InvalidInput

__all__ = ["FeeCapExceeded", "FeeHistory", "FeePolicy", "FeeQuote", "bump_fees", "suggest_fees"]

GWEI = 10**9


class FeeCapExceeded(FinalError):
    """The network's base fee is above the configured cap; the transaction would not be mined."""


@dataclass(frozen=True, slots=True)
class FeeHistory:
    """``eth_feeHistory``: base fees (one more than blocks: the last is the next block's) and
    priority-fee rewards per block at the requested percentiles."""

    oldest_block: int
    base_fees: tuple[int, ...]
    gas_used_ratios: tuple[float, ...]
    rewards: tuple[tuple[int, ...], ...]

    @classmethod
    def from_rpc(cls, payload: dict[str, Any]) -> FeeHistory:
        """Build from the JSON-RPC result (hex quantities)."""
        try:
            return cls(
                oldest_block=int(payload["oldestBlock"], 16),
                base_fees=tuple(int(x, 16) for x in payload["baseFeePerGas"]),
                gas_used_ratios=tuple(float(x) for x in payload.get("gasUsedRatio", [])),
                rewards=tuple(
                    tuple(int(x, 16) for x in row) for row in payload.get("reward") or []
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"eth_feeHistory answer is malformed: {exc}") from exc

    @property
    def next_base_fee(self) -> int:
        """Base fee of the block after the newest one in the history."""
        return self.base_fees[-1]


@dataclass(frozen=True, kw_only=True, slots=True)
class FeePolicy:
    """How to price transactions on one chain (all fees in wei)."""

    base_fee_multiplier: float = 2.0
    priority_percentile: float = 50.0
    min_priority_fee: int = 10**8  # 0.1 gwei
    max_priority_fee: int = 50 * GWEI
    max_fee_cap: int = 500 * GWEI
    history_blocks: int = 10

    def __post_init__(self) -> None:
        if self.base_fee_multiplier < 1:
            raise InvalidInput("base_fee_multiplier must be >= 1 (the base fee can only be paid)")
        if not 0 <= self.priority_percentile <= 100:
            raise InvalidInput("priority_percentile must be between 0 and 100")
        if not 0 <= self.min_priority_fee <= self.max_priority_fee:
            raise InvalidInput("need 0 <= min_priority_fee <= max_priority_fee")
        if self.max_fee_cap <= 0:
            raise InvalidInput("max_fee_cap must be > 0 wei")
        if not 1 <= self.history_blocks <= 1024:
            raise InvalidInput("history_blocks must be between 1 and 1024")


@dataclass(frozen=True, slots=True)
class FeeQuote:
    """Fees for one transaction: EIP-1559 fields, or ``gas_price`` on a legacy chain."""

    max_fee_per_gas: Wei | None
    max_priority_fee_per_gas: Wei | None
    gas_price: Wei | None = None

    def as_tx_fields(self) -> dict[str, int]:
        """The fields to put in a transaction dict."""
        if self.gas_price is not None:
            return {"gasPrice": self.gas_price}
        assert self.max_fee_per_gas is not None and self.max_priority_fee_per_gas is not None
        return {
            "maxFeePerGas": self.max_fee_per_gas,
            "maxPriorityFeePerGas": self.max_priority_fee_per_gas,
        }


def suggest_fees(history: FeeHistory, policy: FeePolicy) -> FeeQuote:
    """EIP-1559 fees from a fee history under ``policy``.

    Raises :class:`FeeCapExceeded` when the next base fee alone is above ``max_fee_cap``.
    """
    base = history.next_base_fee
    if base > policy.max_fee_cap:
        raise FeeCapExceeded(
            f"base fee {base / GWEI:.3f} gwei is above the cap max_fee_cap "
            f"({policy.max_fee_cap / GWEI:.3f} gwei); raise the cap or wait"
        )
    rewards = [row[0] for row in history.rewards if row]
    tip = int(statistics.median(rewards)) if rewards else policy.min_priority_fee
    tip = max(policy.min_priority_fee, min(tip, policy.max_priority_fee))
    max_fee = min(int(base * policy.base_fee_multiplier) + tip, policy.max_fee_cap)
    tip = min(tip, max_fee)
    return FeeQuote(max_fee_per_gas=Wei(max_fee), max_priority_fee_per_gas=Wei(tip))


def bump_fees(previous: FeeQuote, current: FeeQuote, *, bump_percent: int = 10) -> FeeQuote:
    """Fees for a replacement at the same nonce.

    Nodes accept a replacement only if it raises *both* the max fee and the priority fee by at
    least ``bump_percent`` (geth and Anvil: 10 %); this returns the larger of that bump and the
    current market suggestion, rounded up.
    """
    if bump_percent < 10:
        raise InvalidInput("bump_percent below 10 is rejected as underpriced by geth-style nodes")

    def up(old: int | None, now: int | None) -> Wei:
        base = old or 0
        bumped = -(-base * (100 + bump_percent) // 100)
        return Wei(max(bumped, now or 0))

    if previous.gas_price is not None:
        return FeeQuote(None, None, gas_price=up(previous.gas_price, current.gas_price))
    return FeeQuote(
        max_fee_per_gas=up(previous.max_fee_per_gas, current.max_fee_per_gas),
        max_priority_fee_per_gas=up(
            previous.max_priority_fee_per_gas, current.max_priority_fee_per_gas
        ),
    )
