"""Turn a planned hedge into Safe transactions.

* **Options** (puts, collars, put spreads): one proposal, a MultiSendCallOnly batch that wraps
  ETH when a sold call needs WETH collateral, moves the premium and collateral to the Safe's
  ``BatchExecutor``, and has the executor run every fill with its approvals in one
  ``execute`` — with an aggregate guard on the quote token (at most the quoted net premium
  leaves the executor), so a changed price cannot be filled.
* **Spot sale**: ``schedule.twap_slices`` proposals at consecutive Safe nonces, each wrapping
  its slice of ETH (when the Safe holds native ETH), approving the router for exactly the slice
  and swapping it with a minimum out of the quoted amount less ``limits.max_slippage_bps``; a
  slice may run from its ``not_before`` time (``schedule.slice_interval_s`` apart).

Every proposal carries the signatures the policy asks for at its size (the Safe's own
threshold is a floor the contract enforces).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from eth_typing import ChecksumAddress

from oms_chain.chain.addressbook import AddressBook, PoolEntry
from oms_chain.chain.rpc import RpcClient
from oms_chain.custody.safe import Call, SafeTransaction, TransactionBatch
from oms_chain.model.errors import ConfigError, InvalidInput
from oms_chain.model.instruments import OptionKind
from oms_chain.model.intent import Side
from oms_chain.treasury.options_book import ExpiredPosition
from oms_chain.treasury.plan import Candidate, SpotQuoter
from oms_chain.treasury.policy import AssetSpec, TreasuryPolicy
from oms_chain.venues.amm._calls import encode_call, eth_call

__all__ = ["Proposal", "SpotRouter", "build_proposals", "expiry_proposal", "spot_quoter"]

_QUOTE_TUPLE = "(address,address,uint256,bool,uint256,uint256,uint256,uint256,bool,uint256)"
_FILL = f"fill({_QUOTE_TUPLE},bytes,uint256)"
_EXECUTE = "execute((address,uint256,bytes,address,int256)[],(address,int256)[])"
_SWAP = "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
_QUOTE_V2 = "quoteExactInputSingle((address,address,uint256,uint24,uint160))"
_ZERO = "0x0000000000000000000000000000000000000000"
_SWAP_DEADLINE_S = 7 * 86_400
_V2_SWAP = "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)"


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    """One Safe transaction of a run, at Safe nonce ``nonce``.

    ``signatures``: owner signatures the policy needs (``rule`` says which approval rule);
    ``premium_usd``: net option premium it spends (counts against the budget); ``not_before``
    and ``expires`` are chain times in seconds (``expires``: the earliest quote deadline);
    ``expected_usd``: the quoted proceeds of a sale slice, or the quoted net premium flow of an
    option batch (negative: paid).
    """

    proposal_id: str
    index: int
    nonce: int
    kind: str
    calls: tuple[Call, ...]
    notional_usd: Decimal
    premium_usd: Decimal
    signatures: int
    rule: str
    description: str
    not_before: int = 0
    expires: int | None = None
    expected_usd: Decimal = Decimal(0)

    def safe_tx(self, policy: TreasuryPolicy, multisend: str) -> SafeTransaction:
        """The Safe transaction owners sign (what ``oms safe hash`` shows for the batch file)."""
        return SafeTransaction.batch(
            safe=policy.safe.address,
            chain_id=policy.safe.chain_id,
            nonce=self.nonce,
            calls=self.calls,
            multisend_call_only=multisend,
        )

    def batch(self, policy: TreasuryPolicy) -> TransactionBatch:
        """The Transaction Builder batch (``oms safe sign FILE --nonce N`` signs it)."""
        return TransactionBatch.of(
            policy.safe.chain_id, policy.safe.address, self.calls, name=self.description[:200]
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form (what the ``ProposalCreated`` event records)."""
        return {
            "proposal_id": self.proposal_id,
            "index": self.index,
            "nonce": self.nonce,
            "kind": self.kind,
            "calls": [
                {"to": c.to, "value": str(c.value), "data": "0x" + c.data.hex()} for c in self.calls
            ],
            "notional_usd": str(self.notional_usd),
            "premium_usd": str(self.premium_usd),
            "signatures": self.signatures,
            "rule": self.rule,
            "description": self.description,
            "not_before": self.not_before,
            "expires": self.expires,
            "expected_usd": str(self.expected_usd),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Proposal:
        """Back from :meth:`to_json`."""
        return cls(
            proposal_id=str(data["proposal_id"]),
            index=int(data["index"]),
            nonce=int(data["nonce"]),
            kind=str(data["kind"]),
            calls=tuple(Call(c["to"], c["data"], int(c["value"])) for c in data["calls"]),
            notional_usd=Decimal(data["notional_usd"]),
            premium_usd=Decimal(data["premium_usd"]),
            signatures=int(data["signatures"]),
            rule=str(data["rule"]),
            description=str(data["description"]),
            not_before=int(data["not_before"]),
            expires=None if data["expires"] is None else int(data["expires"]),
            expected_usd=Decimal(data.get("expected_usd", "0")),
        )


def _assets(policy: TreasuryPolicy) -> tuple[AssetSpec, AssetSpec | None, AssetSpec | None]:
    """(stable, wrapped token, native coin) of the exposure underlying."""
    under = policy.exposure.underlying
    stable = next(a for a in policy.assets if a.underlying is None)
    wrapped = next((a for a in policy.assets if a.underlying == under and not a.native), None)
    native = next((a for a in policy.assets if a.underlying == under and a.native), None)
    return stable, wrapped, native


def _addr(spec: AssetSpec) -> ChecksumAddress:
    if spec.address is None:
        raise ConfigError(f"policy asset {spec.symbol} needs an address here")
    return spec.address


def _units(spec: AssetSpec, qty: Decimal) -> int:
    return int((qty * Decimal(10) ** spec.decimals).to_integral_value(rounding=ROUND_DOWN))


def spot_quoter(rpc: RpcClient, policy: TreasuryPolicy) -> SpotQuoter:
    """A :data:`SpotQuoter` on QuoterV2 (``safe.quoter``) for wrapped-underlying -> stable."""
    stable, wrapped, _native = _assets(policy)
    if policy.safe.quoter is None or wrapped is None:
        raise ConfigError("policy key 'safe.quoter' and a wrapped underlying asset are needed")

    async def quote(units: Decimal) -> Decimal:
        amount = _units(wrapped, units)
        if amount <= 0:
            return Decimal(0)
        out, _p, _t, _g = await eth_call(
            rpc,
            str(policy.safe.quoter),
            encode_call(
                _QUOTE_V2, (wrapped.address, stable.address, amount, policy.safe.pool_fee, 0)
            ),
            ["uint256", "uint160", "uint32", "uint256"],
        )
        return Decimal(int(out)).scaleb(-stable.decimals)

    return quote


class SpotRouter:
    """Sales of the wrapped underlying for the stable split across every pool of the pair in
    the chain's ``book`` (Uniswap v2 and v3, one hop) by the router (:func:`~oms_chain.routing.
    route`: the best net output after gas); pool states are read once, at the first quote.

    :meth:`quote` is a :data:`~oms_chain.treasury.plan.SpotQuoter`; :meth:`split` gives each
    pool's input and quoted output, which :func:`build_proposals` turns into one swap per pool.
    """

    def __init__(self, rpc: RpcClient, policy: TreasuryPolicy, book: AddressBook) -> None:
        stable, wrapped, _native = _assets(policy)
        if wrapped is None:
            raise ConfigError("a routed sale needs the wrapped underlying listed in 'assets'")
        self.rpc, self.policy, self.book = rpc, policy, book
        self.sell, self.buy = _addr(wrapped), _addr(stable)
        self.wrapped, self.stable = wrapped, stable
        self._sources: list[Any] | None = None
        self._pools = {_venue(p): p for p in book.pools_for(self.sell, self.buy)}
        if not self._pools:
            raise ConfigError(
                f"policy key 'safe.route': the address book of chain {book.chain_id} lists no "
                f"pool for {wrapped.symbol}/{stable.symbol}"
            )

    async def split(self, amount: int) -> list[tuple[PoolEntry, int, int]]:
        """``(pool, input, quoted output)`` per pool used for ``amount`` base units."""
        from oms_chain.routing import route, sources_for_pair

        if self._sources is None:
            sell = _symbol(self.book, self.sell)
            buy = _symbol(self.book, self.buy)
            self._sources = await sources_for_pair(self.rpc, self.book, sell, buy, paths=False)
        plan = route(self._sources, amount, compare_greedy=False, max_price_impact_bps=None)
        return [
            (self._pools[leg.venue], leg.amount_in, leg.amount_out)
            for leg in plan.legs
            if leg.amount_in > 0
        ]

    async def quote(self, units: Decimal) -> Decimal:
        """What selling ``units`` across the pools gives (whole stable units)."""
        amount = _units(self.wrapped, units)
        if amount <= 0:
            return Decimal(0)
        out = sum(o for _p, _i, o in await self.split(amount))
        return Decimal(out).scaleb(-self.stable.decimals)


def _venue(pool: PoolEntry) -> str:
    from oms_chain.routing.live import pool_venue_id

    return pool_venue_id(pool)


def _symbol(book: AddressBook, address: str) -> str:
    for sym, tok in book.tokens.items():
        if tok.address.lower() == address.lower():
            return sym
    raise ConfigError(f"token {address} is not in the address book of chain {book.chain_id}")


def _option_calls(
    policy: TreasuryPolicy, chosen: Candidate, weth_held: Decimal
) -> tuple[list[Call], int]:
    stable, wrapped, _native = _assets(policy)
    executor = policy.safe.options_executor
    market = policy.safe.options_market
    assert executor is not None and market is not None
    usd_in = 0  # stable units moved to the executor
    und_in = 0  # wrapped-underlying units moved to the executor
    inner: list[tuple[Any, ...]] = []
    net = 0  # guard: stable change across the batch
    expires: list[int] = []
    for leg in chosen.legs:
        listing, q = leg.listing, leg.quote
        if listing is None or q is None:
            raise InvalidInput("an option proposal needs option legs with quotes")
        premium = q.premium * leg.contracts
        expires.append(q.deadline)
        if leg.side is Side.BUY:
            token, pull = listing.quote, premium
            usd_in += premium
            net -= premium
        else:
            token = listing.collateral_token
            pull = leg.contracts * listing.collateral_per_contract
            net += premium
            if listing.contract.option_kind is OptionKind.PUT:
                usd_in += pull
                net -= pull
            else:
                und_in += pull
        fill = encode_call(_FILL, q.as_tuple(), q.signature, leg.contracts)
        inner.append((token, 0, encode_call("approve(address,uint256)", market, pull), _ZERO, 0))
        inner.append((market, 0, fill, _ZERO, 0))
    calls: list[Call] = []
    if und_in:
        if wrapped is None:
            raise ConfigError("a sold call needs the wrapped underlying listed in 'assets'")
        short = und_in - _units(wrapped, weth_held)
        if short > 0:
            calls.append(Call(_addr(wrapped), encode_call("deposit()"), short))
        calls.append(
            Call(
                _addr(wrapped),
                encode_call("transfer(address,uint256)", executor, und_in),
            )
        )
    if usd_in:
        calls.append(
            Call(
                _addr(stable),
                encode_call("transfer(address,uint256)", executor, usd_in),
            )
        )
    guard = [(stable.address, net)]
    calls.append(Call(executor, encode_call(_EXECUTE, inner, guard)))
    return calls, min(expires)


async def build_proposals(
    policy: TreasuryPolicy,
    chosen: Candidate,
    *,
    run_id: str,
    first_nonce: int,
    now_s: int,
    balances: dict[str, Decimal],
    spot_quote: SpotQuoter | None = None,
    router: SpotRouter | None = None,
) -> list[Proposal]:
    """The Safe transactions for ``chosen`` from Safe nonce ``first_nonce`` on.

    ``balances``: the Safe's holdings (to wrap only the ETH a call's collateral lacks);
    ``spot_quote`` (spot sales): prices each slice for its minimum out; with ``router`` each
    slice is split across pools instead (one approve + swap per pool, each with its own
    minimum out).
    """
    stable, wrapped, native = _assets(policy)
    if chosen.instrument != "twap_sale":
        weth = balances.get(wrapped.symbol, Decimal(0)) if wrapped else Decimal(0)
        calls, expires = _option_calls(policy, chosen, weth)
        needed, rule = policy.signatures_needed(abs(chosen.notional_usd))
        return [
            Proposal(
                proposal_id=f"{run_id}-p0",
                index=0,
                nonce=first_nonce,
                kind=chosen.instrument,
                calls=tuple(calls),
                notional_usd=chosen.notional_usd,
                premium_usd=chosen.cost_usd,
                signatures=needed,
                rule=rule,
                description=f"treasury hedge {run_id}: {chosen.label}"[:200],
                not_before=now_s,
                expires=expires,
                expected_usd=-chosen.cost_usd,
            )
        ]
    if wrapped is None or policy.safe.swap_router is None or spot_quote is None:
        raise ConfigError("a spot sale needs 'safe.swap_router', a quoter and a wrapped asset")
    (leg,) = chosen.legs
    n = policy.schedule.twap_slices
    total = _units(wrapped, leg.quantity)
    sizes = [total // n + (1 if i < total % n else 0) for i in range(n)]
    weth_units = _units(wrapped, balances.get(wrapped.symbol, Decimal(0)))
    swap_router = policy.safe.swap_router
    slippage = policy.limits.max_slippage_bps
    out: list[Proposal] = []
    index_usd = chosen.notional_usd / total if total else Decimal(0)
    for i, size in enumerate(s for s in sizes if s > 0):
        slice_units = Decimal(size).scaleb(-wrapped.decimals)
        split = await router.split(size) if router is not None else None
        if split is None:
            quoted = await spot_quote(slice_units)
            min_out = _units(stable, quoted * (10_000 - slippage) / 10_000)
        else:
            quoted = Decimal(sum(o for _p, _a, o in split)).scaleb(-stable.decimals)
            min_out = sum(o * (10_000 - slippage) // 10_000 for _p, _a, o in split)
        calls = []
        from_weth = min(size, weth_units)
        weth_units -= from_weth
        if size - from_weth > 0:
            if native is None:
                raise InvalidInput(f"the Safe lacks {wrapped.symbol} for slice {i + 1}")
            calls.append(
                Call(
                    _addr(wrapped),
                    encode_call("deposit()"),
                    size - from_weth,
                )
            )
        deadline = now_s + policy.schedule.slice_interval_s * i + _SWAP_DEADLINE_S
        via = ""
        if split is None:
            calls += _swap_calls(policy, swap_router, policy.safe.pool_fee, size, min_out, deadline)
        else:
            assert router is not None
            for pool, amount, got in split:
                leg_min = got * (10_000 - slippage) // 10_000
                if pool.protocol == "uniswap-v2":
                    v2 = router.book.address("UniswapV2Router02")
                    path = [wrapped.address, stable.address]
                    v2_args = (amount, leg_min, path, policy.safe.address, deadline)
                    calls.append(
                        Call(_addr(wrapped), encode_call("approve(address,uint256)", v2, amount))
                    )
                    calls.append(Call(v2, encode_call(_V2_SWAP, *v2_args)))
                else:
                    calls += _swap_calls(policy, swap_router, pool.fee, amount, leg_min, deadline)
            via = " via " + ", ".join(
                f"{_venue(pool)} {Decimal(100 * amount / size):.0f} %" for pool, amount, _o in split
            )
        notional = (index_usd * size).quantize(Decimal("0.01"))
        needed, rule = policy.signatures_needed(notional)
        out.append(
            Proposal(
                proposal_id=f"{run_id}-p{i}",
                index=i,
                nonce=first_nonce + i,
                kind="twap_sale",
                calls=tuple(calls),
                notional_usd=notional,
                premium_usd=Decimal(0),
                signatures=needed,
                rule=rule,
                description=(
                    f"treasury hedge {run_id}: TWAP slice {i + 1}/{n}, sell {slice_units} "
                    f"{wrapped.symbol} for at least {Decimal(min_out).scaleb(-stable.decimals)} "
                    f"{stable.symbol}{via}"
                )[:200],
                not_before=now_s + policy.schedule.slice_interval_s * i,
                expected_usd=quoted,
            )
        )
    return out


def _swap_calls(
    policy: TreasuryPolicy,
    router: ChecksumAddress,
    fee: int,
    amount: int,
    min_out: int,
    deadline: int,
) -> list[Call]:
    """Approve the v3 ``router`` for exactly ``amount`` and swap it on the pool of ``fee``."""
    stable, wrapped, _native = _assets(policy)
    assert wrapped is not None
    args = (
        wrapped.address, stable.address, fee, policy.safe.address, deadline, amount, min_out, 0,
    )  # fmt: skip
    return [
        Call(_addr(wrapped), encode_call("approve(address,uint256)", router, amount)),
        Call(router, encode_call(_SWAP, args)),
    ]


def expiry_proposal(
    policy: TreasuryPolicy,
    expired: list[ExpiredPosition],
    *,
    run_id: str,
    nonce: int,
    now_s: int,
) -> Proposal:
    """One Safe transaction closing out ``expired``: the market's ``settle`` for each series
    not settled yet, then one ``BatchExecutor.execute`` that redeems every long and withdraws
    every short (the payouts land in the executor). Its notional (contracts times strike)
    picks the approval rule; it spends no premium."""
    market, executor = policy.safe.options_market, policy.safe.options_executor
    if market is None or executor is None:
        raise ConfigError("closing out options needs 'safe.options_market' and 'options_executor'")
    if not expired:
        raise InvalidInput("expiry_proposal needs at least one expired position")
    calls: list[Call] = []
    settled: set[int] = set()
    inner = []
    notional = Decimal(0)
    labels = []
    for e in expired:
        sid = e.listing.series_id
        if e.settle is not None and sid not in settled:
            calls.append(Call(market, e.settle))
            settled.add(sid)
        name = "redeem" if e.long else "withdraw"
        inner.append(
            (market, 0, encode_call(f"{name}(uint256,uint256)", sid, e.contracts), _ZERO, 0)
        )
        notional += e.listing.quantity(e.contracts) * e.listing.contract.strike
        labels.append(f"{name} {e.contracts} x {e.listing.contract.symbol}")
    calls.append(Call(executor, encode_call(_EXECUTE, inner, [])))
    needed, rule = policy.signatures_needed(notional)
    return Proposal(
        proposal_id=f"{run_id}-p0",
        index=0,
        nonce=nonce,
        kind="expiry",
        calls=tuple(calls),
        notional_usd=notional.quantize(Decimal("0.01")),
        premium_usd=Decimal(0),
        signatures=needed,
        rule=rule,
        description=f"treasury expiry {run_id}: settle {len(settled)} series, " + ", ".join(labels),
        not_before=now_s,
    )
