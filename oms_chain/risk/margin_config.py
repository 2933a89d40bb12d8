"""Parameters of the portfolio-margin model, as one frozen config (TOML-loadable, strict keys).

Defaults follow Deribit's segregated portfolio margin (S:PM) where Deribit documents a number:

* 9 evenly spaced underlying moves over +/-16 % (-16, -12, ..., +16 %), each under volatility
  up / same / down; an extended table of -66, -33, +50, +100, +200, +300, +400, +500 % moves on
  volatility up only, for large short option positions, counting a fraction of the simulated PnL
  with a dampener (support.deribit.com, "Portfolio Margin", article 25944756247837).
* Volatility shocks scaled by time to expiry: up = max(vol x (1 + 0.5 x (30 / days)^power),
  0.5), down = vol x (1 - 0.25 x (30 / days)^power), power 0.3 under 30 days and 0.13 beyond
  (Deribit's BTC parameters priceRange 0.16, volRangeUp 0.5, volRangeDown 0.25,
  minVolForShockUp 0.5, shortTermVegaPower 0.3, longTermVegaPower 0.13, as listed by
  docs.oreome.com "Advanced Risk Scenarios", which mimics Deribit's margin calculation; its
  printed down formula repeats volRangeUp, which we read as the volRangeDown it lists).
* Maintenance margin is the worst scenario loss (deribit.com/pages/docs/portfoliomargin:
  "determined by calculating the maximum loss"), plus the contingencies below.
* Contingencies: 0.01 underlying units (1 % of spot) per net short option per strike and 1 % of
  the underlying value of offsetting futures (deribit.com/pages/docs/portfoliomargin).

Not documented in the pages we found, so ours (set them from the venue's margin page): the
extended-table fraction and dampener, the initial / maintenance factor and the floor on days to
expiry. Deribit changes its parameters without notice; treat these as a starting point.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from oms_chain.model.errors import ConfigError, InvalidInput

__all__ = ["PortfolioMarginConfig"]

_FLOAT_RANGES: dict[str, tuple[float, float]] = {
    "price_range": (0.0, 0.99),
    "vol_range_up": (0.0, 10.0),
    "vol_range_down": (0.0, 0.99),
    "min_vol_for_shock_up": (0.0, 20.0),
    "short_term_vega_power": (0.0, 2.0),
    "long_term_vega_power": (0.0, 2.0),
    "vega_power_cutoff_days": (0.0, 3650.0),
    "dte_floor_days": (1e-6, 3650.0),
    "extended_fraction": (0.0, 1.0),
    "extended_dampener": (0.0, 1e15),
    "short_option_contingency": (0.0, 1.0),
    "offsetting_perp_contingency": (0.0, 1.0),
    "initial_factor": (1.0, 10.0),
    "min_vol": (1e-6, 1.0),
}


def _number(value: object, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key}: must be a number, got {type(value).__name__} {value!r}")
    f = float(value)
    if not math.isfinite(f):
        raise ConfigError(f"{key}: must be finite, got {value!r}")
    return f


@dataclass(frozen=True, slots=True, kw_only=True)
class PortfolioMarginConfig:
    """Portfolio-margin parameters (see the module docstring for sources).

    Attributes:
        price_range: largest underlying move of the core table (0.16 = +/-16 %).
        price_steps: buckets on each side of zero (4 -> 9 moves in all).
        vol_range_up / vol_range_down: relative vol shocks at 30 days to expiry.
        min_vol_for_shock_up: floor of the shocked-up vol.
        short_term_vega_power / long_term_vega_power: exponent of (30 / days) below / from
            ``vega_power_cutoff_days`` on.
        dte_floor_days: days to expiry are floored here before scaling (ours: 1 day).
        extended_moves: moves of the extended table (volatility up only).
        extended_fraction: share of the extended-table loss counted (ours: 0.25).
        extended_dampener: USD subtracted from the counted extended loss (ours: 0).
        short_option_contingency: fraction of spot per net short option per strike and expiry.
        offsetting_perp_contingency: fraction of spot per unit of perpetuals offset across venues.
        initial_factor: initial margin = maintenance x this (ours: 1.25).
        min_vol: floor of the shocked-down vol (ours: 1 %).

    Raises:
        ConfigError: a value has the wrong type or is out of range; the message names the key.
    """

    price_range: float = 0.16
    price_steps: int = 4
    vol_range_up: float = 0.5
    vol_range_down: float = 0.25
    min_vol_for_shock_up: float = 0.5
    short_term_vega_power: float = 0.3
    long_term_vega_power: float = 0.13
    vega_power_cutoff_days: float = 30.0
    dte_floor_days: float = 1.0
    extended_moves: tuple[float, ...] = (-0.66, -0.33, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0)
    extended_fraction: float = 0.25
    extended_dampener: float = 0.0
    short_option_contingency: float = 0.01
    offsetting_perp_contingency: float = 0.01
    initial_factor: float = 1.25
    min_vol: float = 0.01

    def __post_init__(self) -> None:
        for key, (lo, hi) in _FLOAT_RANGES.items():
            f = _number(getattr(self, key), key)
            if not lo <= f <= hi:
                raise ConfigError(f"{key}: must be between {lo:g} and {hi:g}, got {f:g}")
            object.__setattr__(self, key, f)
        steps = self.price_steps
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 50:
            raise ConfigError(f"price_steps: must be an int from 1 to 50, got {steps!r}")
        moves = self.extended_moves
        if isinstance(moves, str) or not isinstance(moves, tuple | list):
            raise ConfigError(f"extended_moves: must be a list of numbers, got {moves!r}")
        checked = tuple(_number(m, f"extended_moves[{i}]") for i, m in enumerate(moves))
        for i, m in enumerate(checked):
            if not -0.999 <= m <= 100.0:
                raise ConfigError(f"extended_moves[{i}]: must be between -0.999 and 100, got {m:g}")
        object.__setattr__(self, "extended_moves", checked)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> PortfolioMarginConfig:
        """Build from a mapping of keys to values; unknown keys are refused.

        Raises:
            ConfigError: not a mapping, an unknown key (named), or a bad value (named).
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"portfolio margin config must be a table, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ConfigError(f"{key}: unknown key; expected one of {sorted(known)}")
        try:
            return cls(**dict(data))
        except ConfigError:
            raise
        except InvalidInput as exc:  # pragma: no cover - every check raises ConfigError
            raise ConfigError(str(exc)) from None

    @classmethod
    def from_toml(cls, text: str) -> PortfolioMarginConfig:
        """Parse TOML ``text`` (keys at the top level) into a config.

        Raises:
            ConfigError: not valid TOML, an unknown key or a bad value (the key is named).
        """
        if not isinstance(text, str):
            raise ConfigError(f"TOML text must be a str, got {type(text).__name__}")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"portfolio margin config is not valid TOML: {exc}") from None
        return cls.from_mapping(data)

    @classmethod
    def load(cls, path: str | Path) -> PortfolioMarginConfig:
        """Read a TOML file (see :meth:`from_toml`).

        Raises:
            ConfigError: the file cannot be read, or its contents are refused.
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read portfolio margin config {str(p)!r}: {exc}") from None
        return cls.from_toml(text)

    @property
    def moves(self) -> tuple[float, ...]:
        """The core table's underlying moves, from -price_range to +price_range."""
        n = self.price_steps
        return tuple(self.price_range * i / n for i in range(-n, n + 1))
