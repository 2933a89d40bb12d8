"""Screening again at execution time: a :class:`~oms_chain.chain.executor.CallExecutor` wrapper
that checks every call against the compliance block lists right before anything is signed.

The pre-trade risk gate screens an order's destinations when the order is accepted; a list the
user updates afterwards (a new sanctions entry) must still stop a call that has not been signed
yet: a retry, a Safe transaction waiting for its owners, an order queued behind others.
:class:`ScreeningExecutor` wraps any executor (EOA, Safe, threshold account), refreshes the
screen's list files (:meth:`~oms_chain.compliance.AddressScreen.refresh`) and refuses the whole
batch with :class:`DestinationBlocked` (a :class:`~oms_chain.model.errors.VenueRejected`, the
match named) when a call's target, or an address passed as a call argument (a spender, a
recipient), is listed. Nothing is proposed, signed or sent then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from eth_utils import to_checksum_address

from oms_chain.chain.executor import CallExecutor
from oms_chain.chain.sender import OnSigned, SentTransaction, TxSender
from oms_chain.compliance.screening import AddressScreen, ScreeningMatch
from oms_chain.custody.calls import Call
from oms_chain.model.errors import InvalidInput, VenueRejected

__all__ = ["DestinationBlocked", "ScreeningExecutor", "call_addresses"]

_log = logging.getLogger(__name__)


class DestinationBlocked(VenueRejected):
    """A call would reach a listed address; nothing was signed or sent. ``matches`` names
    every list entry hit."""

    def __init__(self, message: str, matches: Sequence[ScreeningMatch]) -> None:
        super().__init__(message)
        self.matches = tuple(matches)


def call_addresses(call: Call) -> dict[str, list[str]]:
    """The addresses one call reaches: its target (``destination``), every ABI word of its
    arguments shaped like an address (12 zero bytes, then 20 not all zero: a spender, a
    recipient, a token) as ``argument``, and as ``embedded`` every other 20-byte window of the
    arguments (lowercase, not all zero): the tokens of a packed Uniswap path
    (``exactInput``), the arguments of a call nested in a ``bytes`` value (offset by its
    selector). A number below 2**160 reads as an address too, and so does any 20 bytes of a
    blob; either can only match if a list names exactly that value."""
    args: list[str] = []
    data = call.data[4:]
    aligned: set[int] = set()
    for i in range(0, len(data) - 31, 32):
        word = data[i : i + 32]
        if not any(word[:12]) and any(word[12:]):
            args.append(to_checksum_address(word[12:]))
            aligned.add(i + 12)
    raw = data.hex()
    embedded = dict.fromkeys(
        "0x" + raw[2 * k : 2 * k + 40]
        for k in range(len(data) - 19)
        if k not in aligned and any(data[k : k + 20])
    )
    return {"destination": [str(call.to)], "argument": args, "embedded": list(embedded)}


class ScreeningExecutor:
    """``inner`` with every batch screened against ``screen`` before it runs (see the module
    docstring). The seam is ``inner``'s: address, sender, batching and nonces are passed
    through, and so is any other attribute (a Safe executor's ``proposals()``).

    ``on_match``: called with the matches of a refused batch (e.g. to record
    :func:`~oms_chain.compliance.match_events` in the audit trail)."""

    def __init__(
        self,
        inner: CallExecutor,
        screen: AddressScreen,
        *,
        on_match: Callable[[Sequence[ScreeningMatch]], None] | None = None,
    ) -> None:
        if not isinstance(screen, AddressScreen):
            raise InvalidInput(f"screen must be an AddressScreen, got {type(screen).__name__}")
        self.inner = inner
        self.screen = screen
        self._on_match = on_match

    @property
    def address(self) -> str:
        """The inner executor's account."""
        return self.inner.address

    @property
    def sender(self) -> TxSender:
        """The inner executor's sender."""
        return self.inner.sender

    @property
    def batches(self) -> bool:
        """Whether the inner executor batches."""
        return self.inner.batches

    def check(self, calls: Sequence[Call]) -> None:
        """Refresh the lists and screen ``calls``.

        Raises:
            DestinationBlocked: a call reaches a listed address.
            ConfigError: a list file changed and no longer loads (nothing is sent on a list
                that cannot be read).
        """
        self.screen.refresh()
        matches: list[ScreeningMatch] = []
        for call in calls:
            matches += self.screen.screen(call_addresses(call))
        if not matches:
            return
        if self._on_match is not None:
            self._on_match(matches)
        _log.warning("execution refused for %s: %s", self.address, matches[0])
        raise DestinationBlocked(
            f"calls of {self.address} refused at execution: {matches[0]}"
            + (f" (+{len(matches) - 1} more)" if len(matches) > 1 else "")
            + "; nothing was signed or sent",
            matches,
        )

    async def execute_calls(
        self,
        calls: Sequence[Call],
        *,
        what: str,
        on_signed: OnSigned | None = None,
        gas_margin: int = 0,
    ) -> SentTransaction:
        """Screen ``calls`` (:meth:`check`), then run them through the inner executor."""
        self.check(calls)
        return await self.inner.execute_calls(
            calls, what=what, on_signed=on_signed, gas_margin=gas_margin
        )

    async def account_nonce(self) -> int:
        """The inner executor's account nonce."""
        return await self.inner.account_nonce()

    def nonce_of(self, tx_hash: str, tx_nonce: int) -> int:
        """As the inner executor."""
        return self.inner.nonce_of(tx_hash, tx_nonce)

    async def reconcile(self) -> None:
        """The inner executor's reconciliation."""
        await self.inner.reconcile()

    def __getattr__(self, name: str) -> Any:
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)
