"""A trading session: the engine wired to real venues, opened and closed in the right order.

:class:`TradingSession` is what a script, the ``oms swap`` / ``oms order`` commands and the demo
use: it opens the event store, builds the Uniswap venues of every configured chain for one
signer, a ccxt venue for an exchange when one is given, a routing splitter and the engine, then
starts the engine (replay of the store, reconciliation with every venue). On exit it stops the
engine first (no report is lost half-applied), then closes the venues and the store.

Two named constructors cover the usual cases: :meth:`TradingSession.from_devnet_runtime` (the
world started by ``oms devnet up``, from its runtime JSON) and :meth:`TradingSession.from_config`
(an :class:`~oms_chain.engine.OmsConfig` for real chains, secrets from the environment).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self

from oms_chain.custody.base import Signer
from oms_chain.custody.local import LocalSigner
from oms_chain.engine import Engine, EngineConfig, OmsConfig
from oms_chain.engine.algo_runner import VenueMarketData
from oms_chain.engine.split import RoutingSplitter
from oms_chain.model.checks import (
    check_instance,
    check_str,
)
from oms_chain.model.clock import Clock, SystemClock
from oms_chain.model.errors import InvalidInput, OmsError
from oms_chain.model.ids import OrderId
from oms_chain.model.intent import Intent
from oms_chain.model.orders import Order
from oms_chain.risk import RiskGate, RiskLimits
from oms_chain.service._session_accounts import account_executor, check_threshold
from oms_chain.service._session_checks import (
    check_own_venues,
    check_wait_args,
    is_settled,
)
from oms_chain.service._session_options import (
    OptionVenue,
    open_option_venues,
    options_exchange_from_runtime,
    options_from_config,
)
from oms_chain.service._session_sources import (
    endpoints_from_config,
    endpoints_from_runtime,
    safe_owners_from_config,
    threshold_group_from_config,
)
from oms_chain.service._session_venues import SessionVenues
from oms_chain.service._session_worker import worker_fence
from oms_chain.service.endpoints import (
    ChainEndpoint,
    ExchangeEndpoint,
    SafeOwners,
    ThresholdGroup,
    ccxt_venue_config,
    local_exchange_urls,
)
from oms_chain.service.worker import LeaseFence, Worker, account_resource
from oms_chain.store import EventStore, open_store
from oms_chain.store.url import redact_url
from oms_chain.venues.amm import UniswapVenues
from oms_chain.venues.amm.factory import open_uniswap_venues
from oms_chain.venues.base import Venue
from oms_chain.venues.cex import CcxtVenue

_log = logging.getLogger(__name__)

__all__ = [
    "ChainEndpoint",
    "ExchangeEndpoint",
    "SessionTimeout",
    "TradingSession",
    "is_settled",
    "local_exchange_urls",
]


class SessionTimeout(OmsError, TimeoutError):
    """An order did not reach the awaited state in time (it keeps working; nothing is undone)."""


class TradingSession(SessionVenues):
    """The engine over the Uniswap venues of ``chains`` (signed by ``signer``) and, optionally,
    an exchange. Use as ``async with``::

        async with TradingSession.from_devnet_runtime(runtime, "sqlite:///oms.db", key) as s:
            parent = await s.submit(s.intent("ETH/USDC", "sell", "10"))
            parent = await s.wait(parent.order_id)

    Args:
        store_url: event store (``sqlite:///path`` or ``postgresql://…``); a store that already
            holds orders is replayed and reconciled before anything new is sent.
        chains: chains to trade on (one Uniswap venue per V3 fee tier plus V2, per chain).
        signer: signs every on-chain transaction.
        exchange: an exchange to trade on as well, or ``None``.
        risk_limits / engine_config: the pre-trade gate's limits and the engine's settings.
        account: the account name recorded on intents built by :meth:`intent`.
        poll_interval: seconds between settlement polls of the chains (default: per chain).
        clock: injected clock (default: the system clock).
        venue_market_data: let algorithms observe the venues' liquidity (what the Sniper
            needs); volume questions (VWAP without a profile, participation caps) still fail.
        discover_pools: ``None`` (default): a chain whose address book lists no pools (a live
            chain, a fork) gets the pools its Uniswap factories know; a book that lists pools
            is pinned to them. ``True``: always discover; ``False``: never.
        refresh_pools: ask the factories again instead of trusting the pool cache.
        resume_parents: open algo / split parents of the store the engine works on at start
            (``True`` all, ``False`` none, or their ids; see :class:`~oms_chain.engine.Engine`).
        safe: trade from this Safe on every chain (its owners sign; ``signer`` is then the
            relayer that executes and pays gas); from a config, ``signer = "safe"`` accounts.
        options_exchange: a Deribit-protocol options exchange to trade options on as well; the
            on-chain options venue of a chain comes with its ``option_makers``.
        worker_id: run as one worker of several sharing the store (``oms worker``): the engine
            works only the parents this worker claims from the store's queue, under leases of
            ``lease_ttl_s`` seconds; :attr:`worker` runs the loop
            (:class:`~oms_chain.service.worker.Worker`). ``resume_parents`` is then ignored.
            A chain whose signer account another worker holds is not opened: the worker
            stands by for it (:meth:`~oms_chain.service.worker.Worker.stand_by`) and opens its
            venues when it takes the account over.
        threshold: trade from this FROST group's ThresholdAccount (on its one chain; the group
            signs, ``signer`` is the relayer); from a config, ``signer = "threshold"`` accounts.
        venues: venues built by the caller (a :class:`~oms_chain.venues.PaperVenue` for a dry
            run, an adapter of your own that passes :mod:`oms_chain.testing.venue`), traded
            beside the session's own; each lists its instruments
            (:class:`~oms_chain.venues.base.ListsInstruments`). The caller opens and closes them.

    Raises (on entering):
        InvalidInput / ConfigError: bad store URL, unknown chain, exchange without the market.
        ReconciliationFailed: a venue could not be reconciled; nothing is traded.
        VenueUnavailable: the exchange does not answer.
    """

    def __init__(
        self,
        *,
        store_url: str,
        chains: Sequence[ChainEndpoint],
        signer: Signer,
        exchange: ExchangeEndpoint | None = None,
        risk_limits: RiskLimits | None = None,
        engine_config: EngineConfig | None = None,
        account: str = "main",
        poll_interval: float | None = None,
        clock: Clock | None = None,
        venue_market_data: bool = False,
        discover_pools: bool | None = None,
        refresh_pools: bool = False,
        resume_parents: bool | Sequence[str] = True,
        safe: SafeOwners | None = None,
        options_exchange: ExchangeEndpoint | None = None,
        worker_id: str | None = None,
        lease_ttl_s: float = 15.0,
        threshold: ThresholdGroup | None = None,
        venues: Sequence[Venue] = (),
    ) -> None:
        own = check_own_venues(venues)
        if not chains and exchange is None and not own:
            raise InvalidInput("a trading session needs at least one chain, an exchange or a venue")
        ids = [c.chain_id for c in chains]
        if len(set(ids)) != len(ids):
            raise InvalidInput(f"chain listed twice in {ids}")
        if exchange is not None and exchange.reaches_production and not exchange.live:
            where = exchange.rest_url or f"{exchange.exchange}'s production API"
            raise InvalidInput(
                f"exchange {exchange.venue_id or exchange.exchange!r} would trade real money on "
                f"{where}; set live = true on the venue in the config (ExchangeEndpoint(live="
                "True)) to confirm, or testnet = true for the exchange's sandbox"
            )
        self._store_url = store_url
        self._chains = tuple(chains)
        self._signer = signer
        self._safe = safe
        self._threshold = check_threshold(threshold, safe, ids)
        self._exchange = exchange
        self._limits = risk_limits or RiskLimits()
        self._engine_config = engine_config or EngineConfig()
        self._account = account
        self._poll_interval = poll_interval
        self._clock = clock or SystemClock()
        self._venue_market_data = venue_market_data
        self._discover_pools = discover_pools
        self._refresh_pools = refresh_pools
        self._resume_parents = resume_parents
        self._options_exchange = options_exchange
        self._options: list[OptionVenue] = []
        self._own = own
        self._worker_id = worker_id
        self._lease_ttl_ns = int(lease_ttl_s * 1_000_000_000)
        self._worker: Worker | None = None
        self._store: EventStore | None = None
        self._uniswap: dict[int, UniswapVenues] = {}
        self._rpcs: list[Any] = []
        self._cex: CcxtVenue | None = None
        self._engine: Engine | None = None

    # --- named constructors --------------------------------------------------------------

    @classmethod
    def from_devnet_runtime(
        cls,
        runtime: Mapping[str, Any],
        store_url: str,
        key: str | Signer,
        *,
        chain_ids: Sequence[int] | None = None,
        with_exchange: bool = True,
        exchange_account: int = 0,
        with_options: bool = False,
        **kw: Any,
    ) -> Self:
        """A session on the world started by ``oms devnet up``: ``runtime`` is its runtime JSON
        (``{"pid": …, "chains": {…}}``) or the ``chains`` part itself (``Devnet.describe()``).

        Args:
            key: a hex private key or a signer.
            chain_ids: chains to trade on (default: every chain of the world).
            with_exchange: also trade on the exchange simulator when it runs.
            exchange_account: which of the simulator's API key pairs to use.
            with_options: also trade options: the on-chain market through the world's RFQ
                makers and the Deribit-protocol exchange when it runs.
            kw: passed to the constructor (``risk_limits``, ``engine_config``, ...).

        Raises:
            InvalidInput: the runtime JSON lacks a chain asked for, or is malformed.
        """
        chains, exchange = endpoints_from_runtime(
            runtime, chain_ids=chain_ids, with_exchange=with_exchange, account=exchange_account
        )
        signer = LocalSigner(key) if isinstance(key, str) else key
        if with_options:
            kw.setdefault(
                "options_exchange",
                options_exchange_from_runtime(runtime, account=exchange_account),
            )
        else:
            chains = [dataclasses.replace(c, option_makers=()) for c in chains]
        return cls(store_url=store_url, chains=chains, signer=signer, exchange=exchange, **kw)

    @classmethod
    def from_config(
        cls,
        config: OmsConfig,
        env: Mapping[str, str],
        *,
        account: str | None = None,
        store_url: str | None = None,
        with_exchange: bool = True,
        with_options: bool = False,
        **kw: Any,
    ) -> Self:
        """A session from a configuration file (:func:`oms_chain.engine.load_config`): every
        ``[[chains]]`` entry gets its Uniswap venues (address book from ``deployments/``), the
        first ``kind = "ccxt"`` venue is the exchange, ``account`` (default: the first
        ``[[accounts]]``) signs. Secrets (RPC URLs, API keys, key or keystore password) are read
        from ``env``. ``store_url`` overrides the config's store; ``with_exchange=False``
        leaves the exchange out; ``with_options=True`` also opens the ``kind = "options"``
        venues (the on-chain market of a chain with its RFQ makers, the first Deribit-protocol
        exchange).

        Raises:
            ConfigError: no account, an unsupported signer kind here, or a variable not set.
        """
        acct, signer, chains, exchange, store_url = endpoints_from_config(
            config, env, account=account, store_url=store_url, with_exchange=with_exchange
        )
        if with_options:
            chains, options_exchange = options_from_config(config, env, chains)
            kw.setdefault("options_exchange", options_exchange)
        kw.setdefault("safe", safe_owners_from_config(acct, env))
        kw.setdefault(
            "threshold", threshold_group_from_config(acct, env, [c.chain_id for c in chains])
        )
        kw.setdefault("risk_limits", config.risk)
        kw.setdefault("engine_config", config.engine)
        kw.setdefault("account", acct.name)
        return cls(store_url=store_url, chains=chains, signer=signer, exchange=exchange, **kw)

    # --- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        try:
            await self._open()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _open(self) -> None:
        self._store = open_store(self._store_url)
        venues: list[Venue] = []
        fence = None
        standby: list[ChainEndpoint] = []
        if self._worker_id is not None:
            leases, fence, standby = worker_fence(
                self._store,
                self._store_url,
                self._worker_id,
                self._lease_ttl_ns,
                self._chains,
                self._signer.address,
            )
        opening = [c for c in self._chains if c not in standby]
        for c in opening:
            venues.extend(await self._open_chain(c, fence))
        if self._exchange is not None:
            self._cex = CcxtVenue(ccxt_venue_config(self._exchange), clock=self._clock)
            await self._cex.start()
            venues.append(self._cex)
        self._options = await open_option_venues(
            opening, self._uniswap, self._options_exchange, self._clock
        )
        venues.extend(self._options)
        taken = {v.venue_id for v in venues}
        for v in self._own:
            if v.venue_id in taken:
                raise InvalidInput(
                    f"venue id {v.venue_id!r} is the session's own already; give yours another"
                )
        venues.extend(self._own)
        self._engine = Engine(
            store=self._store,
            venues=venues,
            risk=RiskGate(self._limits, clock=self._clock),
            clock=self._clock,
            config=self._engine_config,
            splitter=RoutingSplitter(),
            market_data=VenueMarketData(venues) if self._venue_market_data else None,
            resume_parents=self._resume_parents,
            fence=fence,
        )
        await self._engine.start()
        if fence is not None:
            self._worker = Worker(self._engine, leases, fence)
            for c in standby:  # another worker sends for the signer there: wait for it
                _log.info("worker %s stands by for chain %d", self._worker_id, c.chain_id)
                self._worker.stand_by(
                    account_resource(c.chain_id, self._signer.address),
                    functools.partial(self._join_chain, c, fence),
                )

    async def _open_chain(self, c: ChainEndpoint, fence: LeaseFence | None) -> list[Venue]:
        """Open the Uniswap venues of chain ``c`` for the signer (its account's sends fenced by
        the account lease in a worker) and start its settlement polling."""
        assert self._store is not None
        uni = await open_uniswap_venues(
            c.chain_id,
            c.rpc_url if isinstance(c.rpc_url, str) else list(c.rpc_url),
            self._signer,
            self._store,
            book=c.book,
            discover=self._discover_pools,
            refresh_pools=self._refresh_pools,
            poll_interval=self._poll_interval,
            executor=account_executor(
                c,
                safe=self._safe,
                threshold=self._threshold,
                store=self._store,
                clock=self._clock,
                rpcs=self._rpcs,
            ),
        )
        self._uniswap[c.chain_id] = uni
        if fence is not None:  # their sends use the account's nonces: fenced by it too
            fence.bind_venues(
                account_resource(c.chain_id, self._signer.address),
                [v.venue_id for v in uni.venues],
            )
        uni.account.start()
        return list(uni.venues)

    async def _join_chain(self, c: ChainEndpoint, fence: LeaseFence) -> list[Venue]:
        """A standby worker took chain ``c``'s account: open its venues now (the journals and
        nonces read from the store after the last holder's writes), options venue included."""
        venues = await self._open_chain(c, fence)
        options = await open_option_venues([c], self._uniswap, None, self._clock)
        self._options.extend(options)
        return venues + list(options)

    async def close(self) -> None:
        """Stop the engine, then close the exchange, the chains' venues and the store
        (each step runs even when an earlier one fails; failures are logged). Idempotent."""
        steps: list[tuple[str, Callable[[], Any]]] = []
        if self._engine is not None:
            steps.append(("engine", self._engine.stop))
        if self._cex is not None:
            steps.append(("exchange", self._cex.close))
        steps += [(f"options venue {v.venue_id}", v.close) for v in self._options]
        steps += [(f"chain {cid}", uni.close) for cid, uni in self._uniswap.items()]
        steps += [("account RPC client", rpc.close) for rpc in self._rpcs]
        for what, step in steps:
            try:
                await step()
            except Exception as exc:
                _log.warning("closing the session's %s failed: %r", what, exc)
        self._cex = None
        self._options = []
        self._uniswap.clear()
        self._rpcs.clear()
        if self._store is not None:
            try:
                self._store.close()
            except Exception as exc:
                _log.warning("closing the event store failed: %r", exc)
            self._store = None

    # --- what the session holds ----------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The running engine; raises :class:`InvalidInput` outside ``async with``."""
        if self._engine is None:
            raise InvalidInput("the trading session is not open; use `async with session:`")
        return self._engine

    @property
    def worker(self) -> Worker:
        """The worker loop of a session opened with ``worker_id``.

        Raises:
            InvalidInput: the session is no worker, or not open.
        """
        if self._worker is None:
            raise InvalidInput("this session is not a worker (give it worker_id) or not open")
        return self._worker

    @property
    def store(self) -> EventStore:
        """The open event store."""
        if self._store is None:
            raise InvalidInput("the trading session is not open; use `async with session:`")
        return self._store

    @property
    def signer(self) -> Signer:
        """Signs every on-chain transaction of the session."""
        return self._signer

    @property
    def store_url(self) -> str:
        """The event store's URL (a password in it redacted)."""
        return redact_url(self._store_url)

    @property
    def chains(self) -> tuple[ChainEndpoint, ...]:
        """The chains the session trades on."""
        return self._chains

    @property
    def chain_ids(self) -> tuple[int, ...]:
        return tuple(c.chain_id for c in self._chains)

    @property
    def exchange_endpoint(self) -> ExchangeEndpoint | None:
        """The exchange the session trades on (as configured), or ``None``."""
        return self._exchange

    @property
    def account(self) -> str:
        """The account name recorded on intents built by :meth:`intent`."""
        return self._account

    @property
    def exchange(self) -> CcxtVenue | None:
        """The exchange venue, when the session has one."""
        return self._cex

    async def submit(self, intent: Intent) -> Order:
        """Submit ``intent`` to the engine; returns the parent order (see
        :meth:`oms_chain.engine.Engine.submit` for what it raises)."""
        check_instance(intent, "intent", Intent, "an Intent (see TradingSession.intent)")
        return await self.engine.submit(intent)

    def children(self, order_id: OrderId) -> list[Order]:
        """The children of parent ``order_id`` as they stand now.

        Raises:
            InvalidInput: ``order_id`` is not a str. UnknownOrder: no such order.
        """
        check_str(order_id, "order_id")
        engine = self.engine
        return [engine.order(c) for c in engine.order(order_id).children]

    async def wait(
        self,
        order_id: OrderId,
        *,
        confirmations: int = 0,
        timeout: float | None = None,
        poll: float = 0.1,
        on_progress: Callable[[Order, list[Order]], None] | None = None,
    ) -> Order:
        """Wait until parent ``order_id`` is terminal and every child is settled
        (:func:`is_settled` with ``confirmations``); returns the parent.

        ``on_progress(parent, children)`` is called on every poll. Raises
        :class:`SessionTimeout` after ``timeout`` seconds (the order keeps working), and
        :class:`InvalidInput` for a bad argument (named).
        """
        check_wait_args(order_id, confirmations, timeout, poll, on_progress)
        engine = self.engine
        start = time.monotonic()
        while True:
            parent = engine.order(order_id)
            kids = self.children(order_id)
            if on_progress is not None:
                on_progress(parent, kids)
            if parent.is_terminal and all(is_settled(k, confirmations) for k in kids):
                return parent
            if timeout is not None and time.monotonic() - start > timeout:
                open_kids = [k.order_id for k in kids if not is_settled(k, confirmations)]
                raise SessionTimeout(
                    f"order {order_id} is {parent.status.value} after {timeout:g} s"
                    + (f"; unsettled children: {', '.join(open_kids)}" if open_kids else "")
                    + "; it keeps working: follow it with `oms orders`"
                )
            await asyncio.sleep(poll)
