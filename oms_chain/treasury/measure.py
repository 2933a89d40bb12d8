"""Measure the treasury: read the Safe's (and its executor's) balances and option positions,
price them from the policy's sources, and value them with the risk engine (Greeks, VaR).

:func:`measure` does the reads; :func:`value` is the pure part (holdings + prices -> a
:class:`Measurement`), also used by the planner to value a treasury with a hedge added.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from oms_chain.chain.rpc import RpcClient
from oms_chain.model.assets import Asset
from oms_chain.model.errors import InvalidInput
from oms_chain.risk import Holding, MarketSnapshot, PortfolioRisk, parametric_var, portfolio_risk
from oms_chain.treasury.options_book import OptionBook, OptionHolding
from oms_chain.treasury.policy import TreasuryPolicy
from oms_chain.treasury.vols import VolMarks, market_marks
from oms_chain.venues.amm._calls import encode_call, erc20_balance, eth_call, native_balance

__all__ = ["Measurement", "measure", "read_prices", "value"]

_DAYS_PER_YEAR = 365


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    """The treasury at one instant (``ts_ns``, chain time), valued by the risk engine.

    ``balances``: whole units per asset symbol (Safe plus executor); ``options``: positions;
    ``delta``: units of the exposure underlying; ``delta_share``: ``delta_usd / equity``;
    ``var_1d``: parametric delta-gamma VaR at 99 %, one day, USD.
    """

    ts_ns: int
    spot: Decimal
    balances: Mapping[str, Decimal]
    options: tuple[OptionHolding, ...]
    risk: PortfolioRisk
    delta: Decimal
    delta_usd: Decimal
    delta_share: Decimal
    equity: Decimal
    var_1d: Decimal
    marks: VolMarks | None = None

    def to_json(self) -> dict[str, object]:
        """JSON-safe summary (Decimals as strings)."""
        return {
            "ts_ns": self.ts_ns,
            "spot": str(self.spot),
            "balances": {k: str(v) for k, v in self.balances.items()},
            "options": [
                {"symbol": o.contract.symbol, "quantity": str(o.quantity)} for o in self.options
            ],
            "delta": str(self.delta),
            "delta_usd": str(self.delta_usd),
            "delta_share": str(self.delta_share),
            "equity": str(self.equity),
            "gamma_1pct_usd": str(_q(self.risk.gamma_1pct_usd, "0.01")),
            "vega_1pt": str(_q(self.risk.vega_1pt, "0.01")),
            "theta_day": str(_q(self.risk.theta_day, "0.01")),
            "var_1d": str(self.var_1d),
            "vols": self.marks.source if self.marks else "flat instruments.vol",
        }


def _q(x: Decimal, places: str = "0.000001") -> Decimal:
    return x.quantize(Decimal(places))


def value(
    policy: TreasuryPolicy,
    balances: Mapping[str, Decimal],
    options: Sequence[OptionHolding],
    spots: Mapping[str, Decimal],
    ts_ns: int,
    marks: VolMarks | None = None,
) -> Measurement:
    """Value ``balances`` (symbol -> whole units) and ``options`` at ``spots`` (underlying ->
    USD) with the risk engine, options at the vols of ``marks`` (default: the policy's flat
    ``instruments.vol``). Raises :class:`InvalidInput` for a missing price."""
    marks = marks or VolMarks(flat=policy.instruments.vol)
    chain = policy.safe.chain_id
    under = policy.exposure.underlying
    spot = spots.get(under)
    if spot is None:
        raise InvalidInput(f"no price for {under}; check the policy key 'prices.{under}'")
    # every symbol that moves with an underlying gets that underlying's price
    symbol_spot: dict[str, Decimal] = {}
    moves_with: dict[str, str] = {}
    holdings: list[Holding] = []
    for spec in policy.assets:
        qty = balances.get(spec.symbol, Decimal(0))
        asset = (
            Asset.native(chain, spec.symbol, spec.decimals)
            if spec.native
            else Asset.erc20(chain, str(spec.address).lower(), spec.symbol, spec.decimals)
        )
        if spec.underlying is not None:
            if spec.underlying not in spots:
                raise InvalidInput(
                    f"no price for {spec.underlying}; check the policy key "
                    f"'prices.{spec.underlying}'"
                )
            symbol_spot[spec.symbol] = spots[spec.underlying]
            moves_with[spec.symbol] = spec.underlying
        if qty:
            holdings.append(Holding(instrument=asset, quantity=qty, venue="safe"))
    locked: dict[str, Decimal] = {}
    for o in options:
        if o.collateral:
            locked[o.collateral_symbol] = locked.get(o.collateral_symbol, Decimal(0)) + o.collateral
    for spec in policy.assets:
        if locked.get(spec.symbol):
            asset = Asset.erc20(chain, str(spec.address).lower(), spec.symbol, spec.decimals)
            holdings.append(Holding(instrument=asset, quantity=locked[spec.symbol], venue="market"))
    vols: dict[str, Decimal] = {}
    for o in options:
        sym = o.contract.underlying.symbol
        if sym not in symbol_spot:
            raise InvalidInput(
                f"option {o.contract.symbol} is on {sym}, which no policy asset lists; add it"
            )
        vol = marks.vol_of(o.contract)
        if vol is not None:  # else the underlying's fitted surface prices it
            vols[str(o.contract.id)] = vol
        holdings.append(Holding(instrument=o.contract, quantity=o.quantity, venue="executor"))
    cash = frozenset(a.symbol for a in policy.assets if a.underlying is None)
    market = MarketSnapshot(
        now_ns=ts_ns, spots=symbol_spot, vols=vols, cash_symbols=cash, surfaces=marks.surfaces
    )
    risk = portfolio_risk(holdings, market)
    exposed = {s for s, u in moves_with.items() if u == under}
    delta = sum((r.delta for s, r in risk.by_underlying.items() if s in exposed), Decimal(0))
    delta_usd = sum(
        (r.delta_usd for s, r in risk.by_underlying.items() if s in exposed), Decimal(0)
    )
    equity = risk.equity
    names = sorted(symbol_spot)
    daily = float(policy.instruments.vol) ** 2 / _DAYS_PER_YEAR
    cov = np.full((len(names), len(names)), daily)  # one underlying: perfectly correlated
    var = parametric_var(holdings, market, cov, names).var if holdings and names else Decimal(0)
    return Measurement(
        ts_ns=ts_ns,
        spot=spot,
        balances=dict(balances),
        options=tuple(options),
        risk=risk,
        delta=_q(delta),
        delta_usd=_q(delta_usd, "0.01"),
        delta_share=_q(delta_usd / equity) if equity > 0 else Decimal(0),
        equity=_q(equity, "0.01"),
        var_1d=_q(var, "0.01"),
        marks=marks,
    )


async def read_prices(rpc: RpcClient, policy: TreasuryPolicy) -> dict[str, Decimal]:
    """USD price of every underlying from its policy source (feed or fixed)."""
    out: dict[str, Decimal] = {}
    for sym, source in policy.prices.items():
        kind, _, arg = source.partition(":")
        if kind == "fixed":
            out[sym] = Decimal(arg)
            continue
        (decimals,) = await eth_call(rpc, arg, encode_call("decimals()"), ["uint8"])
        _r, answer, _s, _u, _a = await eth_call(
            rpc,
            arg,
            encode_call("latestRoundData()"),
            ["uint80", "int256", "uint256", "uint256", "uint80"],
        )
        if int(answer) <= 0:
            raise InvalidInput(f"price feed {arg} (policy key 'prices.{sym}') answers {answer}")
        out[sym] = Decimal(int(answer)).scaleb(-int(decimals))
    return out


async def read_balances(rpc: RpcClient, policy: TreasuryPolicy) -> dict[str, Decimal]:
    """Whole units of every policy asset held by the Safe and its options executor."""
    holders = [policy.safe.address]
    if policy.safe.options_executor is not None:
        holders.append(policy.safe.options_executor)
    out: dict[str, Decimal] = {}
    for spec in policy.assets:
        units = 0
        for who in holders:
            if spec.native:
                units += await native_balance(rpc, who)
            else:
                units += await erc20_balance(rpc, str(spec.address), who)
        out[spec.symbol] = Decimal(units).scaleb(-spec.decimals)
    return out


async def measure(
    rpc: RpcClient,
    policy: TreasuryPolicy,
    book: OptionBook | None,
    marks: VolMarks | None = None,
) -> Measurement:
    """Read and value the treasury now (chain time), options at ``marks`` (default: the
    makers' quotes on ``book``, see :func:`~oms_chain.treasury.vols.market_marks`)."""
    block = await rpc.get_block("latest")
    ts_ns = int(block["timestamp"], 16) * 1_000_000_000 if block else 0
    balances = await read_balances(rpc, policy)
    options = await book.holdings() if book is not None else []
    prices = await read_prices(rpc, policy)
    if marks is None:
        spot = prices.get(policy.exposure.underlying, Decimal(0))
        marks = await market_marks(book, policy, spot, ts_ns) if spot > 0 else None
    return value(policy, balances, options, prices, ts_ns, marks)
