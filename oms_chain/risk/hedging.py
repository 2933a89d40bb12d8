"""Hedger policies: when and how much to hedge, as pure functions (no I/O, no clock).

A :class:`HedgePolicy` keeps the delta of one underlying inside ``target ± band``:

* ``delta_band`` mode hedges when delta leaves the band, back to ``target``, in at most
  ``max_hedge`` units of the hedge instrument, and not again within ``cooldown_s``;
* ``gamma_scalp`` mode re-hedges a (long-gamma) position back to ``target`` each time the spot
  has moved ``scalp_move_pct`` % from the spot of the last hedge (and, like ``delta_band``,
  when delta leaves the band). :class:`ScalpLedger` reports the PnL of the hedge trades.

:func:`decide_hedge` takes the current delta (including hedges in flight), the spot, the time
and the :class:`HedgeState` of the last hedge, and returns a :class:`HedgeDecision`. Sending
the hedge through the engine and recording each decision is the service layer's job
(:mod:`oms_chain.service.hedger`).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any, Literal

from oms_chain.model.errors import ConfigError, InvalidInput

__all__ = [
    "HedgeDecision",
    "HedgePolicy",
    "HedgeState",
    "ScalpLedger",
    "decide_hedge",
]

_MODES = ("delta_band", "gamma_scalp")
_NS = 1_000_000_000


def _dec(value: Any, key: str, *, gt: Decimal | None = None, ge: Decimal | None = None) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str | float):
        raise ConfigError(f"{key}: expected a number, got {type(value).__name__}")
    try:
        d = Decimal(str(value))
    except ArithmeticError:
        raise ConfigError(f"{key}: {value!r} is not a number") from None
    if not d.is_finite():
        raise ConfigError(f"{key}: must be finite, got {value!r}")
    if gt is not None and not d > gt:
        raise ConfigError(f"{key}: must be > {gt}, got {d}")
    if ge is not None and not d >= ge:
        raise ConfigError(f"{key}: must be >= {ge}, got {d}")
    return d


def _name(value: Any, key: str, extra: str = "") -> str:
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ConfigError(f"{key}: expected a non-empty name of at most 64 characters")
    allowed = "-_.:" + extra
    if not all((c.isascii() and c.isalnum()) or c in allowed for c in value):
        shown = " ".join(allowed)
        raise ConfigError(f"{key}: {value!r} may contain only letters, digits and {shown}")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class HedgePolicy:
    """A delta-band (or gamma-scalping) hedging policy for one underlying.

    Args:
        name: stable key of the policy (hedge intent ids are derived from it).
        underlying: the underlying whose delta is watched (``"ETH"``).
        instrument: symbol of the instrument to hedge with (``"ETH/USDC"``), resolved by the
            service; ``hedge_delta`` is its delta per unit (1 for spot and perpetuals).
        venues: venues the hedge may be routed to (at least one).
        target: target delta in underlying units; band: half-width (>= 0) of the band.
        max_hedge: largest quantity of one hedge (instrument units, > 0).
        min_hedge: hedges smaller than this are skipped (default 0).
        cooldown_s: no new hedge within this many seconds of the last one.
        mode: ``delta_band`` or ``gamma_scalp``; scalp_move_pct: the move (% of the last
            hedge's spot, > 0) that triggers a re-hedge in ``gamma_scalp`` mode.
        max_slippage_bps: slippage bound of each hedge intent.
        quantity_step: hedge quantities are rounded down to this step.

    Raises:
        ConfigError: a bad value; the message names the key.
    """

    name: str
    underlying: str
    instrument: str
    venues: tuple[str, ...]
    band: Decimal
    max_hedge: Decimal
    target: Decimal = Decimal(0)
    min_hedge: Decimal = Decimal(0)
    cooldown_s: float = 0.0
    mode: Literal["delta_band", "gamma_scalp"] = "delta_band"
    scalp_move_pct: Decimal | None = None
    hedge_delta: Decimal = Decimal(1)
    max_slippage_bps: Decimal = Decimal(50)
    quantity_step: Decimal = Decimal("0.0001")

    def __post_init__(self) -> None:
        _name(self.name, "name")
        _name(self.underlying, "underlying")
        _name(self.instrument, "instrument", "/")
        venues = self.venues
        if isinstance(venues, str) or not isinstance(venues, tuple | list) or not venues:
            raise ConfigError("venues: expected a non-empty list of venue names")
        object.__setattr__(
            self, "venues", tuple(_name(v, f"venues[{i}]") for i, v in enumerate(venues))
        )
        object.__setattr__(self, "band", _dec(self.band, "band", ge=Decimal(0)))
        object.__setattr__(self, "max_hedge", _dec(self.max_hedge, "max_hedge", gt=Decimal(0)))
        object.__setattr__(self, "target", _dec(self.target, "target"))
        object.__setattr__(self, "min_hedge", _dec(self.min_hedge, "min_hedge", ge=Decimal(0)))
        if self.min_hedge > self.max_hedge:
            raise ConfigError(f"min_hedge: {self.min_hedge} is above max_hedge {self.max_hedge}")
        c = self.cooldown_s
        if isinstance(c, bool) or not isinstance(c, int | float) or not 0 <= c <= 86_400:
            raise ConfigError(f"cooldown_s: expected seconds in [0, 86400], got {c!r}")
        object.__setattr__(self, "cooldown_s", float(c))
        if self.mode not in _MODES:
            raise ConfigError(f"mode: expected one of {list(_MODES)}, got {self.mode!r}")
        if self.mode == "gamma_scalp":
            if self.scalp_move_pct is None:
                raise ConfigError("scalp_move_pct: required in gamma_scalp mode (e.g. 2 for 2 %)")
            object.__setattr__(
                self, "scalp_move_pct", _dec(self.scalp_move_pct, "scalp_move_pct", gt=Decimal(0))
            )
        elif self.scalp_move_pct is not None:
            raise ConfigError("scalp_move_pct: only used in gamma_scalp mode; leave it out")
        object.__setattr__(
            self, "hedge_delta", _dec(self.hedge_delta, "hedge_delta", gt=Decimal(0))
        )
        object.__setattr__(
            self,
            "max_slippage_bps",
            _dec(self.max_slippage_bps, "max_slippage_bps", ge=Decimal(0)),
        )
        object.__setattr__(
            self, "quantity_step", _dec(self.quantity_step, "quantity_step", gt=Decimal(0))
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> HedgePolicy:
        """Build from a mapping; unknown keys are refused.

        Raises:
            ConfigError: not a mapping, an unknown or missing key, or a bad value (named).
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"hedge policy must be a table, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ConfigError(f"{key}: unknown key; expected one of {sorted(known)}")
        required = ("name", "underlying", "instrument", "venues", "band", "max_hedge")
        for key in required:
            if key not in data:
                raise ConfigError(f"{key}: missing; a hedge policy needs {list(required)}")
        kw = dict(data)
        if isinstance(kw.get("venues"), list):
            kw["venues"] = tuple(kw["venues"])
        try:
            return cls(**kw)
        except ConfigError:
            raise
        except (InvalidInput, TypeError) as exc:
            raise ConfigError(str(exc)) from None

    @classmethod
    def from_toml(cls, text: str) -> HedgePolicy:
        """Parse TOML text (top-level keys, or one ``[hedge]`` table).

        Raises:
            ConfigError: not valid TOML, or the contents are refused (the key is named).
        """
        if not isinstance(text, str):
            raise ConfigError(f"TOML text must be a str, got {type(text).__name__}")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"hedge policy is not valid TOML: {exc}") from None
        if set(data) == {"hedge"}:
            data = data["hedge"]
        return cls.from_mapping(data)

    @classmethod
    def load(cls, path: str | Path) -> HedgePolicy:
        """Read a TOML file (see :meth:`from_toml`).

        Raises:
            ConfigError: the file cannot be read, or its contents are refused.
        """
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read hedge policy {str(path)!r}: {exc}") from None
        return cls.from_toml(text)


@dataclass(frozen=True, slots=True)
class HedgeState:
    """What the policy remembers: time and spot of the last hedge (``None``: none yet)."""

    last_hedge_ns: int | None = None
    last_hedge_spot: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HedgeDecision:
    """``action``: ``hedge`` (send ``side`` ``quantity``), ``skip`` (outside the band or
    triggered but not hedged: ``reason`` says why) or ``none`` (nothing to do).
    ``delta_after`` is the expected delta once the hedge is filled."""

    action: Literal["hedge", "skip", "none"]
    reason: str
    side: Literal["buy", "sell"] | None = None
    quantity: Decimal = Decimal(0)
    delta_after: Decimal = Decimal(0)
    capped: bool = False


def decide_hedge(
    policy: HedgePolicy,
    *,
    delta: Decimal,
    spot: Decimal,
    now_ns: int,
    state: HedgeState = HedgeState(),
) -> HedgeDecision:
    """The hedge ``policy`` asks for at ``delta`` (underlying units, hedges in flight
    included) and ``spot``.

    Raises:
        InvalidInput: a non-Decimal / non-finite delta, a spot <= 0, a negative time.
    """
    if not isinstance(policy, HedgePolicy):
        raise InvalidInput(f"policy must be a HedgePolicy, got {type(policy).__name__}")
    for label, v in (("delta", delta), ("spot", spot)):
        if not isinstance(v, Decimal) or not v.is_finite():
            raise InvalidInput(f"{label} must be a finite Decimal, got {v!r}")
    if spot <= 0:
        raise InvalidInput(f"spot must be > 0, got {spot}")
    if isinstance(now_ns, bool) or not isinstance(now_ns, int) or now_ns < 0:
        raise InvalidInput(f"now_ns must be an int >= 0, got {now_ns!r}")
    p = policy
    off = delta - p.target
    outside = abs(off) > p.band
    moved: Decimal | None = None
    if p.mode == "gamma_scalp" and state.last_hedge_spot is not None:
        move = abs(spot / state.last_hedge_spot - 1) * 100
        if move >= p.scalp_move_pct:  # type: ignore[operator]
            moved = move
    if not outside and moved is None:
        return HedgeDecision(action="none", reason="delta inside its band", delta_after=delta)
    why = (
        f"spot {spot} moved {moved:.2f} % from the last hedge at {state.last_hedge_spot}"
        if moved is not None and not outside
        else f"delta {delta:.6g} outside {p.target} ± {p.band}"
    )
    if state.last_hedge_ns is not None and p.cooldown_s > 0:
        wait = state.last_hedge_ns + math.ceil(p.cooldown_s * _NS) - now_ns
        if wait > 0:
            return HedgeDecision(
                action="skip",
                reason=f"{why}; cool-down: {wait / _NS:.3g} s left",
                delta_after=delta,
            )
    wanted = (abs(off) / p.hedge_delta).quantize(p.quantity_step, rounding=ROUND_DOWN)
    qty = min(wanted, p.max_hedge.quantize(p.quantity_step, rounding=ROUND_DOWN))
    floor = max(p.min_hedge, p.quantity_step)
    if qty <= 0 or qty < p.min_hedge:
        return HedgeDecision(
            action="skip",
            reason=f"{why}; hedge of {qty} is below the minimum {floor}",
            delta_after=delta,
        )
    side: Literal["buy", "sell"] = "sell" if off > 0 else "buy"
    change = qty * p.hedge_delta * (-1 if side == "sell" else 1)
    capped = qty < wanted
    reason = f"{why}: {side} {qty} {p.instrument} toward {p.target}"
    if capped:
        reason += f" (capped at max_hedge {p.max_hedge})"
    return HedgeDecision(
        action="hedge",
        reason=reason,
        side=side,
        quantity=qty,
        delta_after=delta + change,
        capped=capped,
    )


@dataclass(frozen=True, slots=True)
class ScalpLedger:
    """The hedge trades of a gamma-scalping policy: signed quantities and their prices.

    ``pnl(spot)`` is what the hedges made: sum of ``q × (spot − price)`` (realized on round
    trips, the open remainder marked at ``spot``), in quote units, fees excluded.
    """

    trades: tuple[tuple[Decimal, Decimal], ...] = ()

    def add(self, signed_quantity: Decimal, price: Decimal) -> ScalpLedger:
        """A new ledger with one more hedge fill (``signed_quantity`` > 0 bought)."""
        for label, v in (("signed_quantity", signed_quantity), ("price", price)):
            if not isinstance(v, Decimal) or not v.is_finite():
                raise InvalidInput(f"{label} must be a finite Decimal, got {v!r}")
        if price <= 0:
            raise InvalidInput(f"price must be > 0, got {price}")
        return ScalpLedger((*self.trades, (signed_quantity, price)))

    @property
    def position(self) -> Decimal:
        """Net quantity the hedges hold."""
        return sum((q for q, _ in self.trades), Decimal(0))

    def pnl(self, spot: Decimal) -> Decimal:
        """Scalped PnL at ``spot`` (quote units)."""
        return sum((q * (spot - p) for q, p in self.trades), Decimal(0))
