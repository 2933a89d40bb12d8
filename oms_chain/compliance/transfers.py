"""Travel-rule style records: every transfer out of one of our accounts, per account.

A :class:`TransferLog` turns what left an account (asset, amount, beneficiary, transaction) into
a :class:`~oms_chain.model.events.TransferRecorded` event, screens the beneficiary first, and
keeps the records per account for export. Where the events are persisted is the caller's store.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from eth_utils import is_address

from oms_chain.compliance.screening import AddressScreen, ScreeningMatch
from oms_chain.model.checks import check_decimal
from oms_chain.model.clock import Clock
from oms_chain.model.errors import FinalError, InvalidInput
from oms_chain.model.events import TransferRecorded
from oms_chain.model.ids import EventId

__all__ = ["BlockedTransfer", "TransferLog"]


class BlockedTransfer(FinalError):
    """The beneficiary of a transfer is on a block list; nothing was recorded as sent."""

    def __init__(self, match: ScreeningMatch) -> None:
        super().__init__(f"transfer refused: {match}")
        self.match = match


class TransferLog:
    """Per-account record of transfers out. ``clock`` stamps the events."""

    def __init__(self, clock: Clock, screen: AddressScreen | None = None) -> None:
        self._clock = clock
        self._screen = screen
        self._records: dict[str, list[TransferRecorded]] = defaultdict(list)
        self._seq = 0

    def check(self, account: str, beneficiary: str) -> None:
        """Raise :class:`BlockedTransfer` if ``beneficiary`` is on a block list."""
        if self._screen is not None:
            hits = self._screen.screen({"beneficiary": [beneficiary]})
            if hits:
                raise BlockedTransfer(hits[0])

    def record(
        self,
        *,
        account: str,
        chain_id: int,
        tx_hash: str,
        asset: str,
        amount: Decimal,
        sender: str,
        beneficiary: str,
        beneficiary_name: str = "",
        originator_name: str = "",
    ) -> TransferRecorded:
        """Record one transfer out (after screening the beneficiary); returns the event."""
        for name, value in (("sender", sender), ("beneficiary", beneficiary)):
            if not isinstance(value, str) or not is_address(value):
                raise InvalidInput(f"transfer {name} must be an address, got {value!r}")
        amount = check_decimal(amount, "transfer amount", gt=0)
        if not isinstance(account, str) or not account:
            raise InvalidInput("transfer account must be a non-empty string")
        if isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id <= 0:
            raise InvalidInput(f"transfer chain_id must be a positive integer, got {chain_id!r}")
        self.check(account, beneficiary)
        now = self._clock.now_ns()
        self._seq += 1
        event = TransferRecorded(
            event_id=EventId(f"transfer-{account}-{self._seq}"),
            ts_event=now,
            ts_init=now,
            account=account,
            chain_id=chain_id,
            tx_hash=tx_hash,
            asset=asset,
            amount=amount,
            sender=sender,
            beneficiary=beneficiary,
            beneficiary_name=beneficiary_name,
            originator_name=originator_name,
        )
        self._records[account].append(event)
        return event

    def records(self, account: str) -> tuple[TransferRecorded, ...]:
        """Every transfer out of ``account``, oldest first."""
        return tuple(self._records.get(account, ()))
