"""The treasury policy file: what a DAO's governance decided, as one validated TOML file.

Sections (every key is checked; an unknown key, a missing one or a bad value raises
:class:`~oms_chain.model.errors.ConfigError` naming it, e.g. ``limits.premium_budget_usd``)::

    name = "Example DAO treasury"

    [safe]                       # the treasury
    chain_id = 31337
    address = "0x…"              # the Safe v1.4.1
    options_executor = "0x…"     # a BatchExecutor owned by the Safe (option fills run in it)
    options_market = "0x…"       # our OptionsMarket
    makers = ["http://127.0.0.1:8123"]   # RFQ makers of the market
    swap_router = "0x…"          # Uniswap v3 SwapRouter and QuoterV2, for spot sales
    quoter = "0x…"
    pool_fee = 500
    route = true                 # split spot sales across the address book's pools (default false)
    multisend = "0x…"            # MultiSendCallOnly (default: the chain's address book)
    confirmations = 1            # blocks on top of an execution before it counts as final

    [[assets]]                   # what counts; "native" is the chain's coin
    symbol = "ETH"
    native = true
    underlying = "ETH"
    [[assets]]
    symbol = "WETH"
    address = "0x…"
    decimals = 18
    underlying = "ETH"
    [[assets]]
    symbol = "USDC"
    address = "0x…"
    decimals = 6
    stable = true                # valued at one USD, no market risk

    [prices]                     # price source per underlying
    ETH = "feed:0x…"             # a Chainlink AggregatorV3 feed (8 or more decimals)
    # ETH = "fixed:3000"         # a constant (tests, what-if runs)

    [exposure]
    underlying = "ETH"
    target_share = 0.40          # ETH delta / treasury value
    band = 0.05                  # keep |share - target| <= band

    [instruments]
    allowed = ["twap_sale", "puts", "collar", "put_spread"]
    put_moneyness = [0.80, 1.00] # strike / spot of puts bought
    call_moneyness = [1.00, 1.30]# strike / spot of calls sold (collars)
    min_days = 1                 # expiries considered
    max_days = 35
    vol = 0.65                   # implied vol the risk engine values options with

    [limits]
    premium_budget_usd = 20000   # net option premium per period
    budget_period_days = 7
    max_slippage_bps = 100       # spot sales, against the index
    max_notional_usd = 1000000   # per proposal

    [[approvals]]                # signatures needed by size (the Safe's threshold is a floor)
    above_usd = 0
    signatures = 2
    [[approvals]]
    above_usd = 250000
    signatures = 3

    [schedule]
    twap_slices = 4
    slice_interval_s = 900

    [notify]
    webhook_url = "http://…"     # optional: POSTed a JSON summary of every proposal set
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import is_address, to_checksum_address

from oms_chain.model.errors import ConfigError

__all__ = [
    "INSTRUMENTS",
    "ApprovalRule",
    "AssetSpec",
    "ExposureSpec",
    "InstrumentSpec",
    "LimitSpec",
    "SafeSpec",
    "ScheduleSpec",
    "TreasuryPolicy",
    "load_policy",
]

#: The hedge instruments a policy may allow.
INSTRUMENTS = ("twap_sale", "puts", "collar", "put_spread")

_TOP = {"name", "safe", "assets", "prices", "exposure", "instruments", "limits", "approvals"}
_TOP_OPTIONAL = {"schedule", "notify"}
_SAFE = {
    "chain_id", "address", "options_executor", "options_market", "makers", "swap_router",
    "quoter", "pool_fee", "multisend", "confirmations", "route",
}  # fmt: skip
_SAFE_REQUIRED = {"chain_id", "address"}
_ASSET = {"symbol", "native", "address", "decimals", "underlying", "stable"}
_EXPOSURE = {"underlying", "target_share", "band"}
_INSTR = {"allowed", "put_moneyness", "call_moneyness", "min_days", "max_days", "vol"}
_LIMITS = {"premium_budget_usd", "budget_period_days", "max_slippage_bps", "max_notional_usd"}
_APPROVAL = {"above_usd", "signatures"}
_SCHEDULE = {"twap_slices", "slice_interval_s"}
_NOTIFY = {"webhook_url"}


def _keys(table: object, where: str, allowed: set[str], required: set[str]) -> Mapping[str, Any]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"policy key '{where}' must be a table")
    extra = sorted(set(table) - allowed)
    if extra:
        names = ", ".join(f"'{where}.{k}'" if where else f"'{k}'" for k in extra)
        raise ConfigError(f"policy key(s) {names} unknown (allowed: {', '.join(sorted(allowed))})")
    missing = sorted(required - set(table))
    if missing:
        names = ", ".join(f"'{where}.{k}'" if where else f"'{k}'" for k in missing)
        raise ConfigError(f"policy key(s) {names} missing")
    return table


def _address(value: object, key: str) -> ChecksumAddress:
    if not isinstance(value, str) or not is_address(value):
        raise ConfigError(f"policy key '{key}' must be a 0x address (40 hex digits), got {value!r}")
    return ChecksumAddress(to_checksum_address(value))


def _opt_address(table: Mapping[str, Any], name: str, where: str) -> ChecksumAddress | None:
    return None if name not in table else _address(table[name], f"{where}.{name}")


def _int(value: object, key: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"policy key '{key}' must be an integer in [{low}, {high}], got {value!r}"
        )
    return value


def _dec(value: object, key: str, low: Decimal, high: Decimal) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"policy key '{key}' must be a number, got {value!r}")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"policy key '{key}' must be a number, got {value!r}") from None
    if not d.is_finite() or not low <= d <= high:
        raise ConfigError(f"policy key '{key}' must be between {low} and {high}, got {value!r}")
    return d


def _range(value: object, key: str) -> tuple[Decimal, Decimal]:
    if not isinstance(value, list) or len(value) != 2:
        raise ConfigError(f"policy key '{key}' must be [low, high], got {value!r}")
    low = _dec(value[0], f"{key}[0]", Decimal("0.01"), Decimal(10))
    high = _dec(value[1], f"{key}[1]", Decimal("0.01"), Decimal(10))
    if low > high:
        raise ConfigError(f"policy key '{key}' must have low <= high, got {value!r}")
    return low, high


def _symbol(value: object, key: str) -> str:
    if not isinstance(value, str) or not value.isalnum() or not 1 <= len(value) <= 12:
        raise ConfigError(
            f"policy key '{key}' must be a symbol (1-12 letters/digits), got {value!r}"
        )
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class SafeSpec:
    """The treasury Safe and the contracts a hedge uses on its chain."""

    chain_id: int
    address: ChecksumAddress
    options_executor: ChecksumAddress | None = None
    options_market: ChecksumAddress | None = None
    makers: tuple[str, ...] = ()
    swap_router: ChecksumAddress | None = None
    quoter: ChecksumAddress | None = None
    pool_fee: int = 500
    multisend: ChecksumAddress | None = None
    confirmations: int = 1
    route: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetSpec:
    """One asset counted in the treasury: the native coin or an ERC-20, its risk underlying
    (``None`` for stables, valued at one USD)."""

    symbol: str
    native: bool
    address: ChecksumAddress | None
    decimals: int
    underlying: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExposureSpec:
    """Target delta of ``underlying`` as a share of the treasury's value, and the band."""

    underlying: str
    target_share: Decimal
    band: Decimal

    def low(self) -> Decimal:
        """The band's lower edge."""
        return self.target_share - self.band

    def high(self) -> Decimal:
        """The band's upper edge."""
        return self.target_share + self.band


@dataclass(frozen=True, slots=True, kw_only=True)
class InstrumentSpec:
    """Which hedges are allowed and the option strikes / expiries considered."""

    allowed: tuple[str, ...]
    put_moneyness: tuple[Decimal, Decimal]
    call_moneyness: tuple[Decimal, Decimal]
    min_days: int
    max_days: int
    vol: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitSpec:
    """Spending and size limits (USD)."""

    premium_budget_usd: Decimal
    budget_period_days: int
    max_slippage_bps: int
    max_notional_usd: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalRule:
    """Proposals worth more than ``above_usd`` need ``signatures`` owner signatures."""

    above_usd: Decimal
    signatures: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleSpec:
    """How a spot sale is split: ``twap_slices`` proposals ``slice_interval_s`` apart."""

    twap_slices: int = 4
    slice_interval_s: int = 900


@dataclass(frozen=True, slots=True, kw_only=True)
class TreasuryPolicy:
    """A whole policy file; build with :func:`load_policy` or :meth:`from_toml`."""

    name: str
    safe: SafeSpec
    assets: tuple[AssetSpec, ...]
    prices: Mapping[str, str]
    exposure: ExposureSpec
    instruments: InstrumentSpec
    limits: LimitSpec
    approvals: tuple[ApprovalRule, ...]
    schedule: ScheduleSpec
    webhook_url: str | None = None

    def signatures_needed(self, notional_usd: Decimal) -> tuple[int, str]:
        """Owner signatures a proposal of ``notional_usd`` needs, and the rule that says so."""
        best = (0, "approvals")
        for i, rule in enumerate(self.approvals):
            if notional_usd > rule.above_usd and rule.signatures >= best[0]:
                best = (rule.signatures, f"approvals[{i}] (above {rule.above_usd:,} USD)")
        return best

    def asset(self, symbol: str) -> AssetSpec:
        """The asset named ``symbol``; :class:`ConfigError` when the policy has none."""
        for a in self.assets:
            if a.symbol == symbol:
                return a
        raise ConfigError(
            f"policy 'assets' has no {symbol!r} (have {[a.symbol for a in self.assets]})"
        )

    @classmethod
    def from_toml(cls, text: str) -> TreasuryPolicy:
        """Parse and validate policy TOML. Raises :class:`ConfigError` naming the key."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"policy file is not valid TOML: {exc}") from None
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> TreasuryPolicy:
        """Validate an already parsed policy. Raises :class:`ConfigError` naming the key."""
        top = _keys(data, "", _TOP | _TOP_OPTIONAL, _TOP)
        name = top["name"]
        if not isinstance(name, str) or not 1 <= len(name) <= 200:
            raise ConfigError("policy key 'name' must be a string of 1-200 characters")
        safe = _safe(top["safe"])
        assets = _assets(top["assets"], safe.chain_id)
        underlyings = {a.underlying for a in assets if a.underlying is not None}
        prices = _prices(top["prices"], underlyings)
        exposure = _exposure(top["exposure"], underlyings)
        instruments = _instruments(top["instruments"])
        for needs, key in (("options_market", "puts"), ("options_executor", "puts")):
            if any(i != "twap_sale" for i in instruments.allowed) and getattr(safe, needs) is None:
                raise ConfigError(
                    f"policy key 'safe.{needs}' missing: option hedges ({key}, collars, put "
                    "spreads) are allowed in 'instruments.allowed'"
                )
        if any(i != "twap_sale" for i in instruments.allowed) and not safe.makers:
            raise ConfigError("policy key 'safe.makers' missing: option hedges need RFQ makers")
        if "twap_sale" in instruments.allowed and (safe.swap_router is None or safe.quoter is None):
            raise ConfigError(
                "policy key 'safe.swap_router' / 'safe.quoter' missing: 'twap_sale' is allowed"
            )
        limits = _limits(top["limits"])
        approvals = _approvals(top["approvals"])
        sched = top.get("schedule", {})
        _keys(sched, "schedule", _SCHEDULE, set())
        schedule = ScheduleSpec(
            twap_slices=_int(sched.get("twap_slices", 4), "schedule.twap_slices", 1, 100),
            slice_interval_s=_int(
                sched.get("slice_interval_s", 900), "schedule.slice_interval_s", 0, 7 * 86400
            ),
        )
        notify = top.get("notify", {})
        _keys(notify, "notify", _NOTIFY, set())
        url = notify.get("webhook_url")
        if url is not None and (
            not isinstance(url, str) or not url.startswith(("http://", "https://"))
        ):
            raise ConfigError(
                f"policy key 'notify.webhook_url' must be an http(s) URL, got {url!r}"
            )
        return cls(
            name=name,
            safe=safe,
            assets=assets,
            prices=prices,
            exposure=exposure,
            instruments=instruments,
            limits=limits,
            approvals=approvals,
            schedule=schedule,
            webhook_url=url,
        )


def _safe(table: object) -> SafeSpec:
    t = _keys(table, "safe", _SAFE, _SAFE_REQUIRED)
    makers = t.get("makers", [])
    if not isinstance(makers, list) or not all(
        isinstance(m, str) and m.startswith(("http://", "https://")) for m in makers
    ):
        raise ConfigError(f"policy key 'safe.makers' must list http(s) URLs, got {makers!r}")
    return SafeSpec(
        chain_id=_int(t["chain_id"], "safe.chain_id", 1, 2**63),
        address=_address(t["address"], "safe.address"),
        options_executor=_opt_address(t, "options_executor", "safe"),
        options_market=_opt_address(t, "options_market", "safe"),
        makers=tuple(makers),
        swap_router=_opt_address(t, "swap_router", "safe"),
        quoter=_opt_address(t, "quoter", "safe"),
        pool_fee=_int(t.get("pool_fee", 500), "safe.pool_fee", 1, 1_000_000),
        multisend=_opt_address(t, "multisend", "safe"),
        confirmations=_int(t.get("confirmations", 1), "safe.confirmations", 1, 1000),
        route=_flag(t.get("route", False), "safe.route"),
    )


def _flag(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"policy key '{key}' must be true or false, got {value!r}")
    return value


def _assets(value: object, chain_id: int) -> tuple[AssetSpec, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError("policy key 'assets' must be a non-empty array of tables ([[assets]])")
    out: list[AssetSpec] = []
    for i, raw in enumerate(value):
        where = f"assets[{i}]"
        t = _keys(raw, where, _ASSET, {"symbol"})
        symbol = _symbol(t["symbol"], f"{where}.symbol")
        native = t.get("native", False)
        if not isinstance(native, bool):
            raise ConfigError(f"policy key '{where}.native' must be true or false")
        stable = t.get("stable", False)
        if not isinstance(stable, bool):
            raise ConfigError(f"policy key '{where}.stable' must be true or false")
        if native == ("address" in t):
            raise ConfigError(
                f"policy key '{where}.address' {'given' if native else 'missing'}: an asset is "
                "either native = true or an ERC-20 with an address"
            )
        underlying = t.get("underlying")
        if stable == (underlying is not None):
            raise ConfigError(
                f"policy key '{where}.underlying' {'given' if stable else 'missing'}: a stable "
                "asset has no underlying, any other one needs it"
            )
        out.append(
            AssetSpec(
                symbol=symbol,
                native=native,
                address=None if native else _address(t["address"], f"{where}.address"),
                decimals=_int(t.get("decimals", 18), f"{where}.decimals", 0, 36),
                underlying=None
                if underlying is None
                else _symbol(underlying, f"{where}.underlying"),
            )
        )
    symbols = [a.symbol for a in out]
    if len(set(symbols)) != len(symbols):
        raise ConfigError(f"policy key 'assets' lists a symbol twice: {symbols}")
    return tuple(out)


def _prices(value: object, underlyings: set[str]) -> Mapping[str, str]:
    t = _keys(value, "prices", underlyings, underlyings)
    out: dict[str, str] = {}
    for sym, source in t.items():
        kind, _, arg = str(source).partition(":")
        if kind == "feed":
            _address(arg, f"prices.{sym}")
        elif kind == "fixed":
            _dec(arg, f"prices.{sym}", Decimal("1e-18"), Decimal("1e15"))
        else:
            raise ConfigError(
                f"policy key 'prices.{sym}' must be 'feed:0xADDRESS' or 'fixed:PRICE', "
                f"got {source!r}"
            )
        out[sym] = str(source)
    return out


def _exposure(value: object, underlyings: set[str]) -> ExposureSpec:
    t = _keys(value, "exposure", _EXPOSURE, _EXPOSURE)
    if t["underlying"] not in underlyings:
        raise ConfigError(
            f"policy key 'exposure.underlying' {t['underlying']!r} is not the underlying of any "
            f"asset (have {sorted(underlyings)})"
        )
    return ExposureSpec(
        underlying=str(t["underlying"]),
        target_share=_dec(t["target_share"], "exposure.target_share", Decimal(0), Decimal(1)),
        band=_dec(t["band"], "exposure.band", Decimal("0.001"), Decimal(1)),
    )


def _instruments(value: object) -> InstrumentSpec:
    t = _keys(value, "instruments", _INSTR, {"allowed"})
    allowed = t["allowed"]
    if not isinstance(allowed, list) or not allowed:
        raise ConfigError("policy key 'instruments.allowed' must be a non-empty list")
    for i, name in enumerate(allowed):
        if name not in INSTRUMENTS:
            raise ConfigError(
                f"policy key 'instruments.allowed[{i}]' {name!r} is not one of {list(INSTRUMENTS)}"
            )
    min_days = _int(t.get("min_days", 1), "instruments.min_days", 0, 3650)
    max_days = _int(t.get("max_days", 35), "instruments.max_days", 1, 3650)
    if min_days > max_days:
        raise ConfigError(
            "policy key 'instruments.min_days' must not exceed 'instruments.max_days'"
        )
    return InstrumentSpec(
        allowed=tuple(dict.fromkeys(allowed)),
        put_moneyness=_range(t.get("put_moneyness", [0.8, 1.0]), "instruments.put_moneyness"),
        call_moneyness=_range(t.get("call_moneyness", [1.0, 1.3]), "instruments.call_moneyness"),
        min_days=min_days,
        max_days=max_days,
        vol=_dec(t.get("vol", 0.65), "instruments.vol", Decimal("0.01"), Decimal(5)),
    )


def _limits(value: object) -> LimitSpec:
    t = _keys(value, "limits", _LIMITS, _LIMITS)
    return LimitSpec(
        premium_budget_usd=_dec(
            t["premium_budget_usd"], "limits.premium_budget_usd", Decimal(0), Decimal("1e15")
        ),
        budget_period_days=_int(t["budget_period_days"], "limits.budget_period_days", 1, 3650),
        max_slippage_bps=_int(t["max_slippage_bps"], "limits.max_slippage_bps", 0, 10_000),
        max_notional_usd=_dec(
            t["max_notional_usd"], "limits.max_notional_usd", Decimal(0), Decimal("1e15")
        ),
    )


def _approvals(value: object) -> tuple[ApprovalRule, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError("policy key 'approvals' must be a non-empty array of tables")
    out = []
    for i, raw in enumerate(value):
        where = f"approvals[{i}]"
        t = _keys(raw, where, _APPROVAL, _APPROVAL)
        out.append(
            ApprovalRule(
                above_usd=_dec(t["above_usd"], f"{where}.above_usd", Decimal(0), Decimal("1e15")),
                signatures=_int(t["signatures"], f"{where}.signatures", 1, 100),
            )
        )
    return tuple(out)


def load_policy(path: str | Path) -> TreasuryPolicy:
    """Read and validate a policy file. Raises :class:`ConfigError` naming the file or key."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"policy file {p} cannot be read: {exc.__class__.__name__}") from None
    return TreasuryPolicy.from_toml(text)
