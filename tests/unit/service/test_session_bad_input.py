"""Every public entry point of :class:`TradingSession` refuses a wrong type or value with
``InvalidInput`` naming the argument, before the session is even opened (nothing is opened or
sent); builtin errors (AttributeError, TypeError) never come out."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from oms_chain.custody.local import LocalSigner
from oms_chain.model import InvalidInput, SpotPair
from oms_chain.model.assets import Asset
from oms_chain.service import ChainEndpoint, TradingSession

KEY = "0x" + "11" * 32
PAIR = SpotPair(
    base=Asset(symbol="ETH", decimals=18, venue="binance"),
    quote=Asset(symbol="USDC", decimals=6, venue="binance"),
)

ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=6),
    st.binary(max_size=4),
    st.lists(st.integers(), max_size=2),
    st.sampled_from([Decimal("NaN"), Decimal(-1), Decimal(0), object(), {"a": 1}]),
)


def _session() -> TradingSession:
    return TradingSession(
        store_url="sqlite:///never-opened.db",
        chains=[ChainEndpoint(chain_id=31337, rpc_url="http://127.0.0.1:1")],
        signer=LocalSigner(KEY),
    )


def _call(entry: str, value: object) -> tuple[str, Any]:
    """Call ``entry`` with ``value`` in one argument; returns the argument's name and result
    (the name is also the last part of ``entry``)."""
    s = _session()
    calls: dict[str, tuple[str, Any]] = {
        "instrument.symbol": ("symbol", lambda: s.instrument(value)),  # type: ignore[arg-type]
        "instrument.chain_id": ("chain_id", lambda: s.instrument("ETH/USDC", chain_id=value)),  # type: ignore[arg-type]
        "venues_for.instrument": ("instrument", lambda: s.venues_for(value)),  # type: ignore[arg-type]
        "venues_for.exchange": ("exchange", lambda: s.venues_for(PAIR, exchange=value)),  # type: ignore[arg-type]
        "intent.symbol": ("symbol", lambda: s.intent(value, "buy", "1")),  # type: ignore[arg-type]
        "intent.venues": ("venues", lambda: s.intent(PAIR, "buy", "1", venues=value)),  # type: ignore[arg-type]
        "intent.exchange": ("exchange", lambda: s.intent(PAIR, "buy", "1", exchange=value)),  # type: ignore[arg-type]
        "best_price.instrument": ("instrument", lambda: s.best_price(value, "buy", Decimal(1))),  # type: ignore[arg-type]
        "best_price.side": ("side", lambda: s.best_price(PAIR, value, Decimal(1))),  # type: ignore[arg-type]
        "best_price.quantity": ("quantity", lambda: s.best_price(PAIR, "buy", value)),  # type: ignore[arg-type]
        "best_price.venues": ("venues", lambda: s.best_price(PAIR, "buy", Decimal(1), value)),  # type: ignore[arg-type]
        "quantity_for_notional.notional": (
            "notional",
            lambda: s.quantity_for_notional(PAIR, "buy", value),  # type: ignore[arg-type]
        ),
        "quantity_for_notional.side": (
            "side",
            lambda: s.quantity_for_notional(PAIR, value, Decimal(1)),  # type: ignore[arg-type]
        ),
        "submit.intent": ("intent", lambda: s.submit(value)),  # type: ignore[arg-type]
        "children.order_id": ("order_id", lambda: s.children(value)),  # type: ignore[arg-type]
        "wait.order_id": ("order_id", lambda: s.wait(value)),  # type: ignore[arg-type]
        "wait.confirmations": ("confirmations", lambda: s.wait("o", confirmations=value)),  # type: ignore[arg-type]
        "wait.poll": ("poll", lambda: s.wait("o", poll=value)),  # type: ignore[arg-type]
        "wait.on_progress": ("on_progress", lambda: s.wait("o", on_progress=value)),  # type: ignore[arg-type]
    }
    name, call = calls[entry]
    out = call()
    if asyncio.iscoroutine(out):
        out = asyncio.run(out)
    return name, out


ENTRIES = [
    "instrument.symbol", "instrument.chain_id", "venues_for.instrument", "venues_for.exchange",
    "intent.symbol", "intent.venues", "intent.exchange",
    "best_price.instrument", "best_price.side", "best_price.quantity", "best_price.venues",
    "quantity_for_notional.notional", "quantity_for_notional.side", "submit.intent",
    "children.order_id", "wait.order_id", "wait.confirmations", "wait.poll", "wait.on_progress",
]  # fmt: skip

#: Values an entry takes: only they may get past the check (then the unopened session refuses).
VALID: dict[str, Any] = {
    "instrument.symbol": lambda v: isinstance(v, str) and v != "",
    "instrument.chain_id": lambda v: v is None or (type(v) is int and v >= 1),
    "venues_for.exchange": lambda v: isinstance(v, bool),
    "intent.venues": lambda v: _ids(v),
    "intent.exchange": lambda v: isinstance(v, bool),
    "intent.symbol": lambda v: isinstance(v, str),
    "best_price.venues": lambda v: _ids(v),
    "children.order_id": lambda v: isinstance(v, str) and v != "",
    "wait.order_id": lambda v: isinstance(v, str) and v != "",
    "wait.confirmations": lambda v: type(v) is int and 0 <= v <= 10_000,
    "wait.poll": lambda v: type(v) in (int, float) and 0 < v < 1e9,
    "wait.on_progress": lambda v: v is None or callable(v),
    "best_price.quantity": lambda v: _positive(v),
    "quantity_for_notional.notional": lambda v: _positive(v),
    "best_price.side": lambda v: isinstance(v, str) and v.lower() in ("buy", "sell"),
    "quantity_for_notional.side": lambda v: isinstance(v, str) and v.lower() in ("buy", "sell"),
}  # fmt: skip


def _ids(v: object) -> bool:
    return v is None or (isinstance(v, list) and all(isinstance(x, str) for x in v))


def _positive(v: object) -> bool:
    if type(v) is int:
        return v > 0
    return isinstance(v, Decimal) and v.is_finite() and v > 0


@settings(max_examples=300, deadline=None, database=None)
@given(entry=st.sampled_from(ENTRIES), value=ANYTHING)
def test_every_session_entry_point_refuses_a_bad_argument_naming_it(
    entry: str, value: object
) -> None:
    valid = VALID.get(entry, lambda v: False)(value)
    try:
        _call(entry, value)
    except InvalidInput as exc:
        # a valid value passes its check; the unopened session or unknown name then refuses it
        assert valid or entry.rsplit(".", 1)[1] in str(exc), (entry, value, str(exc))
        return
    except Exception as exc:  # an OmsError of the unopened session is fine for valid values only
        from oms_chain.model import OmsError

        assert valid and isinstance(exc, OmsError), (entry, value, repr(exc))
        return
    assert valid, f"{entry}={value!r} was accepted"


def test_an_unknown_intent_keyword_is_refused_by_name() -> None:
    s = _session()
    try:
        s.intent(PAIR, "buy", "1", limit=Decimal(1))  # the keyword is limit_price
    except InvalidInput as exc:
        assert "'limit'" in str(exc) and "limit_price" in str(exc)
    else:
        raise AssertionError("an unknown keyword was accepted")


@settings(max_examples=40, deadline=None)
@given(value=ANYTHING)
def test_own_venues_that_are_no_venue_list_are_refused_naming_the_argument(value: object) -> None:
    import pytest

    with pytest.raises(InvalidInput, match=r"venues(\[0\])? must be"):
        TradingSession(
            store_url="sqlite:///never-opened.db",
            chains=[],
            signer=LocalSigner(KEY),
            venues=value if isinstance(value, str | bytes) else [value],  # type: ignore[arg-type,list-item]
        )


def test_own_venues_listing_an_unpriced_instrument_or_given_twice_are_refused() -> None:
    import pytest

    from oms_chain.model import ManualClock
    from oms_chain.venues import PaperVenue

    clock = ManualClock()
    with pytest.raises(InvalidInput, match="must be an Instrument with a price in prices"):
        PaperVenue("paper", clock=clock, instruments=[PAIR])
    paper = PaperVenue("paper", clock=clock, prices={PAIR.id: Decimal(1)}, instruments=[PAIR])
    assert paper.instruments() == (PAIR,)
    with pytest.raises(InvalidInput, match=r"venues\[1\]: venue id 'paper' is given twice"):
        TradingSession(
            store_url="sqlite:///never-opened.db",
            chains=[],
            signer=LocalSigner(KEY),
            venues=[paper, paper],
        )
    with pytest.raises(InvalidInput, match="at least one chain, an exchange or a venue"):
        TradingSession(store_url="sqlite:///never-opened.db", chains=[], signer=LocalSigner(KEY))
