"""Strict arguments: ASCII notation, bounded, checked before anything is opened; and the
shared typer options."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main

from oms_chain.model.errors import InvalidInput

_ASCII_DECIMAL = re.compile(r"[0-9]{1,40}(?:\.[0-9]{1,40})?", re.ASCII)


_ASCII_INT = re.compile(r"[0-9]{1,40}", re.ASCII)


_DURATION_RE = re.compile(r"([0-9]{1,12}(?:\.[0-9]{1,9})?)(ms|s|m|h|d)", re.ASCII)


_DURATION_NS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9}


MAX_AMOUNT = Decimal(10) ** 15
"""Largest amount / quantity / price any command takes (whole units)."""


MAX_FRACTION_DIGITS = 18


MIN_DURATION_NS = 10**9


MAX_DURATION_NS = 30 * 86400 * 10**9


MAX_SLICES = 10_000


MAX_TIMEOUT_S = 7 * 86400


MAX_CHAIN_ID = 2**53 - 1


_SYMBOL_RE = re.compile(r"[A-Za-z0-9.]{1,20}", re.ASCII)


_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/#@+=-]{0,199}", re.ASCII)


def _shown(value: str) -> str:
    """``value`` quoted for an error message, cut to a readable length."""
    return repr(value if len(value) <= 60 else value[:57] + "...")


def _decimal_text(value: str, option: str) -> Decimal:
    """A non-negative ASCII decimal (``[0-9]+(.[0-9]+)?``), no sign, exponent or separator."""
    if isinstance(value, str) and value.startswith("-") and _ASCII_DECIMAL.fullmatch(value[1:]):
        raise InvalidInput(f"{option} must not be negative, got {_shown(value)}")
    if not isinstance(value, str) or not _ASCII_DECIMAL.fullmatch(value.strip(" ")):
        raise InvalidInput(
            f"{option} {_shown(str(value))} is not a number in plain ASCII decimal notation "
            f"(digits 0-9 and one '.', e.g. 1.5; no exponent, sign, separator or other digits)"
        )
    text = value.strip(" ")
    d = Decimal(text)  # exact: the constructor never rounds
    if d > MAX_AMOUNT:
        raise InvalidInput(f"{option} must be at most {MAX_AMOUNT:,}, got {_shown(value)}")
    fraction = text.partition(".")[2].rstrip("0")
    if len(fraction) > MAX_FRACTION_DIGITS:
        raise InvalidInput(
            f"{option} has more than {MAX_FRACTION_DIGITS} decimal places: {_shown(value)}"
        )
    return d


def _positive_decimal(value: str, option: str) -> Any:
    """A positive ASCII decimal at most :data:`MAX_AMOUNT` (see :func:`_decimal_text`)."""
    if isinstance(value, str) and value.startswith("-") and _ASCII_DECIMAL.fullmatch(value[1:]):
        raise InvalidInput(f"{option} must be positive, got {_shown(value)}")
    d = _decimal_text(value, option)
    if d <= 0:
        raise InvalidInput(f"{option} must be positive, got {_shown(value)}")
    return d


def _bps(value: str, option: str) -> Decimal:
    """Basis points from 0 to 10,000."""
    d = _decimal_text(value, option)
    if d > 10_000:
        raise InvalidInput(f"{option} must be between 0 and 10000 bps, got {_shown(value)}")
    return d


def _bounded_int(value: str, option: str, low: int, high: int) -> int:
    if not isinstance(value, str) or not _ASCII_INT.fullmatch(value.strip(" ")):
        raise InvalidInput(
            f"{option} {_shown(str(value))} is not a whole number in ASCII digits 0-9 "
            f"(between {low} and {high:,})"
        )
    n = int(value.strip(" "))
    if not low <= n <= high:
        raise InvalidInput(f"{option} must be between {low} and {high:,}, got {_shown(value)}")
    return n


def _duration(value: str, option: str = "--duration") -> str:
    """A horizon like ``90s``, ``30m``, ``2h``, ``1.5d`` or ``500ms``, between 1 s and 30 days;
    returned as the algo parameter (integer nanoseconds, as text)."""
    m = _DURATION_RE.fullmatch(value.strip(" ")) if isinstance(value, str) else None
    if m is None:
        raise InvalidInput(
            f"{option} {_shown(str(value))} is not a duration: ASCII digits and a unit ms, s, "
            f"m, h or d (e.g. 90s, 30m, 2h)"
        )
    ns = int(Decimal(m.group(1)) * _DURATION_NS[m.group(2)])
    if not MIN_DURATION_NS <= ns <= MAX_DURATION_NS:
        raise InvalidInput(f"{option} must be between 1s and 30d, got {_shown(value)}")
    return f"{ns}ns"


def _seconds(value: str, option: str, high: float = MAX_TIMEOUT_S) -> float:
    d = _decimal_text(value, option)
    if d <= 0 or d > Decimal(str(high)):
        raise InvalidInput(f"{option} must be more than 0 and at most {high:g} s, got {value}")
    return float(d)


def _symbol(value: str, option: str) -> str:
    """An asset symbol (ASCII letters, digits, '.'), upper-cased."""
    if not isinstance(value, str) or not _SYMBOL_RE.fullmatch(value.strip(" ")):
        raise InvalidInput(
            f"{option} {_shown(str(value))} is not an asset symbol (ASCII letters and digits, "
            f"e.g. ETH, WETH, USDC)"
        )
    return value.strip(" ").upper()


def _pair(value: str, option: str = "--symbol") -> str:
    """``BASE/QUOTE`` in any case, returned upper-cased."""
    parts = value.split("/") if isinstance(value, str) else []
    if len(parts) != 2:
        raise InvalidInput(f"{option} {_shown(str(value))} is not a pair BASE/QUOTE (ETH/USDC)")
    base, quote = _symbol(parts[0], option), _symbol(parts[1], option)
    if quote in _aliases(base):
        raise InvalidInput(f"{option} {_shown(value)} trades {base} against itself")
    return f"{base}/{quote}"


def _sell_buy(sell: str, buy: str) -> tuple[str, str]:
    """``--sell`` and ``--buy`` as asset symbols (upper-cased), two different assets: ETH and
    WETH (BTC and WBTC) are one asset here, as every command trades them alike."""
    sell, buy = _symbol(sell, "--sell"), _symbol(buy, "--buy")
    if buy in _aliases(sell):
        raise InvalidInput(
            f"--sell and --buy are both {sell}" + ("" if sell == buy else f" ({buy})")
        )
    return sell, buy


def _identifier(value: str, what: str) -> str:
    """An order id, venue id or similar token: ASCII, no spaces, at most 200 characters."""
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise InvalidInput(
            f"{what} {_shown(str(value))} is not a valid id (ASCII letters, digits and "
            f"_ . : / # @ + = -, at most 200 characters)"
        )
    return value


def _text(value: str, option: str, limit: int = 200) -> str:
    """Free text (a reason): printable, one line, at most ``limit`` characters."""
    if len(value) > limit or not value.isprintable() or not value.strip():
        raise InvalidInput(f"{option} must be one printable line of 1-{limit} characters")
    return value.strip()


def _parser(check: Any, *args: Any) -> Any:
    """A typer ``parser=`` that runs ``check(value, *args)``; a bad value is a usage error."""

    def parse(value: str) -> Any:
        if not isinstance(value, str):  # a default, already typed
            return value
        try:
            return check(value, *args)
        except InvalidInput as exc:
            message = str(exc).removeprefix(f"{args[0]} ")  # click names the option itself
            raise typer.BadParameter(message) from None

    return parse


_chain_id_parser = _parser(_bounded_int, "--chain", 1, MAX_CHAIN_ID)


StoreOption = Annotated[
    str,
    typer.Option(
        "--store",
        metavar="URL",
        envvar="OMS_STORE_URL",
        help="Event store URL: sqlite:///path.db or postgresql://… (env OMS_STORE_URL).",
    ),
]


JsonOption = Annotated[bool, typer.Option("--json", help="Print as JSON.")]


ChainOption = Annotated[
    int | None,
    typer.Option(
        "--chain", help="Chain id (default: the RPC's).", metavar="ID", parser=_chain_id_parser
    ),
]


RpcUrlOption = Annotated[
    str | None,
    typer.Option("--rpc-url", metavar="URL", help="Chain RPC URL (default: the devnet L1)."),
]


SellOption = Annotated[
    str, typer.Option("--sell", metavar="SYMBOL", help="Token to sell (symbol, e.g. WETH).")
]


BuyOption = Annotated[
    str, typer.Option("--buy", metavar="SYMBOL", help="Token to buy (symbol, e.g. USDC).")
]


def _on_off(value: str) -> str:
    """``--agents`` accepts ``on``, ``off`` or ``still`` (any case)."""
    if value.lower() not in ("on", "off", "still"):
        raise typer.BadParameter(f"expected on, off or still, got {value!r}")
    return value.lower()


_TX_HASH_RE = re.compile(r"0x[0-9a-fA-F]{64}", re.ASCII)


def _tx_hash(value: str) -> str:
    """A transaction hash: 0x and 64 hex digits."""
    if not _TX_HASH_RE.fullmatch(value.strip(" ")):
        raise InvalidInput(f"TX_HASH {_shown(value)} is not 0x followed by 64 hex digits")
    return value.strip(" ").lower()


def _exchange_id(value: str) -> str:
    """A ccxt exchange id (``binance``, ``kraken``...)."""
    import ccxt

    if value not in ccxt.exchanges:
        raise InvalidInput(f"--exchange {_shown(value)} is not a ccxt exchange id (e.g. binance)")
    return value


KeyEnvOption = Annotated[
    str | None,
    typer.Option(
        "--key-env",
        metavar="VAR",
        help="Environment variable holding the signing key (hex). Default on the devnet: its "
        "first funded key.",
    ),
]


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="OMS TOML config (chains, exchange, account) instead of the devnet.",
    ),
]


DryRunOption = Annotated[
    bool,
    typer.Option("--dry-run", help="Print the plan and stop: nothing is sent, nothing is written."),
]


YesOption = Annotated[
    bool,
    typer.Option(
        "--yes",
        "-y",
        help="Do not ask for confirmation on a live target (non-devnet chain or "
        "non-sandbox exchange).",
    ),
]


TradeStoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        metavar="URL",
        envvar="OMS_STORE_URL",
        help="Event store URL (env OMS_STORE_URL). Default: the config's, or one store per "
        "running devnet next to its runtime file.",
    ),
]


_WRAPPED = {"ETH": "WETH", "BTC": "WBTC"}


_DEVNET_CHAIN_IDS = frozenset({31337, 31338})


def _aliases(symbol: str) -> list[str]:
    """``symbol`` and its wrapped / native counterpart (ETH and WETH, BTC and WBTC)."""
    out = [symbol]
    for native, wrapped in _WRAPPED.items():
        if symbol == native:
            out.append(wrapped)
        elif symbol == wrapped:
            out.append(native)
    return out


def _venue_ids(venues: list[str] | None) -> list[str]:
    """``--venue`` values checked (ASCII ids), stripped, without repeats, order kept."""
    out: list[str] = []
    for v in venues or []:
        vid = _identifier(v.strip(" "), "--venue")
        if vid.lower() not in (o.lower() for o in out):
            out.append(vid)
    return out


def _unwrapped(symbol: str) -> str:
    """The exchange's name of an asset (WETH -> ETH, WBTC -> BTC)."""
    for native, wrapped in _WRAPPED.items():
        if symbol == wrapped:
            return native
    return symbol


RefreshPoolsOption = Annotated[
    bool,
    typer.Option(
        "--refresh-pools",
        help="Ask the Uniswap factories again for the pools of a chain whose address book "
        "lists none, instead of the per-chain pool cache.",
    ),
]


def _exact(value: Any) -> Any:
    """A decimal context wide enough that scaling ``value`` (a Decimal or an int) by a power of
    ten is exact: the default 28 digits would round a 31-digit amount silently."""
    from decimal import Context, Decimal

    digits = len(Decimal(value).as_tuple().digits)
    return Context(prec=digits + 100, Emax=999_999, Emin=-999_999)


def _exact_base_units(human: Any, decimals: int, option: str, given: str) -> int:
    """``human`` whole tokens in base units, exactly; :class:`InvalidInput` when ``given`` has
    more decimals than the token."""
    if human.adjusted() + decimals > 77:  # uint256 holds 77 digits
        raise InvalidInput(f"{option} {given} is too large for a token amount")
    if human.adjusted() < -decimals:
        raise InvalidInput(f"{option} {given} has more than {decimals} decimals")
    units = human.scaleb(decimals, context=_exact(human))
    if units != units.to_integral_value():
        raise InvalidInput(f"{option} {given} has more than {decimals} decimals")
    return int(units)


ReasonOption = Annotated[
    str, typer.Option("--reason", help="Why (recorded with the event).", metavar="TEXT")
]
