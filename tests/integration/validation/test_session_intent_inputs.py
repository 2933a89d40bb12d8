"""``TradingSession.intent(...)`` on a session opened against the devnet: every value that
reaches the intent's constructor (side, quantity, notional, prices, slippage, deadline, algo and
its parameters, ids) is refused with ``InvalidIntent`` naming it, or ``AmountPrecisionError`` for
a quantity finer than the token; nothing else comes out, and valid values still build."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_chain.devnet.world import DevAccount, Devnet, DevnetChain
from oms_chain.model import AmountPrecisionError, InvalidInput, InvalidIntent, ManualClock, OmsError
from oms_chain.model.checks import MAX_NS
from oms_chain.service import TradingSession

NOW = 1_800_000_000_000_000_000
#: Not a finite decimal: floats (NaN, infinities), non-finite or huge Decimals, bools, objects,
#: words, unicode digits (which ``Decimal()`` itself would take), too many digits.
NOT_A_NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [Decimal("NaN"), Decimal("sNaN"), Decimal("-Infinity"), Decimal("1e78"), Decimal("1e-101"),
         True, [], object(), "", "abc", "nan", "inf", "1e999999", "\u0661\u0662", "\uff11", "1.5.2"]
    ),
)  # fmt: skip


def at_most(bound: int) -> st.SearchStrategy[object]:
    return st.one_of(NOT_A_NUMBER, st.decimals(max_value=bound, allow_nan=False, places=4))


BAD: dict[str, st.SearchStrategy[object]] = {
    "side": st.sampled_from([None, 1, "", "long", "buy\n", True, Decimal(1), "\u0628"]),
    "quantity": at_most(0),
    "limit_price": at_most(0),
    "max_slippage_bps": st.one_of(
        NOT_A_NUMBER, st.decimals(max_value=-1, places=2), st.decimals(min_value=10_001, places=2)
    ),
    "deadline_ns": st.one_of(
        st.integers(max_value=NOW), st.integers(min_value=MAX_NS + 1), NOT_A_NUMBER, st.just("1")
    ),
    "algo": st.sampled_from([None, 1, "", "fast", "TWAP "]),
    "algo_params": st.sampled_from(
        ["x", [1], {"Bad": 1}, {"k": 1.5}, {"k": Decimal("NaN")}, {"k": None}, {"k": 2**300}]
    ),
    # (a falsy id gets the session's default)
    "intent_id": st.sampled_from(
        [1, 1.5, True, b"abc", ["a"], " ", "a b", "abc\n", "\u00e9", "x" * 300]
    ),
    "reduce_only": st.sampled_from([0, 1, "yes", 1.0]),
}


async def test_session_intents_refuse_every_bad_value_naming_it(
    oms_devnet: Devnet,
    l1: DevnetChain,
    devnet_accounts: tuple[DevAccount, ...],
    tmp_path: Path,
) -> None:
    session = TradingSession.from_devnet_runtime(
        oms_devnet.describe(),
        f"sqlite:///{tmp_path / 'session.db'}",
        devnet_accounts[7].private_key,
        chain_ids=[l1.chain_id],
        with_exchange=False,
        clock=ManualClock(NOW),
    )
    async with session:
        symbol = "WETH/USDC"
        assert session.intent(symbol, "buy", "0.5").quantity == Decimal("0.5")
        assert session.intent(symbol, "sell", notional="100").notional == Decimal(100)

        @settings(
            max_examples=60,
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(field=st.sampled_from(sorted(BAD)), data=st.data())
        def refused(field: str, data: Any) -> None:
            bad = data.draw(BAD[field], label=field)
            args: dict[str, Any] = {"side": "buy", "quantity": "0.5", field: bad}
            side, quantity = args.pop("side"), args.pop("quantity")
            try:
                session.intent(symbol, side, quantity, **args)
            except InvalidIntent as exc:
                assert field in str(exc), str(exc)
            except AmountPrecisionError:
                assert field == "quantity"
            else:
                raise AssertionError(f"{field}={bad!r} was accepted")

        @settings(
            max_examples=60,
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(field=st.sampled_from(sorted(BAD)), value=st.one_of(*BAD.values(), st.integers()))
        def only_oms_errors(field: str, value: object) -> None:
            args: dict[str, Any] = {"side": "buy", "quantity": "0.5", field: value}
            side, quantity = args.pop("side"), args.pop("quantity")
            with contextlib.suppress(OmsError):
                session.intent(symbol, side, quantity, **args)

        refused()
        only_oms_errors()

        # The session's own arguments: the symbol, the venues, the exchange switch, the keywords.
        assert session.intent(symbol, "buy", "0.5", venues=None).quantity == Decimal("0.5")

        @settings(
            max_examples=60,
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(
            name=st.sampled_from(["symbol", "venues", "exchange", "keyword"]),
            value=st.one_of(
                st.none(), st.integers(), st.floats(), st.booleans(), st.binary(max_size=4),
                st.text(max_size=8), st.lists(st.integers(), max_size=2),
                st.sampled_from([Decimal(1), object(), ["uniswap", 1], ("x",), "ETH/USDC"]),
            ),
        )  # fmt: skip
        def session_arguments(name: str, value: object) -> None:
            try:
                if name == "symbol":
                    session.intent(value, "buy", "0.5")  # type: ignore[arg-type]
                elif name == "venues":
                    session.intent(symbol, "buy", "0.5", venues=value)  # type: ignore[arg-type]
                elif name == "exchange":
                    session.intent(symbol, "buy", "0.5", exchange=value)  # type: ignore[arg-type]
                else:
                    session.intent(symbol, "buy", "0.5", **{f"x{value!r:.8}": 1})
            except InvalidInput as exc:
                word = "keyword" if name == "keyword" else name
                assert word in str(exc) or (name == "symbol" and "no venue trades" in str(exc))
            else:
                valid = (name == "symbol" and value == "ETH/USDC") or (
                    name == "venues" and value in (None, [], ())
                ) or (name == "exchange" and isinstance(value, bool))  # fmt: skip
                assert valid, f"{name}={value!r} was accepted"

        session_arguments()
