"""The optimizer's own view of a routing problem, shared by the optimizer and the baselines.

Both modes become one problem: maximize ``Σ value_i(x_i) − fixed_i·[x_i > 0]`` subject to
``Σ x_i = amount``, ``x_i = 0 or lo_i ≤ x_i ≤ cap_i`` and, per inventory group ``g``,
``Σ_{i∈g} spend_i(x_i) ≤ group_cap_g``.

- exact input: ``x`` is input, ``value`` the exact output, ``spend(x) = x``;
- exact output: ``x`` is output, ``value(y) = −cost(y)`` (the exact input, negated: concave
  where the input is convex), fixed costs in input units, ``spend(y) = cost(y)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from oms_chain.model.checks import MAX_UINT256, check_bool, check_int, shown
from oms_chain.model.errors import InvalidInput
from oms_chain.routing.sources import LiquiditySource


class Exact:
    """An exact integer function with memo (the same points are asked for repeatedly).

    A value that is not an ``int`` (a float, a Decimal, NaN from a user's function) raises
    :class:`InvalidInput` naming ``what``: one type check per new point, nothing per cached one.
    """

    __slots__ = ("broken", "cache", "fn", "what")

    def __init__(self, fn: Callable[[int], int], what: str = "output") -> None:
        self.fn = fn
        self.what = what
        self.cache: dict[int, int] = {0: 0}
        #: The error raised for a value that is not an int (kept so that searches which treat
        #: InvalidInput as "cannot deliver that much" can tell a broken function apart).
        self.broken: InvalidInput | None = None

    def __call__(self, x: int) -> int:
        value = self.cache.get(x)
        if value is None:
            value = self.fn(x)
            if type(value) is not int:
                self.broken = InvalidInput(
                    f"{self.what} must return an int of base units, returned {shown(value)} for {x}"
                )
                raise self.broken
            self.cache[x] = value
        return value


@dataclass(frozen=True, slots=True)
class Problem:
    """See the module docstring; lists are per source, ``group[i]`` is -1 outside any group."""

    sources: Sequence[LiquiditySource]
    amount: int
    values: Sequence[Exact]
    lo: Sequence[int]
    cap: Sequence[int]
    fixed: Sequence[int]
    group: Sequence[int]
    group_cap: Sequence[int]
    exact_output: bool = False
    conflicts: Sequence[tuple[int, int]] = ()

    def spend(self, i: int, x: int) -> int:
        """What ``x`` on source ``i`` takes from its inventory group (input base units)."""
        return -self.values[i](x) if self.exact_output else x

    def group_room_ok(self, x: Sequence[int]) -> bool:
        """True when no group spends more than its cap at allocation ``x``."""
        used = [0] * len(self.group_cap)
        for i, xi in enumerate(x):
            if xi and self.group[i] >= 0:
                used[self.group[i]] += self.spend(i, xi)
        return all(u <= c for u, c in zip(used, self.group_cap, strict=True))


def conflicts_of(sources: Sequence[LiquiditySource]) -> list[tuple[int, int]]:
    """Pairs of sources that trade through a common pool (never used together)."""
    return [
        (i, j)
        for i in range(len(sources))
        for j in range(i + 1, len(sources))
        if sources[i].pools & sources[j].pools
    ]


def group_index(
    sources: Sequence[LiquiditySource], inventories: dict[str, int]
) -> tuple[list[int], list[int]]:
    """Group index per source (-1: no cap applies) and the caps, for groups in ``inventories``."""
    names = sorted({s.inventory_group for s in sources if s.inventory_group in inventories})
    index: dict[str | None, int] = {name: k for k, name in enumerate(names)}
    group = [index.get(s.inventory_group, -1) for s in sources]
    return group, [inventories[name] for name in names if name is not None]


def check_request(
    sources: object,
    amount: object,
    name: str,
    inventories: object,
    compare_greedy: object = True,
) -> tuple[list[LiquiditySource], dict[str, int]]:
    """The sources as a list and the inventory caps as a dict, after checking a routing call's
    arguments (``name`` is the amount's argument name).

    Raises:
        InvalidInput: ``amount`` not an int in 1..2**256-1; ``sources`` not a non-empty
            sequence of :class:`LiquiditySource` with unique venues; ``inventories`` not a
            mapping of group name to an int >= 0; ``compare_greedy`` not a bool.
    """
    check_int(amount, f"{name} (base units)", minimum=1, maximum=MAX_UINT256)
    check_bool(compare_greedy, "compare_greedy")
    if isinstance(sources, str) or not isinstance(sources, Sequence):
        raise InvalidInput(
            f"sources must be a list of LiquiditySource, got {type(sources).__name__}"
        )
    if not sources:
        raise InvalidInput("no liquidity sources given: pass at least one venue to route over")
    for k, s in enumerate(sources):
        if not isinstance(s, LiquiditySource):
            raise InvalidInput(f"sources[{k}] must be a LiquiditySource, got {shown(s)}")
    venues = [s.venue for s in sources]
    if len(set(venues)) != len(venues):
        twice = sorted({str(v) for v in venues if venues.count(v) > 1})
        raise InvalidInput(
            f"sources: venue ids must be unique per route; repeated: {', '.join(twice)}"
        )
    if inventories is not None and not isinstance(inventories, Mapping):
        raise InvalidInput(
            f"inventories must map an inventory group to base units, got {shown(inventories)}"
        )
    caps = dict(inventories or {})
    for group, cap in caps.items():
        if not isinstance(group, str):
            raise InvalidInput(f"inventories key {shown(group)} must be an inventory group name")
        if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= MAX_UINT256:
            raise InvalidInput(
                f"inventory of group {group!r} must be an integer >= 0 base units, got {shown(cap)}"
            )
    return list(sources), caps


# -- the request side: what each source can take and deliver ---------------------------------


def input_cap(source: LiquiditySource, caps: Mapping[str, int]) -> int | None:
    """The most input the source may spend: inventory, depth and its group's balance."""
    limits = [
        v for v in (source.max_input, caps.get(source.inventory_group or "")) if v is not None
    ]
    return min(limits) if limits else None


def negated_cost(source: LiquiditySource) -> Callable[[int], int]:
    def value(amount_out: int) -> int:
        cost = source.cost(amount_out)
        return -cost if type(cost) is int else cost  # not an int: refused by Exact

    return value


def quoted(source: LiquiditySource, amount_in: int) -> int:
    got = source.quote(amount_in)
    if type(got) is not int:
        raise InvalidInput(
            f"source {source.venue}: output must return an int of base units, returned "
            f"{shown(got)} for {amount_in}"
        )
    return got


def max_output(source: LiquiditySource, value: Exact, amount_out: int, limit: int | None) -> int:
    """The largest output <= ``amount_out`` the source delivers for at most ``limit`` input."""

    def ok(y: int) -> bool:
        try:
            spent = -value(y)
        except InvalidInput:
            if value.broken is not None:  # the function itself is wrong: say so
                raise value.broken from None
            return False
        return limit is None or spent <= limit

    hint = 0
    if limit:
        try:
            hint = quoted(source, limit)
        except InvalidInput:
            hint = 0
    # what ``limit`` buys is less than the amount: do not quote the whole amount (on a V3 pool
    # that would walk the ticks far beyond the depth the source allows)
    if not 0 < hint < amount_out and ok(amount_out):
        return amount_out
    lo, hi = 0, amount_out  # ok(lo), not ok(hi)
    if limit:
        hint = min(hint, amount_out - 1)
        if hint > 0 and ok(hint):
            lo, step = hint, 1
            while lo + step < hi and ok(lo + step):
                lo += step
                step *= 2
            hi = min(hi, lo + step)
        elif hint > 0:
            hi = hint
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo


def min_output(source: LiquiditySource, value: Exact, min_size: int, top: int) -> int | None:
    """The smallest output whose input reaches ``min_size`` (``None``: not within ``top``)."""
    if min_size <= 0:
        return 0
    if -value(top) < min_size:
        return None
    lo, hi = 0, top  # input(lo) < min_size <= input(hi)
    try:
        hint = quoted(source, min_size - 1) + 1 if min_size > 1 else 1
    except InvalidInput:
        hint = 0
    if 0 < hint < top:
        if -value(hint) >= min_size:
            hi = hint
            if hint == 1 or -value(hint - 1) < min_size:
                return hint
        else:
            lo = hint
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if -value(mid) >= min_size:
            hi = mid
        else:
            lo = mid
    return hi
