"""The simulator's public API: what the package exports exists and is documented."""

from __future__ import annotations

import oms_chain.devnet.exchange as exchange


def test_every_exported_name_exists_and_has_a_docstring() -> None:
    assert sorted(exchange.__all__) == sorted(set(exchange.__all__))
    for name in exchange.__all__:
        obj = getattr(exchange, name)
        if callable(obj):
            assert obj.__doc__, name


def test_simulator_and_engine_are_exported() -> None:
    assert {"ExchangeSimulator", "SimulatorConfig", "MatchingEngine", "run_in_thread"} <= set(
        exchange.__all__
    )
