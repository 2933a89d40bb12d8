"""Keep a set of Uniswap V2 / V3 pool states fresh from their logs, safely through reorgs.

:class:`PoolFollower` loads every pool at one block, then walks the canonical chain block by
block: V2 ``Sync`` and V3 ``Swap`` / ``Mint`` / ``Burn`` logs of each new block are applied with
the pools' own ``apply_*`` methods. New blocks are noticed from a ``newHeads`` subscription when
the :class:`~oms_chain.chain.rpc.RpcClient` has a websocket URL, else by polling; the logs of a
block always come from ``eth_getLogs`` (by block hash for the next block, by block range when
catching up, every log checked against the header chain), because a ``logs`` subscription cannot
say when a block's logs are complete. In websocket mode a ``logs`` subscription on the pools is
still kept, as an early reorg signal (``removed`` logs, or logs of a block we applied under
another hash); Anvil sends no ``removed`` logs on ``anvil_reorg``, so the block-hash checks are
what catch a reorg there.

Reorgs: every applied block is remembered with its hash and the states after it (the last
``history_depth`` blocks). A head whose parent is not the last applied block, a ``removed`` log,
or a canonical hash that differs from the one applied at that height rolls the states back to
the newest common block and applies the new branch; a fork deeper than the history reloads every
pool at the new head. New states are computed in full and then swapped in at once, so a reader
never sees a state that mixes two branches.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from eth_utils import to_checksum_address

from oms_chain.chain.rpc import RpcClient, RpcError, RpcUnavailable
from oms_chain.chain.ws import Head, LogEntry, LogFilter, Subscription
from oms_chain.model.errors import ConfigError, InvalidInput, OmsError, RetryableError
from oms_chain.venues.amm.pool_logs import POOL_TOPICS, PoolState, apply_log, off_centre
from oms_chain.venues.amm.v2_math import DEFAULT_FEE_BPS
from oms_chain.venues.amm.v2_pool import fetch_v2_pool
from oms_chain.venues.amm.v3_pool import fetch_v3_pool

__all__ = [
    "FollowerLagging",
    "FollowerStopped",
    "PoolFollower",
    "PoolFollowerConfig",
    "PoolState",
]

_log = logging.getLogger(__name__)


class FollowerStopped(OmsError, RuntimeError):
    """The follower is not running (never started, closed, or its loop failed: see the cause)."""


class FollowerLagging(RetryableError, TimeoutError):
    """The follower did not reach the requested block in time (node slow or unreachable)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolFollowerConfig:
    """Settings of a :class:`PoolFollower` (keyword-only; unknown keys are a ``TypeError``).

    ``history_depth``: blocks of per-block states kept for rollbacks (deeper reorgs reload).
    ``poll_interval``: seconds between polls without a websocket, and between retries after a
    node error. ``idle_check``: with a websocket, seconds without a head after which the chain is
    checked anyway. ``max_log_range``: blocks per ``eth_getLogs`` / header batch when catching up.
    ``reload_after_blocks``: when further behind than this, reload instead of replaying logs.
    ``v3_word_radius``: bitmap words loaded around the current tick (``None``: all, so quotes
    never run out of tick data); a pool whose price walks into the outer half of its window is
    reloaded around the new price at the head where that happened. ``v2_fee_bps``: V2 fee.
    """

    history_depth: int = 64
    poll_interval: float = 0.25
    idle_check: float = 2.0
    max_log_range: int = 500
    reload_after_blocks: int = 5000
    v3_word_radius: int | None = None
    v2_fee_bps: int = DEFAULT_FEE_BPS

    def __post_init__(self) -> None:
        for key in ("history_depth", "max_log_range", "reload_after_blocks"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        for key in ("poll_interval", "idle_check"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{key} must be > 0 seconds, got {getattr(self, key)}")
        if self.v3_word_radius is not None and self.v3_word_radius < 0:
            raise ConfigError(f"v3_word_radius must be >= 0 or None, got {self.v3_word_radius}")
        if not 0 <= self.v2_fee_bps < 10_000:
            raise ConfigError(f"v2_fee_bps must be in [0, 10000), got {self.v2_fee_bps}")


@dataclass(frozen=True, slots=True)
class _Applied:
    """One applied block and the pool states right after it."""

    head: Head
    states: Mapping[str, PoolState]


class _Raced(Exception):
    """Internal: the chain changed while a round was reading it; the round is redone."""


class PoolFollower:
    """Pool states kept equal to the canonical chain at the last applied head.

    ``v2_pools`` / ``v3_pools`` are pool addresses. Call :meth:`start` (or use ``async with``),
    then read :meth:`state`; :meth:`wait_for_block` and :meth:`catch_up` wait for progress. The
    follower uses ``rpc.ws`` for new heads when ``rpc`` has a websocket URL, else it polls.
    """

    def __init__(
        self,
        rpc: RpcClient,
        *,
        v2_pools: Sequence[str] = (),
        v3_pools: Sequence[str] = (),
        config: PoolFollowerConfig | None = None,
    ) -> None:
        if not v2_pools and not v3_pools:
            raise InvalidInput("PoolFollower needs at least one V2 or V3 pool address")
        self.rpc = rpc
        self.config = config or PoolFollowerConfig()
        self._kinds: dict[str, str] = {}
        for kind, addresses in (("v2", v2_pools), ("v3", v3_pools)):
            for address in addresses:
                try:
                    key = to_checksum_address(address).lower()
                except ValueError as exc:
                    raise InvalidInput(f"not a pool address: {address!r}") from exc
                if key in self._kinds:
                    raise InvalidInput(f"pool {address} is listed twice")
                self._kinds[key] = kind
        self._filter = LogFilter(
            addresses=tuple(to_checksum_address(a) for a in self._kinds),
            topics=(POOL_TOPICS,),
        )
        self._states: dict[str, PoolState] = {}
        self._history: deque[_Applied] = deque(maxlen=self.config.history_depth)
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._hint: Head | None = None
        self._suspect = False
        self._tasks: list[asyncio.Task[None]] = []
        self._subs: list[Subscription[Any]] = []
        self._failure: Exception | None = None
        self._running = False
        self._subscribed = False
        #: Counters, for monitoring and tests: blocks applied, rollbacks, full reloads, and
        #: V3 pools reloaded around a price that walked towards the edge of their word window.
        self.blocks_applied = 0
        self.rollbacks = 0
        self.reloads = 0
        self.recentres = 0

    async def __aenter__(self) -> PoolFollower:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- reading -----------------------------------------------------------------------------------

    @property
    def head(self) -> Head | None:
        """The last applied block (``None`` before :meth:`start`)."""
        return self._history[-1].head if self._history else None

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`close`, unless the loop failed."""
        return self._running and self._failure is None

    @property
    def pools(self) -> tuple[str, ...]:
        """The followed pool addresses (checksummed)."""
        return tuple(to_checksum_address(a) for a in self._kinds)

    def state(self, pool_address: str) -> PoolState:
        """The pool's state at :attr:`head` (its ``block_number`` is the head's number).

        Raises :class:`InvalidInput` for a pool not followed, :class:`FollowerStopped` before
        :meth:`start`.
        """
        key = pool_address.lower()
        if key not in self._kinds:
            raise InvalidInput(f"pool {pool_address} is not followed by this PoolFollower")
        if not self._states:
            raise FollowerStopped("PoolFollower has not loaded its pools yet: call start()")
        return self._states[key]

    def states(self) -> dict[str, PoolState]:
        """Every followed pool's state at :attr:`head`, by checksummed address (one snapshot)."""
        return {to_checksum_address(a): s for a, s in self._states.items()}

    async def wait_for_block(
        self, number: int, *, block_hash: str | None = None, timeout: float = 10.0
    ) -> Head:
        """Wait until the states include block ``number`` (and, if given, that this block is the
        one with ``block_hash``); returns the head applied then.

        Raises :class:`FollowerLagging` after ``timeout`` seconds and :class:`FollowerStopped` if
        the follower stops or fails.
        """
        wanted = block_hash.lower() if block_hash is not None else None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._failure is not None or not self._running:
                raise FollowerStopped(
                    f"PoolFollower stopped before block {number}"
                ) from self._failure
            head = self.head
            if head is not None and head.number >= number:
                if wanted is None:
                    return head
                if any(a.head.number == number and a.head.hash == wanted for a in self._history):
                    return head
            left = deadline - loop.time()
            if left <= 0:
                at = f"block {head.number} ({head.hash})" if head else "nothing loaded"
                raise FollowerLagging(
                    f"PoolFollower did not reach block {number}"
                    f"{f' with hash {wanted}' if wanted else ''} in {timeout}s; it is at {at}"
                )
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, 0.5)):
                    await changed.wait()

    async def updates(self) -> AsyncIterator[Head]:
        """Each change of the states as it is applied (a new block, a reorg's new branch, a
        reload), as the head applied then; updates that come faster than they are read are
        coalesced into the newest. Ends when the follower stops.

        Raises :class:`FollowerStopped` if the follower fails.
        """
        changed = self._changed
        while True:
            if self._failure is not None:
                raise FollowerStopped("PoolFollower failed") from self._failure
            if not self._running:
                return
            await changed.wait()
            changed = self._changed  # taken before yielding: a change meanwhile is not lost
            head = self.head
            if head is not None and self._running:
                yield head

    async def catch_up(self, timeout: float = 10.0) -> Head:
        """Wait until the states are at the node's current latest block (as the node sees it
        now); returns that head. Raises as :meth:`wait_for_block`."""
        latest = await self._header("latest")
        self._wake.set()
        return await self.wait_for_block(latest.number, block_hash=latest.hash, timeout=timeout)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load every pool at the latest block and start following.

        Raises what loading raises (:class:`RpcUnavailable`, :class:`InvalidInput` for an address
        that is not a pool of that kind).
        """
        if self._running:
            return
        self._running = True
        try:
            ws = self.rpc.ws
            if ws is not None:
                heads = await ws.subscribe_heads()
                logs = await ws.subscribe_logs(self._filter)
                self._subs = [heads, logs]
                self._subscribed = True
            await self._reload(await self._header("latest"))
        except BaseException:
            await self.close()
            raise
        self._tasks.append(asyncio.create_task(self._run(), name="pool-follower"))
        for sub in self._subs:
            self._tasks.append(asyncio.create_task(self._pump(sub), name=f"follower-{sub.kind}"))

    async def close(self) -> None:
        """Stop following (the last states stay readable)."""
        self._running = False
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs = []
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks = []
        self._notify()

    # -- the loop ----------------------------------------------------------------------------------

    async def _pump(self, sub: Subscription[Any]) -> None:
        try:
            async for item in sub:
                if isinstance(item, Head):
                    self._hint = item
                elif isinstance(item, LogEntry):
                    if not item.removed and not self._conflicts(item):
                        continue
                    self._suspect = True
                self._wake.set()
        except RpcUnavailable as exc:
            _log.warning("pool follower lost its %s subscription (%s); polling", sub.kind, exc)
        self._subscribed = False

    def _conflicts(self, log: LogEntry) -> bool:
        """A log of a block we applied under another hash: our branch is no longer canonical."""
        return any(
            a.head.number == log.block_number and a.head.hash != log.block_hash
            for a in self._history
        )

    async def _run(self) -> None:
        cfg = self.config
        try:
            while self._running:
                try:
                    await self._round()
                except (RpcError, RpcUnavailable, RetryableError, _Raced, InvalidInput) as exc:
                    _log.info("pool follower round failed, retrying: %s", exc)
                    await asyncio.sleep(cfg.poll_interval)
                    continue
                if self._hint is not None or self._suspect:
                    continue
                self._wake.clear()
                wait = cfg.idle_check if self._subscribed else cfg.poll_interval
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()
        except Exception as exc:
            _log.exception("pool follower stopped")
            self._failure = exc
            self._running = False
            self._notify()

    async def _round(self) -> None:
        await self._advance()
        await self._recentre()

    async def _recentre(self) -> None:
        """Reload, at the applied head, every V3 pool whose price walked into the outer half of
        its loaded bitmap words (``v3_word_radius``), so quotes around the price never run out
        of tick data. The new state is swapped in only if the head is still canonical."""
        radius = self.config.v3_word_radius
        if radius is None:
            return
        last = self._history[-1]
        stale = [k for k, st in last.states.items() if off_centre(st, radius)]
        if not stale:
            return
        fresh: dict[str, PoolState] = {}
        for key in stale:
            fresh[key] = await fetch_v3_pool(
                self.rpc,
                to_checksum_address(key),
                word_radius=radius,
                block_identifier=last.head.number,
            )
        check = await self._header(last.head.number)
        if check.hash != last.head.hash or self._history[-1] is not last:
            raise _Raced(f"block {last.head.number} changed while re-centring pools")
        states = {**last.states, **fresh}
        self._history[-1] = _Applied(last.head, states)
        self._states = states
        self.recentres += len(fresh)
        self._notify()

    async def _advance(self) -> None:
        last = self._history[-1]
        hint, self._hint = self._hint, None
        suspect, self._suspect = self._suspect, False
        if (
            hint is not None
            and not suspect
            and hint.number == last.head.number + 1
            and hint.parent_hash == last.head.hash
        ):
            raws = await self.rpc.call("eth_getLogs", [self._filter.to_rpc(blockHash=hint.hash)])
            logs = [LogEntry.from_rpc(r) for r in raws or []]
            if any(log.block_hash != hint.hash for log in logs):
                raise _Raced(f"eth_getLogs for block {hint.hash} answered logs of another block")
            self._commit(last, [hint], logs)
            return
        await self._general()

    async def _general(self) -> None:
        """Bring the states to the node's latest block, rolling back first on a fork."""
        cfg = self.config
        last = self._history[-1]
        latest = await self._header("latest")
        if latest.hash == last.head.hash:
            return
        if latest.number - last.head.number > cfg.reload_after_blocks:
            await self._reload(latest)
            return
        base: _Applied | None = last
        new: list[Head] = []
        if latest.number >= last.head.number:
            headers = await self._headers(last.head.number, latest.number)
            if headers[0].hash == last.head.hash:
                new = headers[1:]
            else:
                base = None
        else:
            base = None
        if base is None:
            base = await self._common_ancestor(min(last.head.number, latest.number))
            if base is None:
                _log.warning("reorg deeper than %d blocks: reloading pools", cfg.history_depth)
                await self._reload(latest)
                return
            new = await self._headers(base.head.number + 1, latest.number)
            self.rollbacks += 1
        parent = base.head.hash
        for head in new:
            if head.parent_hash != parent:
                raise _Raced(f"block {head.number} does not extend {parent}")
            parent = head.hash
        logs = await self._logs(new) if new else []
        if new:
            check = await self._header(new[-1].number)
            if check.hash != new[-1].hash:
                raise _Raced(f"block {new[-1].number} changed while reading its logs")
        self._commit(base, new, logs)

    async def _common_ancestor(self, top: int) -> _Applied | None:
        candidates = [a for a in self._history if a.head.number <= top]
        if not candidates:
            return None
        canonical = await self._headers(candidates[0].head.number, top, linked=False)
        by_number = {h.number: h.hash for h in canonical}
        for applied in reversed(candidates):
            if by_number.get(applied.head.number) == applied.head.hash:
                return applied
        return None

    def _commit(self, base: _Applied, new: Sequence[Head], logs: Sequence[LogEntry]) -> None:
        """Apply ``logs`` of blocks ``new`` on top of ``base`` and swap the result in at once."""
        by_block: dict[int, list[LogEntry]] = {}
        for log in logs:
            by_block.setdefault(log.block_number, []).append(log)
        states = dict(base.states)
        entries: list[_Applied] = []
        keep_from = len(new) - self.config.history_depth
        for i, head in enumerate(new):
            for log in sorted(by_block.get(head.number, ()), key=lambda x: x.log_index):
                key = log.address.lower()
                if key in states:
                    states[key] = apply_log(states[key], log)
            if i >= keep_from:
                entries.append(_Applied(head, dict(states)))
        head = new[-1] if new else base.head
        final = {
            k: s if s.block_number == head.number else replace(s, block_number=head.number)
            for k, s in states.items()
        }
        while self._history and self._history[-1].head.number > base.head.number:
            self._history.pop()
        if entries:
            entries[-1] = _Applied(head, final)
        else:
            self._history[-1] = _Applied(head, final)
        self._history.extend(entries)
        self._states = final
        self.blocks_applied += len(new)
        self._notify()

    async def _reload(self, at: Head) -> None:
        """Load every pool at block ``at`` and make that the only history."""
        cfg = self.config
        states: dict[str, PoolState] = {}
        for key, kind in self._kinds.items():
            address = to_checksum_address(key)
            state: PoolState
            if kind == "v2":
                state = await fetch_v2_pool(
                    self.rpc, address, fee_bps=cfg.v2_fee_bps, block_identifier=at.number
                )
            else:
                state = await fetch_v3_pool(
                    self.rpc,
                    address,
                    word_radius=cfg.v3_word_radius,
                    block_identifier=at.number,
                )
            states[key] = state
        check = await self._header(at.number)
        if check.hash != at.hash:
            raise _Raced(f"block {at.number} changed while loading the pools")
        self._history.clear()
        self._history.append(_Applied(at, states))
        self._states = states
        self.reloads += 1
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- node reads --------------------------------------------------------------------------------

    async def _header(self, tag: int | str) -> Head:
        head = await self.rpc.head(tag)
        if head is None:
            raise _Raced(f"the node has no block {tag!r} (yet)")
        return head

    async def _headers(self, first: int, last: int, *, linked: bool = True) -> list[Head]:
        """Canonical headers ``first..last``; with ``linked``, checked to form one chain."""
        out: list[Head] = []
        step = self.config.max_log_range
        for start in range(first, last + 1, step):
            numbers = range(start, min(last, start + step - 1) + 1)
            raws = await self.rpc.batch(
                [("eth_getBlockByNumber", [hex(n), False]) for n in numbers]
            )
            for n, raw in zip(numbers, raws, strict=True):
                if raw is None:
                    raise _Raced(f"block {n} disappeared while reading headers")
                out.append(Head.from_rpc(raw))
        if linked:
            for parent, child in itertools.pairwise(out):
                if child.parent_hash != parent.hash:
                    raise _Raced(f"block {child.number} does not extend block {parent.number}")
        return out

    async def _logs(self, heads: Sequence[Head]) -> list[LogEntry]:
        """The pools' logs of ``heads`` (consecutive), each checked to belong to those blocks."""
        hashes = {h.number: h.hash for h in heads}
        out: list[LogEntry] = []
        step = self.config.max_log_range
        for start in range(heads[0].number, heads[-1].number + 1, step):
            stop = min(heads[-1].number, start + step - 1)
            raws = await self.rpc.call(
                "eth_getLogs", [self._filter.to_rpc(fromBlock=hex(start), toBlock=hex(stop))]
            )
            for raw in raws or []:
                log = LogEntry.from_rpc(raw)
                if hashes.get(log.block_number) != log.block_hash:
                    raise _Raced(f"log of block {log.block_number} is from another branch")
                out.append(log)
        return out
