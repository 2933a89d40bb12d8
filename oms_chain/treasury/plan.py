"""Plan a hedge: bring the treasury's delta back to target at least cost under the policy.

For every allowed instrument the planner sizes a candidate from the risk engine's deltas
(a spot sale of the exact units; puts, a collar or a put spread on each listed expiry and
strike the policy admits), prices it with real quotes (QuoterV2 for the sale, the makers' signed
RFQ quotes for options), values the treasury with the hedge added, and checks the policy's
limits. The cheapest candidate that lands inside the band wins (ties: the lower VaR); every
other candidate stays in the plan with its cost, residual delta and VaR, or the rule that
refused it. No candidate: :class:`PolicyViolation` naming the rules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal

from oms_chain.model.errors import FinalError, InvalidInput, OmsError
from oms_chain.model.instruments import OptionKind
from oms_chain.model.intent import Side
from oms_chain.treasury.measure import Measurement, value
from oms_chain.treasury.options_book import OptionBook, OptionHolding
from oms_chain.treasury.policy import TreasuryPolicy
from oms_chain.venues.options.onchain import MakerQuote, SeriesListing

__all__ = ["Candidate", "Leg", "Plan", "PolicyViolation", "SpotQuoter", "make_plan"]

#: ``quote(units) -> USD out``: what selling ``units`` of the exposure underlying gives now.
SpotQuoter = Callable[[Decimal], Awaitable[Decimal]]

_NS_PER_DAY = 86_400 * 1_000_000_000
_UNIT = Decimal("0.0001")


class PolicyViolation(FinalError, ValueError):
    """The policy refuses the plan; :attr:`rules` names the rules (policy keys) that did."""

    def __init__(self, message: str, rules: Sequence[str]) -> None:
        super().__init__(message)
        self.rules = tuple(rules)


@dataclass(frozen=True, slots=True, kw_only=True)
class Leg:
    """One trade of a hedge: an option fill (``listing``, ``contracts``, the signed ``quote``)
    or a spot sale (``listing`` None, ``quantity`` units of the underlying)."""

    side: Side
    quantity: Decimal
    listing: SeriesListing | None = None
    contracts: int = 0
    quote: MakerQuote | None = None
    usd: Decimal = Decimal(0)

    @property
    def label(self) -> str:
        """``buy 1.5 WETH-...-P`` / ``sell 4.2 ETH (spot)``."""
        what = self.listing.contract.symbol if self.listing else "spot"
        return f"{self.side.value} {self.quantity} {what}"

    def to_json(self) -> dict[str, object]:
        """JSON-safe form (the quote in full: it is what the proposal fills)."""
        return {
            "side": self.side.value,
            "quantity": str(self.quantity),
            "series_id": None if self.listing is None else self.listing.series_id,
            "instrument": None if self.listing is None else self.listing.contract.symbol,
            "contracts": self.contracts,
            "quote": None if self.quote is None else self.quote.to_json(),
            "usd": str(self.usd),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """A sized and priced hedge. ``cost_usd``: net premium paid (negative: received) or, for a
    sale, the shortfall of the proceeds against the index; ``refused``: the rule, else None."""

    instrument: str
    legs: tuple[Leg, ...]
    cost_usd: Decimal
    notional_usd: Decimal
    after: Measurement | None
    refused: str | None = None
    reason: str = ""

    @property
    def label(self) -> str:
        """The legs in one line."""
        return f"{self.instrument}: " + ", ".join(leg.label for leg in self.legs)

    def to_json(self) -> dict[str, object]:
        """JSON-safe form."""
        return {
            "instrument": self.instrument,
            "legs": [leg.to_json() for leg in self.legs],
            "cost_usd": str(self.cost_usd),
            "notional_usd": str(self.notional_usd),
            "after": None if self.after is None else self.after.to_json(),
            "refused": self.refused,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """The planner's answer: ``chosen`` is ``None`` when the treasury is inside its band."""

    before: Measurement
    target_delta: Decimal
    needed_delta: Decimal
    budget_left_usd: Decimal
    candidates: tuple[Candidate, ...] = ()
    chosen: Candidate | None = None
    explanation: str = ""
    inputs: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """JSON-safe form (what the plan event records)."""
        return {
            "before": self.before.to_json(),
            "target_delta": str(self.target_delta),
            "needed_delta": str(self.needed_delta),
            "budget_left_usd": str(self.budget_left_usd),
            "candidates": [c.to_json() for c in self.candidates],
            "chosen": None if self.chosen is None else self.candidates.index(self.chosen),
            "explanation": self.explanation,
        }


def _round_up(x: Decimal) -> int:
    return int(x.to_integral_value(rounding=ROUND_CEILING))


def _unit_delta(policy: TreasuryPolicy, listing: SeriesListing, m: Measurement) -> Decimal:
    one = OptionHolding(listing.contract, Decimal(1))
    return value(policy, {}, [one], {policy.exposure.underlying: m.spot}, m.ts_ns, m.marks).delta


def _usd(q: MakerQuote, listing: SeriesListing, contracts: int) -> Decimal:
    return listing.contract.quote.from_base_units(q.premium * contracts)


def _in_band(policy: TreasuryPolicy, share: Decimal) -> bool:
    return policy.exposure.low() <= share <= policy.exposure.high()


class _Planner:
    def __init__(
        self,
        policy: TreasuryPolicy,
        before: Measurement,
        book: OptionBook | None,
        spot_quote: SpotQuoter | None,
        budget_left: Decimal,
    ) -> None:
        self.policy = policy
        self.m = before
        self.book = book
        self.spot_quote = spot_quote
        self.budget_left = budget_left
        self.stable = next(a.symbol for a in policy.assets if a.underlying is None)
        under = policy.exposure.underlying
        self.natives = [a.symbol for a in policy.assets if a.underlying == under]

    def after(
        self, legs: Sequence[Leg], usd_flow: Decimal, units_sold: Decimal = Decimal(0)
    ) -> Measurement:
        bal = dict(self.m.balances)
        bal[self.stable] = bal.get(self.stable, Decimal(0)) + usd_flow
        left = units_sold
        for sym in self.natives:  # sell the wrapped token first, then the native coin
            take = min(left, bal.get(sym, Decimal(0)))
            bal[sym] = bal.get(sym, Decimal(0)) - take
            left -= take
        options = list(self.m.options)
        for leg in legs:
            if leg.listing is not None:
                sign = 1 if leg.side is Side.BUY else -1
                options.append(OptionHolding(leg.listing.contract, sign * leg.quantity))
        spots = {self.policy.exposure.underlying: self.m.spot}
        return value(self.policy, bal, options, spots, self.m.ts_ns, self.m.marks)

    def check(self, c: Candidate) -> Candidate:
        lim = self.policy.limits
        refused, reason = None, ""
        if c.notional_usd > lim.max_notional_usd:
            refused = "limits.max_notional_usd"
            reason = (
                f"notional {c.notional_usd:,.2f} USD above limits.max_notional_usd "
                f"{lim.max_notional_usd:,} USD"
            )
        elif c.instrument != "twap_sale" and c.cost_usd > self.budget_left:
            refused = "limits.premium_budget_usd"
            reason = (
                f"net premium {c.cost_usd:,.2f} USD above the {self.budget_left:,.2f} USD left "
                f"of limits.premium_budget_usd ({lim.premium_budget_usd:,} USD per "
                f"{lim.budget_period_days} days)"
            )
        elif c.after is not None and not _in_band(self.policy, c.after.delta_share):
            refused = "exposure.band"
            reason = f"lands at a delta share of {c.after.delta_share:.4f}, outside the band"
        if refused is None:
            return c
        return replace(c, refused=refused, reason=reason)

    async def sale(self, needed: Decimal) -> list[Candidate]:
        units = (-needed).quantize(_UNIT, rounding=ROUND_DOWN)
        held = sum((self.m.balances.get(s, Decimal(0)) for s in self.natives), Decimal(0))
        if units > held:
            return [self._refusal("twap_sale", "funds", f"needs {units}, the Safe holds {held}")]
        assert self.spot_quote is not None
        proceeds = await self.spot_quote(units)
        index = units * self.m.spot
        cost = index - proceeds
        leg = Leg(side=Side.SELL, quantity=units, usd=proceeds)
        c = Candidate(
            instrument="twap_sale",
            legs=(leg,),
            cost_usd=cost.quantize(Decimal("0.01")),
            notional_usd=index.quantize(Decimal("0.01")),
            after=self.after([leg], proceeds, units),
        )
        bps = cost / index * 10_000 if index else Decimal(0)
        if bps > self.policy.limits.max_slippage_bps:
            reason = (
                f"the pool pays {proceeds:,.2f} USD for {units} ({bps:.0f} bps under the "
                f"index), above limits.max_slippage_bps {self.policy.limits.max_slippage_bps}"
            )
            return [replace(c, refused="limits.max_slippage_bps", reason=reason)]
        return [self.check(c)]

    def _refusal(self, instrument: str, rule: str, reason: str) -> Candidate:
        return Candidate(
            instrument=instrument,
            legs=(),
            cost_usd=Decimal(0),
            notional_usd=Decimal(0),
            after=None,
            refused=rule,
            reason=reason,
        )

    def _series(self) -> dict[int, list[SeriesListing]]:
        assert self.book is not None
        ins = self.policy.instruments
        lo_ns = self.m.ts_ns + ins.min_days * _NS_PER_DAY
        hi_ns = self.m.ts_ns + ins.max_days * _NS_PER_DAY
        by_expiry: dict[int, list[SeriesListing]] = {}
        for s in self.book.listings():
            c = s.contract
            sym = c.underlying.symbol
            spec = next((a for a in self.policy.assets if a.symbol == sym), None)
            if spec is None or spec.underlying != self.policy.exposure.underlying:
                continue
            if lo_ns <= c.expiry_ns <= hi_ns:
                by_expiry.setdefault(c.expiry_ns, []).append(s)
        return by_expiry

    def _moneyness(self, s: SeriesListing) -> Decimal:
        return s.contract.strike / self.m.spot

    async def options(self, needed: Decimal, kinds: Sequence[str]) -> list[Candidate]:
        ins = self.policy.instruments
        out: list[Candidate] = []
        for _expiry, series in sorted(self._series().items()):
            puts = [
                s
                for s in series
                if s.contract.option_kind is OptionKind.PUT
                and ins.put_moneyness[0] <= self._moneyness(s) <= ins.put_moneyness[1]
            ]
            calls = [
                s
                for s in series
                if s.contract.option_kind is OptionKind.CALL
                and ins.call_moneyness[0] <= self._moneyness(s) <= ins.call_moneyness[1]
            ]
            lower_puts = [s for s in series if s.contract.option_kind is OptionKind.PUT]
            structures: list[tuple[str, list[tuple[SeriesListing, Side]]]] = []
            if "puts" in kinds:
                structures += [("puts", [(p, Side.BUY)]) for p in puts]
            if "collar" in kinds:
                structures += [
                    ("collar", [(p, Side.BUY), (c, Side.SELL)]) for p in puts for c in calls
                ]
            if "put_spread" in kinds:
                structures += [
                    ("put_spread", [(p, Side.BUY), (q, Side.SELL)])
                    for p in puts
                    for q in lower_puts
                    if q.contract.strike < p.contract.strike
                ]
            for name, legs in structures:
                out.append(await self._structure(name, legs, needed))
        return out

    async def _structure(
        self, name: str, legs: list[tuple[SeriesListing, Side]], needed: Decimal
    ) -> Candidate:
        assert self.book is not None
        per_unit = sum(
            (
                _unit_delta(self.policy, s, self.m) * (1 if side is Side.BUY else -1)
                for s, side in legs
            ),
            Decimal(0),
        )
        if per_unit >= 0:
            return self._refusal(name, "exposure.band", "this structure adds no negative delta")
        unit = legs[0][0].unit
        contracts = _round_up(needed / per_unit / unit)
        made: list[Leg] = []
        flow = Decimal(0)
        notional = Decimal(0)
        try:
            for s, side in legs:
                q = await self.book.quote(s, side, contracts)
                usd = _usd(q, s, contracts)
                flow += usd if side is Side.SELL else -usd
                notional += s.quantity(contracts) * s.contract.strike
                made.append(
                    Leg(
                        side=side,
                        quantity=s.quantity(contracts),
                        listing=s,
                        contracts=contracts,
                        quote=q,
                        usd=usd,
                    )
                )
        except OmsError as exc:
            return self._refusal(name, "quotes", str(exc))
        funds = self._funding_problem(made)
        if funds:
            return self._refusal(name, "funds", funds)
        return self.check(
            Candidate(
                instrument=name,
                legs=tuple(made),
                cost_usd=(-flow).quantize(Decimal("0.01")),
                notional_usd=notional.quantize(Decimal("0.01")),
                after=self.after(made, flow),
            )
        )

    def _funding_problem(self, legs: Sequence[Leg]) -> str:
        usd_need = Decimal(0)
        und_need = Decimal(0)
        for leg in legs:
            assert leg.listing is not None
            if leg.side is Side.BUY:
                usd_need += leg.usd
            elif leg.listing.contract.option_kind is OptionKind.PUT:
                usd_need += leg.quantity * leg.listing.contract.strike
            else:
                und_need += leg.quantity
        usd = self.m.balances.get(self.stable, Decimal(0))
        und = sum((self.m.balances.get(s, Decimal(0)) for s in self.natives), Decimal(0))
        if usd_need > usd:
            return f"needs {usd_need:,.2f} {self.stable} (premium and collateral), holds {usd:,.2f}"
        if und_need > und:
            under = self.policy.exposure.underlying
            return f"needs {und_need} {under} as call collateral, holds {und}"
        return ""


def _explain(plan_before: Measurement, chosen: Candidate, others: Sequence[Candidate]) -> str:
    assert chosen.after is not None
    lines = [
        f"chosen {chosen.label}: cost {chosen.cost_usd:,.2f} USD, delta share "
        f"{plan_before.delta_share:.4f} -> {chosen.after.delta_share:.4f}, 1-day VaR99 "
        f"{plan_before.var_1d:,.0f} -> {chosen.after.var_1d:,.0f} USD"
    ]
    if (chosen.legs and any(leg.listing is not None for leg in chosen.legs)) or plan_before.options:
        source = plan_before.marks.source if plan_before.marks else "flat instruments.vol"
        lines.append(f"options valued at {source}")
    for c in others:
        if c is chosen:
            continue
        if c.refused:
            lines.append(f"not {c.label or c.instrument}: refused by {c.refused} ({c.reason})")
        elif c.after is not None:
            lines.append(
                f"not {c.label}: costs {c.cost_usd:,.2f} USD (residual VaR {c.after.var_1d:,.0f})"
            )
    return "\n".join(lines)


async def make_plan(
    policy: TreasuryPolicy,
    before: Measurement,
    *,
    book: OptionBook | None,
    spot_quote: SpotQuoter | None,
    spent_usd: Decimal = Decimal(0),
    instruments: Sequence[str] | None = None,
) -> Plan:
    """Plan the hedge of the treasury measured as ``before``.

    ``spent_usd``: net option premium already spent in the current budget period;
    ``instruments``: restrict to these (each must be allowed by the policy).

    Raises:
        PolicyViolation: an instrument is not allowed (rule ``instruments.allowed``), the budget
            is exhausted (``limits.premium_budget_usd``), the treasury is below its band (only
            reductions are planned: ``exposure.band``), or no candidate passes the limits (the
            rules that refused them).
    """
    allowed = policy.instruments.allowed
    wanted = tuple(instruments) if instruments else allowed
    for name in wanted:
        if name not in allowed:
            raise PolicyViolation(
                f"instrument {name!r} is not allowed by the policy rule 'instruments.allowed' "
                f"({list(allowed)})",
                ["instruments.allowed"],
            )
    exp = policy.exposure
    target = (exp.target_share * before.equity / before.spot).quantize(_UNIT)
    needed = target - before.delta
    left = policy.limits.premium_budget_usd - spent_usd
    base = {
        "before": before,
        "target_delta": target,
        "needed_delta": needed,
        "budget_left_usd": left,
    }
    if _in_band(policy, before.delta_share):
        return Plan(
            **base,  # type: ignore[arg-type]
            explanation=(
                f"inside the band: delta share {before.delta_share:.4f} within "
                f"{exp.low():.4f}..{exp.high():.4f}; nothing to do"
            ),
        )
    if needed > 0:
        raise PolicyViolation(
            f"delta share {before.delta_share:.4f} is below the band of 'exposure.band' "
            f"({exp.low():.4f}); the treasury planner only reduces exposure",
            ["exposure.band"],
        )
    options = [n for n in wanted if n != "twap_sale"]
    planner = _Planner(policy, before, book, spot_quote, left)
    candidates: list[Candidate] = []
    if "twap_sale" in wanted:
        if spot_quote is None:
            raise InvalidInput("twap_sale is allowed but no spot quoter was given")
        candidates += await planner.sale(needed)
    if options:
        if book is None:
            raise InvalidInput("option hedges are allowed but no option book was given")
        candidates += await planner.options(needed, options)
    feasible = [c for c in candidates if c.refused is None and c.after is not None]
    if not feasible:
        rules = sorted({c.refused for c in candidates if c.refused}) or ["instruments.allowed"]
        detail = "; ".join(f"{c.instrument}: {c.reason}" for c in candidates) or "no candidate"
        raise PolicyViolation(
            f"no hedge passes the policy (rules {', '.join(rules)}): {detail}", rules
        )
    chosen = min(feasible, key=lambda c: (c.cost_usd, c.after.var_1d if c.after else 0))
    return Plan(
        **base,  # type: ignore[arg-type]
        candidates=tuple(candidates),
        chosen=chosen,
        explanation=_explain(before, chosen, candidates),
    )
