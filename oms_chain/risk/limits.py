"""Pre-trade risk gate: hard limits every intent must pass before anything is sent.

Checks (each yields a :class:`CheckResult` with a human-readable reason): trading state (kill
switch), venue and chain allow-lists, deadline, slippage bound, price collar against a reference
price, per-order notional, per-asset position, daily loss, open-order count and a submit rate
limit (token bucket on the injected clock). Cancels always pass, even when halted.

The gate is synchronous and allocation-light: the target is p99 < 200 µs per intent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any, Protocol

from oms_chain.compliance.screening import AddressScreen, ScreeningMatch
from oms_chain.model.checks import (
    check_decimal,
    check_instance,
    check_int,
    check_str,
    shown,
)
from oms_chain.model.clock import Clock
from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import AccountId, InstrumentId
from oms_chain.model.intent import Intent
from oms_chain.model.trading_state import TradingState
from oms_chain.risk._checked_view import CheckedView
from oms_chain.risk.rate_limit import MAX_BURST as _MAX_BURST
from oms_chain.risk.rate_limit import TokenBucket

__all__ = [
    "CheckResult",
    "RiskDecision",
    "RiskGate",
    "RiskLimits",
    "RiskView",
    "TokenBucket",
    "TradingState",
]

_BPS = Decimal(10_000)
_ZERO = Decimal(0)
_CODE = re.compile(r"[A-Za-z0-9.\-_+]{1,32}")
_CODE_RULE = "1-32 characters from A-Z a-z 0-9 . - _ +"
_MAX_CHAIN = (1 << 63) - 1
#: Decimal limits and their upper bounds (``None``: any finite positive value).
_DECIMAL_LIMITS: tuple[tuple[str, Decimal | None], ...] = (
    ("max_order_notional", None),
    ("max_daily_loss", None),
    ("max_slippage_bps", _BPS),
    ("price_collar_bps", None),
    ("max_submits_per_second", Decimal(10**9)),  # one per nanosecond: the clock's resolution
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskLimits:
    """Hard limits. ``None`` disables a limit. Money limits are in ``currency`` (the quote of the
    instruments they apply to); ``max_position`` maps a base asset symbol to the largest absolute
    net position (summed over venues) an account may hold.

    Every limit is checked when built: money limits and ``price_collar_bps`` are positive finite
    Decimals (an int converts exactly), ``max_slippage_bps`` at most 10,000,
    ``max_submits_per_second`` at most 1e9, ``max_open_orders`` and ``submit_burst`` positive
    ints, the allow-lists sets (of venue names, of positive chain ids).

    Raises:
        InvalidInput: a limit has the wrong type, is NaN or infinite, or is out of range; the
            message names it.
    """

    currency: str = "USDC"
    max_order_notional: Decimal | None = None
    max_position: Mapping[str, Decimal] = field(default_factory=dict)
    max_daily_loss: Decimal | None = None
    max_open_orders: int | None = None
    allowed_venues: frozenset[str] | None = None
    allowed_chains: frozenset[int] | None = None
    max_slippage_bps: Decimal | None = None
    price_collar_bps: Decimal | None = None
    max_submits_per_second: Decimal | None = None
    submit_burst: int = 10

    def __post_init__(self) -> None:
        # Each limit is checked (and an int converted to Decimal) once, here, never per intent.
        set_ = object.__setattr__
        check_str(self.currency, "risk limit 'currency'", pattern=_CODE, rule=_CODE_RULE)
        for name, upper in _DECIMAL_LIMITS:
            value = getattr(self, name)
            if value is None:
                continue
            d = check_decimal(value, f"risk limit {name!r}")
            if d <= 0 or (upper is not None and d > upper):
                most = "" if upper is None else f" of at most {_fmt(upper)}"
                raise InvalidInput(f"risk limit {name!r} must be a positive Decimal{most}, got {d}")
            set_(self, name, d)
        if not isinstance(self.max_position, Mapping):
            raise InvalidInput(
                "risk limit 'max_position' must map a base asset symbol to a Decimal, "
                f"got {shown(self.max_position)}"
            )
        caps: dict[str, Decimal] = {}
        for sym, v in self.max_position.items():
            check_str(sym, "risk limit 'max_position' key", pattern=_CODE, rule=_CODE_RULE)
            caps[sym] = cap = check_decimal(v, f"risk limit 'max_position.{sym}'")
            if cap <= 0:
                raise InvalidInput(f"risk limit 'max_position.{sym}' must be positive, got {cap}")
        set_(self, "max_position", caps)
        if self.max_open_orders is not None:
            check_int(self.max_open_orders, "risk limit 'max_open_orders'", minimum=1)
        check_int(self.submit_burst, "risk limit 'submit_burst'", minimum=1, maximum=_MAX_BURST)
        if self.allowed_venues is not None:
            venues = _set_of(self.allowed_venues, "allowed_venues", "venue names")
            for v in venues:
                check_str(v, "risk limit 'allowed_venues' item")
            set_(self, "allowed_venues", venues)
        if self.allowed_chains is not None:
            chains = _set_of(self.allowed_chains, "allowed_chains", "chain ids")
            for c in chains:
                check_int(c, "risk limit 'allowed_chains' item", minimum=1, maximum=_MAX_CHAIN)
            set_(self, "allowed_chains", chains)


def _set_of(value: object, name: str, what: str) -> frozenset[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Set | list | tuple):
        raise InvalidInput(
            f"risk limit {name!r} must be a set of {what}, got {shown(value)}; "
            f"write frozenset({{...}}) or a list"
        )
    return frozenset(value)


class RiskView(Protocol):
    """What the gate needs to know about current state (provided by the engine)."""

    def reference_price(self, instrument_id: InstrumentId) -> Decimal | None:
        """Latest trusted price (quote per base), or ``None`` if unknown."""
        ...

    def net_position(self, account: AccountId, instrument_id: InstrumentId) -> Decimal:
        """Signed position of ``account`` in ``instrument_id`` summed over venues."""
        ...

    def asset_exposure(self, account: AccountId, symbol: str) -> Decimal:
        """Signed net quantity of base asset ``symbol`` held by ``account`` across instruments."""
        ...

    def open_order_count(self) -> int:
        """Orders sent or about to be sent and not yet terminal."""
        ...

    def daily_realized_pnl(self, currency: str) -> Decimal:
        """Realized PnL today (UTC) in ``currency``."""
        ...


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Outcome of one check: ``name``, ``passed`` and a sentence a human can act on.

    Built by the gate on every check, so not re-validated (the gate stays allocation-light).
    """

    name: str
    passed: bool
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {'ok' if self.passed else 'FAILED'} - {self.reason}"


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """The gate's answer for one intent.

    ``quantity`` is the base quantity to trade (derived from the notional if the intent gave
    one), ``notional`` the estimated worst-case notional in quote, ``reason`` the first failed
    check's reason (empty when accepted).
    """

    accepted: bool
    checks: tuple[CheckResult, ...]
    quantity: Decimal | None
    notional: Decimal | None
    #: block-list matches found by compliance screening (for the audit trail)
    screening: tuple[ScreeningMatch, ...] = ()

    @property
    def reason(self) -> str:
        for c in self.checks:
            if not c.passed:
                return c.reason
        return ""


def _fmt(d: Decimal) -> str:
    """``Decimal('50000.00')`` → ``'50,000'``; keeps significant fractional digits."""
    n = d.normalize()
    if n == n.to_integral_value():
        return f"{n.quantize(Decimal(1)):,f}"
    return f"{n:,f}"


class RiskGate:
    """Evaluates intents against :class:`RiskLimits` and the current :class:`TradingState`.

    ``clock`` (integer nanoseconds) drives the rate limit and the deadline check.

    Raises:
        InvalidInput: ``limits`` is not :class:`RiskLimits`, ``clock`` has no ``now_ns()``,
            or ``state`` is not a :class:`TradingState`.
    """

    __slots__ = ("_bucket", "_clock", "_limits", "_screen", "_state", "_state_reason")

    def __init__(
        self,
        limits: RiskLimits,
        *,
        clock: Clock,
        state: TradingState = TradingState.ACTIVE,
        screen: AddressScreen | None = None,
    ) -> None:
        check_instance(limits, "limits", RiskLimits, "a RiskLimits")
        if screen is not None:
            check_instance(screen, "screen", AddressScreen, "an AddressScreen")
        self._screen = screen
        if isinstance(clock, type) or not isinstance(clock, Clock):
            raise InvalidInput(f"clock must have now_ns() (a Clock), got {shown(clock)}")
        check_instance(state, "state", TradingState, "a TradingState")
        self._limits = limits
        self._clock = clock
        self._state = state
        self._state_reason = "initial state"
        self._bucket = (
            None
            if limits.max_submits_per_second is None
            else TokenBucket(limits.max_submits_per_second, limits.submit_burst, clock.now_ns())
        )

    @property
    def limits(self) -> RiskLimits:
        return self._limits

    @property
    def trading_state(self) -> TradingState:
        return self._state

    def set_trading_state(self, state: TradingState, reason: str) -> None:
        """Switch the kill switch; takes effect for the very next check.

        Raises:
            InvalidInput: ``state`` is not a :class:`TradingState` or ``reason`` not a str.
        """
        check_instance(state, "state", TradingState, "a TradingState")
        check_instance(reason, "reason", str, "a str")
        self._state = state
        self._state_reason = reason

    def check_cancel(self) -> CheckResult:
        """Cancels pass in every trading state."""
        return CheckResult("trading_state", True, f"cancels allowed while {self._state.value}")

    def check(
        self,
        intent: Intent,
        view: RiskView,
        *,
        destinations: Mapping[str, Iterable[str]] | None = None,
    ) -> RiskDecision:
        """Run every check for ``intent``. Consumes a rate-limit token only when accepted.

        With a compliance ``screen``, the account (when it is an address), the instrument's token
        addresses and ``destinations`` (role -> addresses: recipients, routers, counterparties)
        are screened against its block lists; a match rejects with the list entry named.

        Raises:
            InvalidInput: ``intent`` is not an :class:`Intent`, or ``view`` lacks a method or
                answers with a value the gate cannot compute with (NaN, a float, a price <= 0).
        """
        check_instance(intent, "intent", Intent, "an Intent")
        if destinations is not None and (
            not isinstance(destinations, Mapping)
            or not all(
                isinstance(k, str) and not isinstance(v, str | bytes)
                for k, v in destinations.items()
            )
        ):
            raise InvalidInput(
                "destinations must map a role name to a list of addresses, got "
                f"{shown(destinations)}"
            )
        view = CheckedView(view)  # its answers are checked before any limit uses them
        lim = self._limits
        now = self._clock.now_ns()
        checks: list[CheckResult] = []
        add = checks.append
        inst = intent.instrument
        ccy = inst.quote.symbol

        # Position context (also needed for reduce-only).
        position = view.net_position(intent.account, inst.id)
        ref = view.reference_price(inst.id)

        # Price used for notional: the worst price the intent allows.
        price: Decimal | None = intent.limit_price
        if price is None and ref is not None:
            slip = intent.max_slippage_bps or _ZERO
            factor = (_BPS + slip) / _BPS if intent.side.sign > 0 else (_BPS - slip) / _BPS
            price = ref * factor
        quantity = intent.quantity
        if quantity is None and intent.notional is not None and price is not None:
            step = Decimal(1).scaleb(-inst.size_decimals)
            quantity = (intent.notional / price).quantize(step, rounding=ROUND_DOWN)
        notional: Decimal | None
        if intent.notional is not None:
            notional = intent.notional
        elif quantity is not None and price is not None:
            notional = quantity * price
        else:
            notional = None
        reduces = (
            quantity is not None
            and position != 0
            and (position > 0) != (intent.side.sign > 0)
            and quantity <= abs(position)
        )

        # 1. trading state
        st = self._state
        if st is TradingState.HALTED:
            add(
                CheckResult(
                    "trading_state",
                    False,
                    f"trading is halted ({self._state_reason}); only cancels pass",
                )
            )
        elif st is TradingState.REDUCING and not reduces:
            add(
                CheckResult(
                    "trading_state",
                    False,
                    f"trading is reduce-only ({self._state_reason}); this {intent.side.value}"
                    f" of {intent.quantity or intent.notional} would not reduce the "
                    f"position of {_fmt(position)} {inst.base.symbol}",
                )
            )
        elif intent.reduce_only and not reduces:
            add(
                CheckResult(
                    "reduce_only",
                    False,
                    f"intent is reduce-only but the position is {_fmt(position)} "
                    f"{inst.base.symbol}",
                )
            )
        else:
            add(CheckResult("trading_state", True, f"trading is {st.value}"))

        # 2. venues
        if lim.allowed_venues is not None:
            bad = [v for v in intent.venues if v not in lim.allowed_venues]
            if bad:
                add(
                    CheckResult(
                        "allowed_venues",
                        False,
                        f"venue(s) {', '.join(bad)} not in allow-list "
                        f"({', '.join(sorted(lim.allowed_venues))})",
                    )
                )
            else:
                add(CheckResult("allowed_venues", True, "all venues allowed"))

        # 3. chains
        if lim.allowed_chains is not None:
            bad_chains = sorted(inst.chain_ids - lim.allowed_chains)
            if bad_chains:
                add(
                    CheckResult(
                        "allowed_chains",
                        False,
                        f"chain(s) {', '.join(map(str, bad_chains))} not in allow-list "
                        f"({', '.join(map(str, sorted(lim.allowed_chains)))})",
                    )
                )
            else:
                add(CheckResult("allowed_chains", True, "all chains allowed"))

        # 3b. compliance screening
        matches: tuple[ScreeningMatch, ...] = ()
        if self._screen is not None:
            roles: dict[str, list[str]] = {
                "account": [intent.account],
                "token": [a.address for a in (inst.base, inst.quote) if a.address],
            }
            for role, group in (destinations or {}).items():
                roles.setdefault(role, []).extend(group)
            matches = tuple(self._screen.screen(roles))
            if matches:
                add(CheckResult("compliance_screening", False, str(matches[0])))
            else:
                add(CheckResult("compliance_screening", True, "no address on a block list"))

        # 4. deadline
        if intent.deadline_ns is not None and intent.deadline_ns <= now:
            add(
                CheckResult(
                    "deadline",
                    False,
                    f"deadline passed {(now - intent.deadline_ns) / 1e9:.3f} s ago",
                )
            )

        # 5. slippage
        if lim.max_slippage_bps is not None:
            if intent.limit_price is None and intent.max_slippage_bps is None:
                add(
                    CheckResult(
                        "max_slippage",
                        False,
                        f"market intent without limit_price or max_slippage_bps; limit "
                        f"'max_slippage' ({_fmt(lim.max_slippage_bps)} bps) needs a bound",
                    )
                )
            elif (
                intent.max_slippage_bps is not None
                and intent.max_slippage_bps > lim.max_slippage_bps
            ):
                add(
                    CheckResult(
                        "max_slippage",
                        False,
                        f"limit 'max_slippage' ({_fmt(lim.max_slippage_bps)} bps) exceeded "
                        f"by intent allowing {_fmt(intent.max_slippage_bps)} bps",
                    )
                )
            else:
                add(CheckResult("max_slippage", True, "slippage within bound"))

        # 6. price collar
        if lim.price_collar_bps is not None and intent.limit_price is not None:
            if ref is None:
                add(
                    CheckResult(
                        "price_collar",
                        False,
                        f"no reference price for {inst.symbol}; cannot check the collar",
                    )
                )
            else:
                dev = abs(intent.limit_price - ref) / ref * _BPS
                if dev > lim.price_collar_bps:
                    add(
                        CheckResult(
                            "price_collar",
                            False,
                            f"limit 'price_collar' ({_fmt(lim.price_collar_bps)} bps) "
                            f"exceeded: limit price {_fmt(intent.limit_price)} is "
                            f"{_fmt(dev.quantize(Decimal('0.1')))} bps from reference "
                            f"{_fmt(ref)} {ccy}",
                        )
                    )
                else:
                    add(CheckResult("price_collar", True, "limit price within collar"))

        # 7. quantity resolvable
        if quantity is None or notional is None:
            add(
                CheckResult(
                    "reference_price",
                    False,
                    f"no reference price for {inst.symbol} and no limit price; "
                    f"cannot size or value the order",
                )
            )
        elif quantity <= 0:
            add(
                CheckResult(
                    "min_size",
                    False,
                    f"notional {_fmt(intent.notional or _ZERO)} {ccy} buys less than the "
                    f"smallest step of {inst.symbol}",
                )
            )
        else:
            # 8. order notional
            if lim.max_order_notional is not None:
                if ccy != lim.currency:
                    add(
                        CheckResult(
                            "max_notional",
                            False,
                            f"limit 'max_notional' is in {lim.currency} but the order is "
                            f"priced in {ccy}; add a limit for {ccy}",
                        )
                    )
                elif notional > lim.max_order_notional:
                    add(
                        CheckResult(
                            "max_notional",
                            False,
                            f"limit 'max_notional' ({_fmt(lim.max_order_notional)} "
                            f"{lim.currency}) exceeded by order of {_fmt(notional)} "
                            f"{ccy}",
                        )
                    )
                else:
                    add(CheckResult("max_notional", True, "notional within limit"))
            # 9. position
            cap = lim.max_position.get(inst.base.symbol)
            if cap is not None:
                exposure = view.asset_exposure(intent.account, inst.base.symbol)
                after = exposure + quantity * intent.side.sign
                if abs(after) > cap and abs(after) > abs(exposure):
                    add(
                        CheckResult(
                            "max_position",
                            False,
                            f"limit 'max_position' ({_fmt(cap)} {inst.base.symbol}) "
                            f"exceeded: position would be {_fmt(after)} "
                            f"{inst.base.symbol}",
                        )
                    )
                else:
                    add(CheckResult("max_position", True, "position within limit"))

        # 10. daily loss (position-reducing intents still pass)
        if lim.max_daily_loss is not None:
            pnl = view.daily_realized_pnl(lim.currency)
            if -pnl >= lim.max_daily_loss and not reduces:
                add(
                    CheckResult(
                        "max_daily_loss",
                        False,
                        f"limit 'max_daily_loss' ({_fmt(lim.max_daily_loss)} "
                        f"{lim.currency}) reached: today's realized loss is "
                        f"{_fmt(-pnl)} {lim.currency}; only reducing intents pass",
                    )
                )
            else:
                add(CheckResult("max_daily_loss", True, "daily loss within limit"))

        # 11. open orders
        if lim.max_open_orders is not None:
            n = view.open_order_count()
            if n >= lim.max_open_orders:
                add(
                    CheckResult(
                        "max_open_orders",
                        False,
                        f"limit 'max_open_orders' ({lim.max_open_orders}) reached with "
                        f"{n} open orders",
                    )
                )
            else:
                add(CheckResult("max_open_orders", True, "open orders within limit"))

        accepted = all(c.passed for c in checks)
        # 12. rate limit: consumes a token only if everything else passed
        if self._bucket is not None:
            if not accepted:
                pass
            elif self._bucket.take(now):
                add(CheckResult("submit_rate", True, "within submit rate"))
            else:
                accepted = False
                add(
                    CheckResult(
                        "submit_rate",
                        False,
                        f"limit 'submit_rate' ({_fmt(lim.max_submits_per_second or _ZERO)}"
                        f"/s, burst {lim.submit_burst}) exceeded; retry later",
                    )
                )
        return RiskDecision(accepted, tuple(checks), quantity, notional, matches)
