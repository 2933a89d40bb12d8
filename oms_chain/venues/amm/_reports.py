"""Reports of a Uniswap venue's orders: the journal entry and the chain (receipt, Transfer
logs, revert reason) turned into :class:`~oms_chain.venues.base.OrderStatusReport` and
:class:`~oms_chain.venues.base.FillReport`."""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any

from oms_chain.chain.revert import decode_revert
from oms_chain.chain.rpc import RpcError, RpcUnavailable
from oms_chain.chain.types import MalformedReceipt, Receipt
from oms_chain.model.errors import VenueUnavailable
from oms_chain.model.ids import ClientOrderId, TradeId, TxHash, VenueId, VenueOrderId
from oms_chain.model.instruments import SpotPair, instrument_from_payload
from oms_chain.model.intent import Side
from oms_chain.model.orders import SettlementState, SettlementStatus
from oms_chain.venues.amm._calls import WalletFlows
from oms_chain.venues.amm._config import _PREC
from oms_chain.venues.amm.account import ChainAccount
from oms_chain.venues.base import FillReport, OrderStatusReport, VenueOrderStatus

_S = SettlementStatus
_EXPIRY_REASONS = ("Transaction too old", "UniswapV2Router: EXPIRED")


class _Reports:
    """Order reports from the journal and the chain (mixed into the venue)."""

    _id: VenueId
    _account: ChainAccount
    _reasons: dict[str, str]

    def _open_report(
        self, coid: ClientOrderId, entry: dict[str, Any], tx_hash: TxHash
    ) -> OrderStatusReport:
        return self._report(
            coid,
            entry,
            VenueOrderStatus.OPEN,
            SettlementState(tx_hash=tx_hash),
            fills=(),
        )

    def _report(
        self,
        coid: ClientOrderId,
        entry: dict[str, Any],
        status: VenueOrderStatus,
        settlement: SettlementState,
        *,
        fills: tuple[FillReport, ...] = (),
        reason: str | None = None,
    ) -> OrderStatusReport:
        limit = entry.get("limit_price")
        return OrderStatusReport(
            venue=self._id,
            client_order_id=coid,
            venue_order_id=VenueOrderId(entry["tx"]["hash"]),
            status=status,
            quantity=Decimal(entry["quantity"]),
            filled_quantity=sum((f.quantity for f in fills), Decimal(0)),
            limit_price=None if limit is None else Decimal(limit),
            fills=fills,
            ts_event=self._account.clock_ns(),
            reason=reason,
            settlement=settlement,
        )

    async def _receipt(self, tx_hash: str) -> Receipt | None:
        """The mined receipt of ``tx_hash`` (``None`` while not mined); a receipt without a
        valid status is an error, never a success."""
        try:
            return await self._account.rpc.receipt(tx_hash)
        except MalformedReceipt as exc:
            raise VenueUnavailable(f"{self._id}: {exc}") from exc

    async def _build(
        self,
        coid: ClientOrderId,
        settlement: SettlementState,
        block_hash: str | None,
    ) -> OrderStatusReport:
        """The order's report for the settlement state of its swap transaction."""
        entry = self._account.journal.get(coid)
        assert entry is not None
        tx_hash = entry["tx"]["hash"]
        status = settlement.status
        if status in (_S.SUBMITTED, _S.REORGED):
            return self._report(coid, entry, VenueOrderStatus.OPEN, settlement)
        if status is _S.DROPPED:
            return self._report(
                coid,
                entry,
                VenueOrderStatus.EXPIRED,
                settlement,
                reason="the transaction was dropped by the network and could not be rebroadcast",
            )
        if status is _S.REPLACED:
            cancel = entry.get("cancel")
            if cancel:
                receipt = await self._receipt(cancel["hash"])
                if receipt is not None and receipt.status == 1:
                    return self._report(
                        coid,
                        entry,
                        VenueOrderStatus.CANCELLED,
                        settlement,
                        reason=f"cancelled by {cancel['hash']}",
                    )
            return self._report(
                coid,
                entry,
                VenueOrderStatus.EXPIRED,
                settlement,
                reason=f"nonce {entry['tx']['nonce']} was used by another transaction",
            )
        receipt = await self._receipt(tx_hash)
        if receipt is None or (block_hash is not None and receipt.block_hash != block_hash):
            # the block moved under us; the tracker's next pass reports where it went
            return self._report(
                coid, entry, VenueOrderStatus.OPEN, SettlementState(tx_hash=TxHash(tx_hash))
            )
        if receipt.status != 1:
            reason = await self._revert_reason(entry, receipt)
            expired = any(r in reason for r in _EXPIRY_REASONS)
            return self._report(
                coid,
                entry,
                VenueOrderStatus.EXPIRED if expired else VenueOrderStatus.REJECTED,
                settlement,
                reason=f"reverted on chain in block {receipt.block_number}: {reason}",
            )
        fill = self._fill(coid, entry, receipt)
        if fill is None:
            # A degenerate swap (dust sent before the venue refused it): mined, but one side
            # moved nothing, so there is no fill with a positive price to record. The order
            # ends unfilled with the facts, instead of failing every report (and restart).
            flows = WalletFlows.from_receipt(receipt, self._account.address)
            return self._report(
                coid,
                entry,
                VenueOrderStatus.REJECTED,
                settlement,
                reason=(
                    f"the swap was mined in block {receipt.block_number} but moved "
                    f"{flows.sent.get(entry['token_in'], 0)} base units of {entry['token_in']} "
                    f"for {flows.received.get(entry['token_out'], 0)} of {entry['token_out']}: "
                    "a zero-output (dust) swap, recorded with nothing filled"
                ),
            )
        return self._report(coid, entry, VenueOrderStatus.FILLED, settlement, fills=(fill,))

    def _fill(
        self, coid: ClientOrderId, entry: dict[str, Any], receipt: Receipt
    ) -> FillReport | None:
        """The swap's fill from the wallet's Transfer logs; ``None`` when either side moved
        nothing (no fill with a positive quantity and price exists)."""
        inst = instrument_from_payload(entry["instrument"])
        assert isinstance(inst, SpotPair)
        flows = WalletFlows.from_receipt(receipt, self._account.address)
        paid = flows.sent.get(entry["token_in"], 0)
        got = flows.received.get(entry["token_out"], 0)
        side = Side(entry["side"])
        base_units, quote_units = (paid, got) if side is Side.SELL else (got, paid)
        if base_units <= 0 or quote_units <= 0:
            return None
        gas = receipt.gas_paid
        with localcontext() as ctx:
            ctx.prec = _PREC
            quantity = inst.base.from_base_units(base_units)
            price = inst.quote.from_base_units(quote_units) / quantity
        return FillReport(
            venue=self._id,
            trade_id=TradeId(f"{receipt.tx_hash}@{receipt.block_hash}"),
            client_order_id=coid,
            venue_order_id=VenueOrderId(entry["tx"]["hash"]),
            side=side,
            quantity=quantity,
            price=price,
            fee=Decimal(gas).scaleb(-18),
            fee_currency=self._account.chain.native_symbol,
            ts_event=self._account.clock_ns(),
        )

    async def _revert_reason(self, entry: dict[str, Any], receipt: Receipt) -> str:
        key = f"{receipt.tx_hash}@{receipt.block_hash}"
        if key in self._reasons:
            return self._reasons[key]
        block = receipt.block_number
        fields = entry["tx"]["fields"]
        call = {
            "from": self._account.signer.address,
            "to": fields["to"],
            "data": fields["data"],
            "value": hex(int(fields["value"])),
        }
        # Replay at the block it was mined in (its timestamp, so deadline checks fail again).
        reason = "reverted (no reason could be recovered)"
        for tag in (hex(block), hex(block - 1)):
            try:
                await self._account.rpc.call("eth_call", [call, tag])
            except RpcError as exc:
                data = exc.data.get("data") if isinstance(exc.data, dict) else exc.data
                reason = decode_revert(data if isinstance(data, str) else None).message
                break
            except RpcUnavailable:
                return reason
        if int(entry["deadline"]) < await self._block_time(block):
            reason = f"Transaction too old (deadline {entry['deadline']} passed): {reason}"
        self._reasons[key] = reason
        return reason

    async def _block_time(self, number: int) -> int:
        head = await self._account.rpc.head(number)
        return head.timestamp if head else 0
