"""Where ``oms strategy KIND --dry-run`` gets its quotes: a small synthetic surface, or the
running devnet's Deribit-protocol exchange through unmodified ``ccxt.deribit``."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from oms_chain.cli._app import _runtime_file
from oms_chain.cli._strategy_preview import _cents
from oms_chain.model.errors import InvalidInput

_HALF_SPREAD = Decimal("0.02")  # synthetic quotes: mid -/+ 2 %


class _Market:
    """Quotes (USD per contract), vols per leg, the spot and the source of one preview."""

    def __init__(
        self, source: str, spot: Decimal, quotes: dict[str, Any], vols: dict[str, Decimal]
    ):
        self.source, self.spot, self.quotes, self.vols = source, spot, quotes, vols


def _synthetic_quotes(
    structure: Any, spot: Decimal, vol: Decimal, rate: Decimal, now_ns: int
) -> _Market:
    """Mid from BSM off a small SVI surface (ATM vol ``vol``, a mild put skew) at ``spot``;
    bid / ask 2 % either side."""
    from oms_chain.risk.pricing import NS_PER_YEAR, SVIParams, VolSurface, bsm_price
    from oms_chain.strategies import LegQuote

    ts = [(e - now_ns) / NS_PER_YEAR for e in structure.expiries]
    v = float(vol)
    params = [SVIParams(v * v * t * 0.9, 0.5 * v * v * t, -0.3, 0.0, 0.2) for t in ts]
    surf = VolSurface.from_params(ts, float(spot), params)
    quotes: dict[str, Any] = {}
    vols: dict[str, Decimal] = {}
    for leg in structure.legs:
        c = leg.contract
        t = (c.expiry_ns - now_ns) / NS_PER_YEAR
        iv = float(surf.implied_vol(float(c.strike), t))
        mid = Decimal(
            repr(
                float(
                    bsm_price(
                        c.option_kind.value == "call",
                        float(spot),
                        float(c.strike),
                        t,
                        float(rate),
                        0.0,
                        iv,
                    )
                )
            )
        )
        quotes[c.id] = LegQuote(
            bid=_cents(max(mid * (1 - _HALF_SPREAD), Decimal(0))),
            ask=max(_cents(mid * (1 + _HALF_SPREAD)), Decimal("0.01")),
        )
        vols[c.id] = Decimal(repr(iv)).quantize(Decimal("1e-6"))
    return _Market("synthetic surface", spot, quotes, vols)


def _deribit_quotes(structure: Any, series: Any) -> _Market:
    """Every leg's ticker from the running devnet's Deribit-protocol exchange (ccxt.deribit,
    only ``urls['api']`` changed); premiums in the underlying become USD at the index."""
    runtime = _runtime_file()
    try:
        dx = json.loads(runtime.read_text())["chains"]["deribit"]
        urls = {"rest": str(dx["rest_url"]), "ws": str(dx["ws_url"])}
    except (OSError, ValueError, KeyError, TypeError):
        raise InvalidInput(
            "--venue deribit: no devnet with the Deribit-protocol exchange is running (start "
            "one with `oms devnet up`)"
        ) from None
    import ccxt

    from oms_chain.model.instruments import OptionKind
    from oms_chain.strategies import LegQuote

    ex = ccxt.deribit({"timeout": 10_000})
    ex.urls["api"] = urls
    try:
        markets = ex.load_markets()
        listed: dict[str, str] = {}
        und = structure.underlying_symbol
        for sym, m in markets.items():
            if m.get("option") and m.get("base") == und and m.get("expiry"):
                k = OptionKind.CALL if m.get("optionType") == "call" else OptionKind.PUT
                c = series.contract(k, Decimal(repr(m["strike"])), int(m["expiry"]) * 10**6)
                listed[c.id] = sym
        structure.check_listed(set(listed))
        quotes: dict[str, Any] = {}
        vols: dict[str, Decimal] = {}
        spot = Decimal(0)
        for leg in structure.legs:
            tk = ex.fetch_ticker(listed[leg.contract.id])
            info = tk.get("info") or {}
            index = Decimal(str(info.get("index_price") or info.get("underlying_price")))
            spot = index

            def usd(x: Any, index: Decimal = index) -> Decimal | None:
                return None if x is None else _cents(Decimal(str(x)) * index)

            quotes[leg.contract.id] = LegQuote(bid=usd(tk.get("bid")), ask=usd(tk.get("ask")))
            vols[leg.contract.id] = Decimal(str(info["mark_iv"])) / 100
    except ccxt.BaseError as exc:
        raise InvalidInput(f"--venue deribit: the exchange did not answer ({exc})") from None
    return _Market(f"deribit devnet {urls['rest']}", spot, quotes, vols)
