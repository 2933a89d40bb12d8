"""The routing plan: an immutable, explainable split of one order across liquidity sources."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from oms_chain.model.ids import VenueId

__all__ = ["EXACT_INPUT", "EXACT_OUTPUT", "Baseline", "RouteLeg", "RoutePlan"]

#: Plan modes: sell an exact input for the most net output, or buy an exact output for the
#: least net input.
EXACT_INPUT = "exact-input"
EXACT_OUTPUT = "exact-output"


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
        return "\n".join(lines)
