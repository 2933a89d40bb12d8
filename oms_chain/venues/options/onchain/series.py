"""Series of the on-chain options venue: discovered from the market's ``SeriesListed``
events and mapped to :class:`~oms_chain.model.instruments.OptionContract` (the series id stays at
the edge), and the feed's index price."""

from __future__ import annotations

from decimal import Decimal

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from oms_chain.model.assets import Asset
from oms_chain.model.errors import VenueRejected
from oms_chain.model.instruments import Instrument, OptionContract, OptionKind, Settlement
from oms_chain.venues.amm._calls import encode_call, eth_call
from oms_chain.venues.options.onchain._base import SeriesListing, _Base

_SERIES_LISTED = (
    "0x"
    + keccak(text="SeriesListed(uint256,address,address,uint256,uint64,bool,uint256,address)").hex()
)


class _Series(_Base):
    """Series discovery and lookup (mixed into the venue)."""

    async def discover(self) -> list[SeriesListing]:
        """Read every ``SeriesListed`` event of the market since ``from_block``; returns the
        series known afterwards, by id."""
        rpc = self._account.rpc
        logs = await rpc.call(
            "eth_getLogs",
            [
                {
                    "address": self._market,
                    "fromBlock": hex(self._cfg.from_block),
                    "toBlock": "latest",
                    "topics": [_SERIES_LISTED],
                }
            ],
        )
        tokens: dict[str, tuple[str, int]] = {}
        for log in logs or []:
            topics = log["topics"]
            sid = int(topics[1], 16)
            if sid in self._series:
                continue
            underlying = to_checksum_address("0x" + topics[2][-40:])
            quote = to_checksum_address("0x" + topics[3][-40:])
            strike, expiry, is_call, size, feed = abi_decode(
                ["uint256", "uint64", "bool", "uint256", "address"],
                bytes.fromhex(log["data"][2:]),
            )
            for token in (underlying, quote):
                if token not in tokens:
                    tokens[token] = await self._token_info(token)
            u_sym, u_dec = tokens[underlying]
            q_sym, q_dec = tokens[quote]
            chain_id = self._account.chain.chain_id
            u_asset = Asset.erc20(chain_id, underlying, u_sym, u_dec)
            q_asset = Asset.erc20(chain_id, quote, q_sym, q_dec)
            unit = u_asset.from_base_units(int(size))
            exponent = unit.normalize().as_tuple().exponent
            assert isinstance(exponent, int)
            contract = OptionContract(
                underlying=u_asset,
                quote=q_asset,
                strike=_plain(q_asset.from_base_units(int(strike))),
                expiry_ns=int(expiry) * 1_000_000_000,
                option_kind=OptionKind.CALL if is_call else OptionKind.PUT,
                settlement=Settlement.CASH,
                size_decimals=max(0, -exponent),
            )
            collateral = (
                int(size) if is_call else int(strike) * int(size) // 10**u_dec
            )  # as the contract computes it at listing
            listing = SeriesListing(
                series_id=sid,
                contract=contract,
                contract_size=int(size),
                collateral_per_contract=collateral,
                collateral_token=underlying if is_call else quote,
                feed=to_checksum_address(feed),
                underlying=underlying,
                quote=quote,
            )
            self._series[sid] = listing
            self._by_key[_key(contract)] = sid
        return [self._series[i] for i in sorted(self._series)]

    async def _token_info(self, token: str) -> tuple[str, int]:
        (symbol,) = await eth_call(self._account.rpc, token, encode_call("symbol()"), ["string"])
        (decimals,) = await eth_call(self._account.rpc, token, encode_call("decimals()"), ["uint8"])
        return str(symbol), int(decimals)

    def instruments(self) -> list[OptionContract]:
        """Every discovered series as a contract, by series id."""
        return [self._series[i].contract for i in sorted(self._series)]

    def listing(self, instrument: Instrument) -> SeriesListing:
        """The series of ``instrument``.

        Raises:
            VenueRejected: not an option, or no such series on this market.
        """
        if not isinstance(instrument, OptionContract):
            raise VenueRejected(f"{self._id}: only options are traded here, not {instrument.id}")
        sid = self._by_key.get(_key(instrument))
        if sid is None or self._series[sid].contract.quote != instrument.quote:
            raise VenueRejected(
                f"{self._id}: unknown series {instrument.symbol} ({instrument.id}): the market "
                f"{self._market} lists no such option; pick one from instruments()"
            )
        return self._series[sid]

    def series_id(self, instrument: Instrument) -> int:
        """The market's series id of ``instrument`` (its name at this venue's edge)."""
        return self.listing(instrument).series_id

    def contract(self, series_id: int) -> OptionContract:
        """The contract of a series id; raises :class:`VenueRejected` for an unknown id."""
        found = self._series.get(series_id)
        if found is None:
            raise VenueRejected(f"{self._id}: unknown series id {series_id}")
        return found.contract

    async def index_price(self, instrument: Instrument) -> Decimal:
        """The latest answer of the series' feed: quote units per whole underlying.

        Raises:
            VenueRejected: unknown series.
        """
        listing = self.listing(instrument)
        rpc = self._account.rpc
        out = ["uint80", "int256", "uint256", "uint256", "uint80"]
        _rid, answer, _s, _u, _i = await eth_call(
            rpc, listing.feed, encode_call("latestRoundData()"), out
        )
        (decimals,) = await eth_call(rpc, listing.feed, encode_call("decimals()"), ["uint8"])
        return Decimal(int(answer)).scaleb(-int(decimals))


def _key(c: OptionContract) -> tuple[str, Decimal, int, OptionKind]:
    return (str(c.underlying.address).lower(), c.strike, c.expiry_ns, c.option_kind)


def _plain(d: Decimal) -> Decimal:
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize()
