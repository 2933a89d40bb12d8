"""The routing plan: an immutable, explainable split of one order across liquidity sources."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from oms_chain.model.checks import check_decimal, check_instance, check_int, check_str, shown
from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import VenueId

__all__ = [
    "DEFAULT_MAX_PRICE_IMPACT_BPS",
    "EXACT_INPUT",
    "EXACT_OUTPUT",
    "WARNING_CODES",
    "Baseline",
    "NegativeNetOutput",
    "PlanRefused",
    "PlanWarning",
    "PriceImpactAboveBound",
    "RouteLeg",
    "RoutePlan",
]

#: Plan modes: sell an exact input for the most net output, or buy an exact output for the
#: least net input.
EXACT_INPUT = "exact-input"
EXACT_OUTPUT = "exact-output"
_MODES = (EXACT_INPUT, EXACT_OUTPUT)

#: Price impact above which a plan carries a :class:`PriceImpactAboveBound` warning, unless the
#: caller gives another bound: 5 %, where Uniswap's interface marks an impact "high".
DEFAULT_MAX_PRICE_IMPACT_BPS = Decimal(500)


@dataclass(frozen=True, slots=True, kw_only=True)
class NegativeNetOutput:
    """Warning: the fixed costs (gas) take all of an exact-input plan's output or more, so
    executing it gives nothing or loses value (``net_output`` <= 0, output base units)."""

    code: ClassVar[str] = "negative-net-output"
    expected_output: int
    gas_cost: int
    net_output: int

    @property
    def message(self) -> str:
        """What is wrong and what to do, in one sentence."""
        return (
            f"net output {self.net_output} is not positive: fixed costs (gas) of {self.gas_cost} "
            f"take all of the expected output {self.expected_output}; trade a larger amount or "
            "wait for cheaper gas"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceImpactAboveBound:
    """Warning: the plan's average price is more than ``bound_bps`` worse than the best
    marginal price of its sources (``price_impact_bps``)."""

    code: ClassVar[str] = "price-impact"
    price_impact_bps: Decimal
    bound_bps: Decimal

    @property
    def message(self) -> str:
        """What is wrong and what to do, in one sentence."""
        return (
            f"price impact {self.price_impact_bps} bps is above the bound of {self.bound_bps} "
            "bps; trade less at once (e.g. a TWAP), or raise the bound if this is intended"
        )


#: A typed warning a :class:`RoutePlan` can carry.
PlanWarning = NegativeNetOutput | PriceImpactAboveBound
#: The ``code`` of every warning type, for ``allow=`` lists.
WARNING_CODES = frozenset({NegativeNetOutput.code, PriceImpactAboveBound.code})


#: The intent algo parameter with which an intent accepts plans carrying some warnings: their
#: codes, comma-separated (e.g. ``"price-impact"``); the engine's splitter reads it.
ALLOW_WARNINGS_PARAM = "allow_plan_warnings"


def allowed_warnings(value: object) -> frozenset[str]:
    """The warning codes an intent's :data:`ALLOW_WARNINGS_PARAM` value allows (``None``: none).

    Raises:
        InvalidInput: not a string of comma-separated codes from :data:`WARNING_CODES`.
    """
    name = f"algo_params[{ALLOW_WARNINGS_PARAM!r}]"
    if value is None:
        return frozenset()
    if not isinstance(value, str):
        raise InvalidInput(
            f"{name} must be a string of comma-separated warning codes "
            f"({', '.join(sorted(WARNING_CODES))}), got {shown(value)}"
        )
    codes = frozenset(c.strip() for c in value.split(",") if c.strip())
    unknown = sorted(codes - WARNING_CODES)
    if unknown or not codes:
        what = f"unknown warning codes {unknown}" if unknown else f"no warning code ({value!r})"
        raise InvalidInput(f"{name} names {what}; known: {sorted(WARNING_CODES)}")
    return codes


def impact_bound(value: object) -> Decimal | None:
    """``max_price_impact_bps`` checked: ``None`` (no bound) or a Decimal (or int) >= 0."""
    if value is None:
        return None
    return check_decimal(value, "max_price_impact_bps", ge=0)


def plan_warnings(
    exact_output: bool, expected: int, gas: int, impact: Decimal, bound: Decimal | None
) -> tuple[PlanWarning, ...]:
    """The warnings of a plan with these totals (see :class:`RoutePlan`)."""
    found: list[PlanWarning] = []
    if not exact_output and expected - gas <= 0:
        found.append(
            NegativeNetOutput(expected_output=expected, gas_cost=gas, net_output=expected - gas)
        )
    if bound is not None and impact > bound:
        found.append(PriceImpactAboveBound(price_impact_bps=impact, bound_bps=bound))
    return tuple(found)


class PlanRefused(InvalidInput):
    """A plan carries warnings its caller did not allow (:meth:`RoutePlan.refuse_warnings`);
    ``warnings`` lists them. Nothing was sent."""

    def __init__(self, message: str, warnings: tuple[PlanWarning, ...]) -> None:
        super().__init__(message)
        self.warnings = warnings


def bps_gain(value: int, reference: int) -> Decimal:
    """``(value - reference) / reference`` in basis points (0 when ``reference`` is not > 0)."""
    if reference <= 0:
        return Decimal(0)
    return (Decimal(value - reference) / Decimal(reference) * 10_000).quantize(Decimal("0.0001"))


def bps_saving(value: int, reference: int) -> Decimal:
    """``(reference - value) / reference`` in basis points: how much less ``value`` costs."""
    if reference <= 0:
        return Decimal(0)
    return (Decimal(reference - value) / Decimal(reference) * 10_000).quantize(Decimal("0.0001"))


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteLeg:
    """What one source gets: ``amount_in`` / ``amount_out`` in base units, ``fixed_cost`` (gas;
    output units in an exact-input plan, input units in an exact-output plan), ``fee`` (venue
    fee, estimated in output units), ``price`` (output per input, fees included) and
    ``price_impact_bps`` against the best marginal price of all sources."""

    venue: VenueId
    kind: str
    amount_in: int
    amount_out: int
    fixed_cost: int
    fee: int
    price: Decimal
    price_impact_bps: Decimal

    def __post_init__(self) -> None:
        check_str(self.venue, "leg venue")
        check_str(self.kind, f"leg {self.venue}: kind")
        for name in ("amount_in", "amount_out", "fixed_cost", "fee"):
            check_int(getattr(self, name), f"leg {self.venue}: {name}", minimum=0)
        check_decimal(self.price, f"leg {self.venue}: price", ge=0)
        check_decimal(self.price_impact_bps, f"leg {self.venue}: price_impact_bps")

    @property
    def net_output(self) -> int:
        return self.amount_out - self.fixed_cost


@dataclass(frozen=True, slots=True, kw_only=True)
class Baseline:
    """Another way to fill the same order, for comparison: its net output (exact-output: the
    required output, and ``net_input``, input plus fixed costs) and what each venue gets
    (input for exact-input, output for exact-output)."""

    name: str
    net_output: int
    allocation: tuple[tuple[VenueId, int], ...]
    net_input: int | None = None

    def __post_init__(self) -> None:
        check_str(self.name, "baseline name")
        check_int(self.net_output, f"baseline {self.name}: net_output")
        if self.net_input is not None:
            check_int(self.net_input, f"baseline {self.name}: net_input")
        check_instance(self.allocation, f"baseline {self.name}: allocation", tuple, "a tuple")
        for venue, amount in self.allocation:
            check_str(venue, f"baseline {self.name}: allocation venue")
            check_int(amount, f"baseline {self.name}: allocation of {venue}", minimum=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutePlan:
    """The optimizer's answer, in base units.

    ``mode`` :data:`EXACT_INPUT`: ``legs`` lists every source used (inputs sum to ``amount_in``
    exactly); ``expected_output`` is the sum of the legs' exact outputs, ``net_output`` that
    minus the fixed costs (``gas_cost``, output units); ``vs_*_bps`` say how much more net output
    the plan gives than each baseline.

    ``mode`` :data:`EXACT_OUTPUT`: the legs' outputs sum to the required ``expected_output``
    exactly (= ``net_output``); ``amount_in`` is the sum of the legs' exact inputs, ``gas_cost``
    the fixed costs in input units and ``net_input`` their sum: what the plan minimizes;
    ``vs_*_bps`` say how much less net input the plan spends than each baseline.

    ``best_marginal_price`` is the best output-per-input any source offers for a tiny amount;
    ``price_impact_bps`` compares the plan's average price with it. ``best_single`` and
    ``greedy`` are the best one-source fill (``None`` if no single source can take it all) and
    the 5 %-step greedy split (of the output, in exact-output mode).

    ``warnings`` are typed values (:data:`PlanWarning`) for what a caller should decide on
    before executing: a :class:`NegativeNetOutput` (gas takes the whole output) and a
    :class:`PriceImpactAboveBound`. :meth:`refuse_warnings` raises unless they are allowed.
    """

    amount_in: int
    legs: tuple[RouteLeg, ...]
    expected_output: int
    net_output: int
    fees: int
    gas_cost: int
    best_marginal_price: Decimal
    price_impact_bps: Decimal
    best_single: Baseline | None
    greedy: Baseline | None
    mode: str = EXACT_INPUT
    net_input: int | None = None
    warnings: tuple[PlanWarning, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise InvalidInput(f"plan mode must be one of {_MODES}, got {shown(self.mode)}")
        for name in ("amount_in", "expected_output", "fees", "gas_cost"):
            check_int(getattr(self, name), f"plan {name}", minimum=0)
        check_int(self.net_output, "plan net_output")
        if self.net_input is not None:
            check_int(self.net_input, "plan net_input", minimum=0)
        check_decimal(self.best_marginal_price, "plan best_marginal_price", ge=0)
        check_decimal(self.price_impact_bps, "plan price_impact_bps")
        if not isinstance(self.legs, tuple) or not all(isinstance(g, RouteLeg) for g in self.legs):
            raise InvalidInput(f"plan legs must be a tuple of RouteLeg, got {shown(self.legs)}")
        for name in ("best_single", "greedy"):
            value = getattr(self, name)
            if value is not None:
                check_instance(value, f"plan {name}", Baseline, "a Baseline or None")
        if not isinstance(self.warnings, tuple) or not all(
            isinstance(w, NegativeNetOutput | PriceImpactAboveBound) for w in self.warnings
        ):
            raise InvalidInput(
                f"plan warnings must be a tuple of PlanWarning, got {shown(self.warnings)}"
            )

    def refuse_warnings(self, allow: Collection[str] = ()) -> None:
        """Raise :class:`PlanRefused` if the plan carries a warning whose ``code`` is not in
        ``allow`` (codes: :data:`WARNING_CODES`); return quietly otherwise.

        Raises:
            PlanRefused: a warning not allowed; the message lists each one and what to do.
            InvalidInput: ``allow`` names an unknown code or is not a collection of codes.
        """
        if isinstance(allow, str) or not isinstance(allow, Collection):
            raise InvalidInput(f"allow must be a collection of warning codes, got {shown(allow)}")
        unknown = sorted(str(a) for a in allow if a not in WARNING_CODES)
        if unknown:
            raise InvalidInput(
                f"allow names unknown warning codes {unknown}; known: {sorted(WARNING_CODES)}"
            )
        refused = tuple(w for w in self.warnings if w.code not in allow)
        if refused:
            reasons = "; ".join(f"{w.code}: {w.message}" for w in refused)
            codes = ", ".join(sorted({w.code for w in refused}))
            raise PlanRefused(f"route plan refused ({reasons}); to accept, allow {codes}", refused)

    def _vs(self, baseline: Baseline | None) -> Decimal | None:
        if baseline is None:
            return None
        if self.mode == EXACT_OUTPUT:
            if self.net_input is None or baseline.net_input is None:
                return None
            return bps_saving(self.net_input, baseline.net_input)
        return bps_gain(self.net_output, baseline.net_output)

    @property
    def vs_best_single_bps(self) -> Decimal | None:
        """Improvement over the best single source in bps (``None``: no single source can)."""
        return self._vs(self.best_single)

    @property
    def vs_greedy_bps(self) -> Decimal | None:
        """Improvement over the 5 %-step greedy split in bps (``None``: not computed)."""
        return self._vs(self.greedy)

    def allocation(self) -> dict[VenueId, int]:
        """Input per venue used."""
        return {leg.venue: leg.amount_in for leg in self.legs}

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (integers as ints, decimals as strings)."""

        def baseline(b: Baseline | None) -> dict[str, Any] | None:
            if b is None:
                return None
            return {
                "name": b.name,
                "net_output": b.net_output,
                "net_input": b.net_input,
                "allocation": {str(v): a for v, a in b.allocation},
            }

        vs_single, vs_greedy = self.vs_best_single_bps, self.vs_greedy_bps
        return {
            "mode": self.mode,
            "amount_in": self.amount_in,
            "net_input": self.net_input,
            "expected_output": self.expected_output,
            "net_output": self.net_output,
            "fees": self.fees,
            "gas_cost": self.gas_cost,
            "best_marginal_price": str(self.best_marginal_price),
            "price_impact_bps": str(self.price_impact_bps),
            "legs": [
                {
                    "venue": str(leg.venue),
                    "kind": leg.kind,
                    "amount_in": leg.amount_in,
                    "amount_out": leg.amount_out,
                    "fixed_cost": leg.fixed_cost,
                    "fee": leg.fee,
                    "price": str(leg.price),
                    "price_impact_bps": str(leg.price_impact_bps),
                }
                for leg in self.legs
            ],
            "best_single": baseline(self.best_single),
            "greedy": baseline(self.greedy),
            "vs_best_single_bps": None if vs_single is None else str(vs_single),
            "vs_greedy_bps": None if vs_greedy is None else str(vs_greedy),
            "warnings": [{"code": w.code, "message": w.message} for w in self.warnings],
        }

    def explain(self) -> str:
        """A few lines a human can read: each leg, then totals and comparisons."""
        if self.mode == EXACT_OUTPUT:
            lines = [
                f"route {self.expected_output} out (exact) <- {self.amount_in} in, "
                f"{self.net_input} net in"
            ]
        else:
            lines = [f"route {self.amount_in} in -> {self.net_output} net out"]
        for leg in self.legs:
            lines.append(
                f"  {leg.venue} ({leg.kind}): in {leg.amount_in} out {leg.amount_out} "
                f"gas {leg.fixed_cost} fee ~{leg.fee} impact {leg.price_impact_bps} bps"
            )
        lines.append(
            f"  fees ~{self.fees}, gas {self.gas_cost}, impact {self.price_impact_bps} bps"
        )
        if self.best_single is not None:
            lines.append(
                f"  vs best single ({self.best_single.name}): +{self.vs_best_single_bps} bps"
            )
        if self.greedy is not None:
            lines.append(f"  vs 5% greedy split: +{self.vs_greedy_bps} bps")
        lines.extend(f"  warning ({w.code}): {w.message}" for w in self.warnings)
        return "\n".join(lines)
