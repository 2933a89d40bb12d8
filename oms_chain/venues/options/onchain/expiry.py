"""Positions and expiry of the on-chain options venue: longs and shorts with their collateral,
settling a series from its feed's first round after expiry, redeeming longs for their payoff
and withdrawing shorts for the collateral left, each with the exact amount received."""

from __future__ import annotations

from decimal import Decimal

from eth_abi import decode as abi_decode

from oms_chain.chain.revert import TransactionWouldRevert
from oms_chain.chain.sender import BroadcastRejected
from oms_chain.chain.types import Receipt
from oms_chain.custody.calls import Call
from oms_chain.model.errors import VenueRejected
from oms_chain.model.instruments import Instrument
from oms_chain.venues.amm._calls import WalletFlows, encode_call, eth_call, wait_for_receipt
from oms_chain.venues.options.feed_rounds import first_round_at_or_after
from oms_chain.venues.options.onchain._base import _EXECUTE, _ZERO, SeriesListing
from oms_chain.venues.options.onchain.rfq import _Rfq
from oms_chain.venues.options.quotes import SeriesInfo
from oms_chain.venues.options.types import OptionPosition, OptionSettlement


class _Expiry(_Rfq):
    """Positions, settlement, redeem and withdraw (mixed into the venue)."""

    async def positions(self) -> list[OptionPosition]:
        """Longs (positive) and shorts (negative) of the account in every series, with the
        collateral locked for the shorts."""
        listings = [self._series[i] for i in sorted(self._series)]
        me = self.holder
        calls = [
            (
                "eth_call",
                [
                    {
                        "to": self._market,
                        "data": "0x"
                        + encode_call(
                            "balanceOfBatch(address[],uint256[])",
                            [me, me],
                            [2 * s.series_id, 2 * s.series_id + 1],
                        ).hex(),
                    },
                    "latest",
                ],
            )
            for s in listings
        ]
        answers = await self._account.rpc.batch(calls) if calls else []
        out: list[OptionPosition] = []
        for listing, raw in zip(listings, answers, strict=True):
            (pair,) = abi_decode(["uint256[]"], bytes.fromhex(str(raw)[2:]))
            longs, shorts = int(pair[0]), int(pair[1])
            for count, sign in ((longs, 1), (shorts, -1)):
                if count == 0:
                    continue
                token_asset = (
                    listing.contract.underlying
                    if listing.collateral_token == listing.underlying
                    else listing.contract.quote
                )
                out.append(
                    OptionPosition(
                        venue=self._id,
                        name=str(listing.series_id),
                        contract=listing.contract,
                        quantity=sign * listing.quantity(count),
                        premium_currency=listing.contract.quote.symbol,
                        average_price=None,
                        mark=None,
                        collateral=Decimal(0)
                        if sign > 0
                        else token_asset.from_base_units(count * listing.collateral_per_contract),
                        collateral_currency=token_asset.symbol,
                    )
                )
        return out

    async def _series_state(self, sid: int) -> tuple[bool, int, int]:
        """``(settled, settlement price, payoff per contract)`` as the contract stores them."""
        raw = await self._account.rpc.call(
            "eth_call",
            [
                {"to": self._market, "data": "0x" + encode_call("series(uint256)", sid).hex()},
                "latest",
            ],
        )
        info = SeriesInfo.from_return_data(sid, bytes.fromhex(str(raw)[2:]))
        return info.settled, info.settlement_price, info.payoff_per_contract

    async def _settling_round(self, listing: SeriesListing) -> int:
        rpc = self._account.rpc
        expiry = listing.contract.expiry_ns // 1_000_000_000
        out = ["uint80", "int256", "uint256", "uint256", "uint80"]
        rid, _a, _s, updated, _i = await eth_call(
            rpc, listing.feed, encode_call("latestRoundData()"), out
        )
        if int(updated) < expiry:
            raise VenueRejected(
                f"{self._id}: series {listing.series_id}: the feed {listing.feed} has no round "
                f"at or after expiry {expiry} yet; wait for the oracle"
            )

        async def updated_at(round_id: int) -> int:
            got = await eth_call(
                rpc, listing.feed, encode_call("getRoundData(uint80)", round_id), out
            )
            return int(got[3])

        # within the latest round's phase (Chainlink ids are phase << 64 | n), by bisection
        return await first_round_at_or_after(int(rid), expiry, updated_at)

    async def _send_and_wait(
        self, data: bytes, what: str, *, to: str | None = None, as_account: bool = False
    ) -> Receipt:
        """Send one call and wait for its receipt: from the relayer / signer itself, or with
        ``as_account`` through the account's executor (a Safe's own transaction)."""
        account = self._account
        for attempt in (1, 2):
            try:
                if as_account:
                    call = Call.to_address(to or self._market, data)
                    sent = await account.execute_calls([call], what=what)
                else:
                    sent = await account.sender.send(to=to or self._market, data=data, what=what)
                break
            except BroadcastRejected as exc:
                # another wallet used our nonce: the sender has resynced, sign once more
                if attempt == 2 or "nonce too low" not in str(exc).lower():
                    raise VenueRejected(
                        f"{self._id}: {what} refused: {exc}; nothing was sent"
                    ) from exc
            except TransactionWouldRevert as exc:
                raise VenueRejected(f"{self._id}: {what} refused: {exc}; nothing was sent") from exc
        return await wait_for_receipt(self._account.rpc, sent.tx_hash, what)

    async def settle_series(self, instrument: Instrument) -> bool:
        """Settle an expired series from its feed's first round after expiry (anyone may);
        ``False`` when it was settled already.

        Raises:
            VenueRejected: unknown series, not expired, or no round after expiry yet.
        """
        listing = self.listing(instrument)
        call = await self.settlement_call(instrument)
        if call is None:
            return False
        await self._send_and_wait(call, f"settle series {listing.series_id}")
        return True

    async def settlement_call(self, instrument: Instrument) -> bytes | None:
        """The market's ``settle(series, round)`` calldata for an expired series, with the
        feed's first round after expiry (for any account to send, e.g. a Safe in a batch);
        ``None`` when the series is settled already.

        Raises:
            VenueRejected: unknown series, not expired, or no round after expiry yet.
        """
        listing = self.listing(instrument)
        settled, _, _ = await self._series_state(listing.series_id)
        if settled:
            return None
        now = await self._chain_time()
        if now < listing.contract.expiry_ns // 1_000_000_000:
            raise VenueRejected(
                f"{self._id}: series {listing.series_id} expires at "
                f"{listing.contract.expiry_ns // 1_000_000_000}; chain time is {now}"
            )
        round_id = await self._settling_round(listing)
        return encode_call("settle(uint256,uint80)", listing.series_id, round_id)

    async def redeem(self, instrument: Instrument) -> OptionSettlement:
        """Settle the series if needed, then burn every long for its payoff; the settlement
        says exactly what arrived (base units of the collateral token, as a Decimal).

        Raises:
            VenueRejected: unknown series, not expired, no long held, no round after expiry.
        """
        return await self._close_out(instrument, longs=True)

    async def withdraw(self, instrument: Instrument) -> OptionSettlement:
        """Settle the series if needed, then burn every short for the collateral left."""
        return await self._close_out(instrument, longs=False)

    async def _close_out(self, instrument: Instrument, *, longs: bool) -> OptionSettlement:
        listing = self.listing(instrument)
        sid = listing.series_id
        token_id = 2 * sid if longs else 2 * sid + 1
        (held,) = await eth_call(
            self._account.rpc,
            self._market,
            encode_call("balanceOf(address,uint256)", self.holder, token_id),
            ["uint256"],
        )
        if int(held) == 0:
            what = "long" if longs else "short"
            raise VenueRejected(f"{self._id}: {self.holder} holds no {what} of series {sid}")
        await self.settle_series(instrument)
        _settled, price, _pay = await self._series_state(sid)
        name = "redeem" if longs else "withdraw"
        call = encode_call(f"{name}(uint256,uint256)", sid, int(held))
        if self._cfg.executor is not None:
            call = encode_call(_EXECUTE, [(self._market, 0, call, _ZERO, 0)], [])
        receipt = await self._send_and_wait(
            call, f"{name} series {sid}", to=self._cfg.executor or self._market, as_account=True
        )
        flows = WalletFlows.from_receipt(receipt, self.holder)
        token = listing.collateral_token
        received = flows.received.get(token.lower(), 0)
        asset = (
            listing.contract.underlying if token == listing.underlying else listing.contract.quote
        )
        return OptionSettlement(
            venue=self._id,
            name=str(sid),
            contract=listing.contract,
            quantity=(1 if longs else -1) * listing.quantity(int(held)),
            settlement_price=listing.contract.quote.from_base_units(price),
            payoff=asset.from_base_units(received),
            payoff_currency=asset.symbol,
            reference=str(receipt.tx_hash),
            ts_event=self._account.clock_ns(),
        )
