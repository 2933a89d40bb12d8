"""Simple ways to fill an order, kept as baselines the optimizer is measured against."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from oms_chain.model.checks import check_callable, check_int, shown
from oms_chain.model.errors import InvalidInput
from oms_chain.model.ids import VenueId
from oms_chain.routing._problem import Exact, Problem, check_request, conflicts_of, group_index
from oms_chain.routing.plan import Baseline
from oms_chain.routing.sources import LiquiditySource, OutputFunction

__all__ = ["best_single", "greedy_split"]

_MAX_STEPS = 10_000


def _input_problem(
    sources: Sequence[LiquiditySource],
    amount_in: int,
    quotes: Sequence[OutputFunction] | None,
    inventories: Mapping[str, int] | None,
) -> Problem:
    sources, inventory_caps = check_request(sources, amount_in, "amount_in", inventories)
    if quotes is not None:
        if isinstance(quotes, str) or not isinstance(quotes, Sequence):
            raise InvalidInput(f"quotes must be a list of functions, got {shown(quotes)}")
        if len(quotes) != len(sources):
            raise InvalidInput(
                f"quotes must have one function per source: {len(quotes)} for {len(sources)}"
            )
        for k, q in enumerate(quotes):
            check_callable(q, f"quotes[{k}]", "a function of input base units")
    group, caps = group_index(sources, inventory_caps)
    quote = quotes or [s.quote for s in sources]
    return Problem(
        sources=sources,
        amount=amount_in,
        values=[
            q if isinstance(q, Exact) else Exact(q, f"source {s.venue}: quote")
            for q, s in zip(quote, sources, strict=True)
        ],
        lo=[s.min_size for s in sources],
        cap=[amount_in if s.max_input is None else min(s.max_input, amount_in) for s in sources],
        fixed=[s.fixed_cost for s in sources],
        group=group,
        group_cap=caps,
        conflicts=conflicts_of(sources),
    )


def _baseline(problem: Problem, name: str, net: int, alloc: Sequence[int]) -> Baseline:
    allocation: tuple[tuple[VenueId, int], ...] = tuple(
        (s.venue, a) for s, a in zip(problem.sources, alloc, strict=True) if a
    )
    if problem.exact_output:
        return Baseline(name=name, net_output=problem.amount, allocation=allocation, net_input=-net)
    return Baseline(name=name, net_output=net, allocation=allocation)


def best_single(
    sources: Sequence[LiquiditySource],
    amount_in: int,
    quotes: Sequence[OutputFunction] | None = None,
    *,
    inventories: Mapping[str, int] | None = None,
) -> Baseline | None:
    """The best net output from one source taking all of ``amount_in`` (``None``: none can).

    ``quotes`` may replace the sources' ``quote`` (e.g. memoized), one per source;
    ``inventories`` caps the input of inventory groups as in :func:`~oms_chain.routing.route`.

    Raises:
        InvalidInput: bad arguments as for :func:`~oms_chain.routing.route`, or ``quotes`` not
            one function per source.
    """
    return single_of(_input_problem(sources, amount_in, quotes, inventories))


def single_of(problem: Problem) -> Baseline | None:
    """:func:`best_single` on the optimizer's problem (either mode)."""
    amount = problem.amount
    best: tuple[int, int] | None = None
    for i in range(len(problem.sources)):
        if problem.cap[i] < amount or problem.lo[i] > amount:
            continue
        alloc = [0] * len(problem.sources)
        alloc[i] = amount
        if not problem.group_room_ok(alloc):
            continue
        net = problem.values[i](amount) - problem.fixed[i]
        if best is None or net > best[0]:
            best = (net, i)
    if best is None:
        return None
    net, i = best
    alloc = [0] * len(problem.sources)
    alloc[i] = amount
    return _baseline(problem, str(problem.sources[i].venue), net, alloc)


def greedy_split(
    sources: Sequence[LiquiditySource],
    amount_in: int,
    steps: int = 20,
    quotes: Sequence[OutputFunction] | None = None,
    *,
    inventories: Mapping[str, int] | None = None,
) -> Baseline | None:
    """The split of Uniswap's smart order router: ``steps`` equal chunks (5 % each by default),
    each given to the source whose exact net output grows most per unit of input by taking it
    (its fixed cost counts on first use). A source's first allocation is as many chunks as its
    minimum size needs; sources sharing a pool are not combined. ``None`` if the chunks cannot
    all be placed (inventory, depth, shared inventory groups). ``quotes`` may replace the
    sources' ``quote`` (e.g. memoized), one per source.

    Raises:
        InvalidInput: bad arguments as for :func:`~oms_chain.routing.route`, ``steps`` not an
            int in 1..10,000, or ``quotes`` not one function per source.
    """
    check_int(steps, "steps", minimum=1, maximum=_MAX_STEPS)
    return greedy_of(_input_problem(sources, amount_in, quotes, inventories), steps)


def greedy_of(problem: Problem, steps: int = 20) -> Baseline | None:
    """:func:`greedy_split` on the optimizer's problem (either mode: in exact-output mode the
    chunks are of output and each goes where it costs the least extra input)."""
    amount = problem.amount
    n = len(problem.sources)
    chunk, rest = divmod(amount, steps)
    sizes = [chunk] * steps
    sizes[-1] += rest
    sizes = [s for s in sizes if s > 0]
    value = problem.values
    alloc = [0] * n
    out = [0] * n
    used = [0] * len(problem.group_cap)
    rivals: list[set[int]] = [set() for _ in range(n)]
    for i, j in problem.conflicts:
        rivals[i].add(j)
        rivals[j].add(i)
    k = 0
    while k < len(sizes):
        best_i, best_take, best_gain, best_len = -1, 0, 0, 1
        for i in range(n):
            take, x = 0, alloc[i]
            while k + take < len(sizes) and (take == 0 or x < problem.lo[i]):
                x += sizes[k + take]
                take += 1
            if x > problem.cap[i] or x < problem.lo[i] or any(alloc[r] for r in rivals[i]):
                continue
            g = problem.group[i]
            if (
                g >= 0
                and used[g] + problem.spend(i, x) - problem.spend(i, alloc[i])
                > (problem.group_cap[g])
            ):
                continue
            gain = value[i](x) - out[i] - (problem.fixed[i] if alloc[i] == 0 else 0)
            length = x - alloc[i]
            # best gain per unit, compared exactly
            if best_i < 0 or gain * best_len > best_gain * length:
                best_i, best_take, best_gain, best_len = i, take, gain, length
        if best_i < 0:
            return None
        g = problem.group[best_i]
        if g >= 0:
            used[g] -= problem.spend(best_i, alloc[best_i])
        alloc[best_i] += best_len
        out[best_i] = value[best_i](alloc[best_i])
        if g >= 0:
            used[g] += problem.spend(best_i, alloc[best_i])
        k += best_take
    net = sum(o - f for o, a, f in zip(out, alloc, problem.fixed, strict=True) if a)
    return _baseline(problem, f"greedy-{steps}", net, alloc)
