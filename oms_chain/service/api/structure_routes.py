"""API routes of multi-leg option structures: submit one (kind, legs, limits; trade scope), list
them, show one with its legs and events — all read from the event store's structure streams.

Submitting needs a :class:`StructureDesk` (a :class:`~oms_chain.service.structures.StructureRunner`
over the on-chain options market, the listed contracts and a market snapshot for the margin);
install one with :func:`install_structures` after :func:`~oms_chain.service.api.create_app`
(:func:`session_desk` builds it from a session's on-chain options market, as ``oms serve`` does).
Without one ``POST /api/v1/structures`` answers 404 ``not_configured``; listing and showing
always work. A structure id names one structure for life: posting it again with the same
content answers the structure as recorded (it is never sent twice), with other content 422.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from oms_chain.chain.addressbook import load_address_book
from oms_chain.model.clock import SystemClock
from oms_chain.model.errors import InvalidInput
from oms_chain.model.instruments import OptionContract
from oms_chain.risk import MarketSnapshot
from oms_chain.service.api._http import Route, _json, _json_body, _Refusal, _session
from oms_chain.service.api.models import Amount, _Num
from oms_chain.service.api.tokens import Scope
from oms_chain.service.session import TradingSession
from oms_chain.service.structures import (
    StructureRecord,
    StructureRequest,
    StructureRunner,
    list_structures,
    read_structure,
)
from oms_chain.strategies import Structure, StructureLimits
from oms_chain.strategies.structure import Leg, Side
from oms_chain.venues.options import onchain_options_venue
from oms_chain.venues.options.batch import AtomicOptionsBatch

__all__ = [
    "StructureDesk",
    "StructureDetail",
    "StructureOut",
    "SubmitStructure",
    "chain_desk",
    "install_structures",
    "session_desk",
]

_log = logging.getLogger(__name__)

_STRUCTURE_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$"
_KIND = r"^[a-z][a-z0-9_]{0,31}$"
_INSTRUMENT = r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$"
SignedAmount = Annotated[
    Decimal, _Num, Field(allow_inf_nan=False, max_digits=40, decimal_places=18)
]


# --- models -------------------------------------------------------------------------------


class LegIn(BaseModel):
    """One leg: ``quantity`` contracts (whole underlying units) of the listed ``instrument``
    (its id or symbol, such as ``WETH-11DEC26-2500-P``) on ``side``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instrument: str = Field(pattern=_INSTRUMENT)
    side: Literal["buy", "sell"]
    quantity: Amount


class LimitsIn(BaseModel):
    """The structure's limits in the quote asset (omitted: no limit): ``max_loss`` at expiry,
    ``max_net_premium`` paid up front (negative: the least credit), ``max_margin``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_loss: Amount | None = None
    max_net_premium: SignedAmount | None = None
    max_margin: Amount | None = None


class SubmitStructure(BaseModel):
    """A structure to open atomically: ``structure_id`` (names it for life), ``kind`` (a
    label such as ``iron_condor`` or ``custom``), one to eight ``legs``, ``limits``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    structure_id: str = Field(pattern=_STRUCTURE_ID)
    kind: str = Field("custom", pattern=_KIND)
    legs: list[LegIn] = Field(min_length=1, max_length=8)
    limits: LimitsIn = LimitsIn()
    policy: Literal["atomic"] = "atomic"


class StructureLegOut(BaseModel):
    """A leg as recorded: ``filled`` contracts at ``price`` once the structure is open."""

    model_config = ConfigDict(extra="ignore")

    symbol: str
    side: str
    quantity: str
    venue: str
    filled: str | None
    price: str | None


class StructureOut(BaseModel):
    """A structure folded from its stream. ``status``: submitted, accepted, sending, sent,
    open, rejected or rolled_back (``reason`` says why)."""

    model_config = ConfigDict(extra="ignore")

    structure_id: str
    kind: str
    account: str
    policy: str
    status: str
    legs: list[StructureLegOut]
    limits: dict[str, str | None]
    net_premium: str | None
    max_loss: str | None
    margin: str | None
    venue: str | None
    tx_hash: str | None
    reason: str | None
    ts_submitted: int
    ts_last: int

    @classmethod
    def of(cls, rec: StructureRecord) -> StructureOut:
        return cls.model_validate(rec.to_json())


class StructureDetail(StructureOut):
    """One structure with the events of its stream, oldest first."""

    events: list[dict[str, Any]]

    @classmethod
    def of(cls, rec: StructureRecord) -> StructureDetail:
        return cls.model_validate(rec.to_json())


# --- the desk -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StructureDesk:
    """What ``POST /api/v1/structures`` works with: the ``runner`` (recording in the served
    session's store; its batch's venue lists ``instruments()``), the ``account`` structures
    are recorded for, and ``market(structure)``, the snapshot (spot, vol per leg) its margin
    is computed from."""

    runner: StructureRunner
    instruments: Callable[[], Sequence[OptionContract]]
    market: Callable[[Structure], Awaitable[MarketSnapshot]]
    account: str

    @classmethod
    def onchain(
        cls, runner: StructureRunner, venue: Any, account: str, vol: Decimal
    ) -> StructureDesk:
        """A desk on the on-chain options ``venue`` of ``runner``'s batch: spot from the
        venue's index, the chain's time, ``vol`` for every leg."""
        if not isinstance(vol, Decimal) or not Decimal(0) < vol < Decimal(5):
            raise InvalidInput(f"vol must be a Decimal in (0, 5), got {vol!r}")

        async def market(structure: Structure) -> MarketSnapshot:
            spot = await venue.index_price(structure.legs[0].contract)
            now_ns = (await venue.chain_time()) * 10**9
            return MarketSnapshot(
                now_ns=now_ns,
                spots={structure.underlying_symbol: spot},
                vols={leg.contract.id: vol for leg in structure.legs},
            )

        return cls(runner=runner, instruments=venue.instruments, market=market, account=account)


@contextlib.asynccontextmanager
async def session_desk(
    session: TradingSession,
    *,
    vol: Decimal,
    on_skip: Callable[[str], None] | None = None,
) -> AsyncIterator[StructureDesk | None]:
    """The structure desk of an open ``session``: on the first of its chains with an on-chain
    options market (RFQ makers configured) whose address book names a ``BatchExecutor`` owned
    by the chain's account (it signs), a second venue on that market holding the legs in the
    executor (id ``<options venue>-structures``) and a
    :class:`~oms_chain.service.structures.StructureRunner` recording in the session's store;
    ``vol`` prices every leg's margin. ``None`` when no chain has such a market; a chain passed
    over for its executor (none in the book, another owner) is told to ``on_skip(reason)``.
    The venue is closed on exit.

    Raises:
        InvalidInput: ``vol`` outside (0, 5); VenueUnavailable: the node does not answer.
    """
    if not isinstance(vol, Decimal) or not Decimal(0) < vol < Decimal(5):
        raise InvalidInput(f"vol must be a Decimal in (0, 5), got {vol!r}")
    for chain in session.chains:
        if not chain.option_makers:
            continue
        book = chain.book or load_address_book(chain.chain_id)
        if "BatchExecutor" not in book.contracts:
            _skipped(on_skip, f"chain {chain.chain_id}: its address book names no BatchExecutor")
            continue
        account = session.chain_venues(chain.chain_id).account
        name = chain.options_venue_id or f"options-{chain.chain_id}"
        stack = contextlib.AsyncExitStack()
        try:
            desk = chain_desk(
                account,
                book,
                chain.option_makers,
                store=session.store,
                owner=session.account,
                vol=vol,
                venue_id=f"{name}-structures",
            )
            opened = await stack.enter_async_context(desk)
        except InvalidInput as exc:
            _skipped(on_skip, f"chain {chain.chain_id}: {exc}")
            continue
        async with stack:
            yield opened
        return
    yield None


@contextlib.asynccontextmanager
async def chain_desk(
    account: Any,
    book: Any,
    makers: Sequence[str],
    *,
    store: Any,
    owner: str,
    vol: Decimal,
    venue_id: str,
) -> AsyncIterator[StructureDesk]:
    """A structure desk on one chain: the on-chain options market of ``book`` quoted by the
    RFQ ``makers``, the legs held in the book's ``BatchExecutor`` (which ``account``, a
    :class:`~oms_chain.venues.amm.account.ChainAccount`, must own: it signs), a
    :class:`~oms_chain.service.structures.StructureRunner` recording in ``store`` for
    ``owner``; ``vol`` prices every leg's margin. The venue is closed on exit.

    Raises:
        InvalidInput: the book names no BatchExecutor, or it is not the account's.
    """
    if "BatchExecutor" not in book.contracts:
        raise InvalidInput("the address book names no BatchExecutor")
    venue = onchain_options_venue(
        account, book, tuple(makers), venue_id=venue_id, executor=book.address("BatchExecutor")
    )
    try:
        await venue.start()  # checks that the executor is the signer's
    except BaseException:
        await venue.close()
        raise
    try:
        batch = AtomicOptionsBatch(venue)
        runner = StructureRunner(store=store, clock=SystemClock(), batch=batch)
        yield StructureDesk.onchain(runner, venue, owner, vol)
    finally:
        await venue.close()


def _skipped(on_skip: Callable[[str], None] | None, reason: str) -> None:
    _log.warning("no structure desk on %s", reason)
    if on_skip is not None:
        on_skip(reason)


_DESK = web.AppKey("structure_desk", StructureDesk)


def install_structures(app: web.Application, desk: StructureDesk) -> None:
    """Let ``app`` take structures through ``desk`` (before the app starts)."""
    if not isinstance(desk, StructureDesk):
        raise InvalidInput(f"desk must be a StructureDesk, got {type(desk).__name__}")
    app[_DESK] = desk


# --- handlers -----------------------------------------------------------------------------


def _structure_id(request: web.Request) -> str:
    import re

    sid = request.match_info["structure_id"]
    if not re.fullmatch(_STRUCTURE_ID, sid):
        raise _Refusal(422, "validation", f"structure_id {sid[:80]!r} is not a structure id")
    return sid


def _legs(body: SubmitStructure, listed: Sequence[OptionContract]) -> tuple[Leg, ...]:
    by_name: dict[str, OptionContract] = {}
    for c in listed:
        by_name.setdefault(str(c.id), c)
        by_name.setdefault(c.symbol, c)
    legs = []
    for i, leg in enumerate(body.legs):
        contract = by_name.get(leg.instrument)
        if contract is None:
            raise _Refusal(
                422,
                "validation",
                f"legs[{i}].instrument {leg.instrument!r} is not listed on this market "
                "(GET /api/v1/structures shows recorded legs; `oms options list` the series)",
            )
        legs.append(Leg(contract=contract, side=Side(leg.side), quantity=leg.quantity))
    return tuple(legs)


async def submit_structure(request: web.Request) -> web.Response:
    """Open a structure: every leg on the on-chain options market in ONE transaction, after the
    structure's risk gate (max loss, net premium, margin). Answers the structure as recorded:
    ``open`` when filled, ``rejected`` (with the reason) when a limit or a quote refused it."""
    session = _session(request, Scope.TRADE)
    desk = request.app.get(_DESK)
    if desk is None:
        raise _Refusal(
            404,
            "not_configured",
            "this server takes no structures: serve it with an on-chain options market "
            '(`oms serve --config` naming a kind = "options" venue on a chain, or '
            "install_structures() in code)",
        )
    body = await _json_body(request, SubmitStructure)
    structure = Structure(kind=body.kind, legs=_legs(body, desk.instruments()))
    limits = StructureLimits(**body.limits.model_dump())
    known = read_structure(session.store, body.structure_id)
    req = StructureRequest(
        structure_id=body.structure_id,
        structure=structure,
        account=desk.account,
        limits=limits,
        market=await desk.market(structure),
    )
    rec = await desk.runner.run(req)  # a known id with other content: InvalidInput, 422
    return _json(StructureDetail.of(rec), 200 if known is not None else 201)


async def get_structures(request: web.Request) -> web.Response:
    """Every structure of the store, oldest first, with its legs."""
    session = _session(request, Scope.READ)
    return _json([StructureOut.of(r) for r in list_structures(session.store)])  # type: ignore[arg-type]


async def get_structure(request: web.Request) -> web.Response:
    """One structure with its legs and the events of its stream."""
    session = _session(request, Scope.READ)
    sid = _structure_id(request)
    rec = read_structure(session.store, sid)
    if rec is None:
        raise _Refusal(404, "not_found", f"no structure {sid!r} in this store")
    return _json(StructureDetail.of(rec))


_NOT_CONFIGURED = "not_configured: the server was started without an on-chain options market"

ROUTES: tuple[Route, ...] = (
    Route(
        "POST",
        "/api/v1/structures",
        submit_structure,
        Scope.TRADE,
        "Submit a multi-leg structure (kind, legs, limits), opened atomically",
        StructureDetail,
        201,
        body=SubmitStructure,
        not_configured=_NOT_CONFIGURED,
    ),
    Route(
        "GET",
        "/api/v1/structures",
        get_structures,
        Scope.READ,
        "Structures with their legs, oldest first",
        StructureOut,
        many=True,
    ),
    Route(
        "GET",
        "/api/v1/structures/{structure_id}",
        get_structure,
        Scope.READ,
        "One structure with its legs and events",
        StructureDetail,
        path_params=("structure_id",),
    ),
)
