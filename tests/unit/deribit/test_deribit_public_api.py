"""The Deribit-protocol exchange's public API: what the package exports exists and is documented."""

from __future__ import annotations

import oms_chain.devnet.deribit as deribit


def test_every_exported_name_exists_and_has_a_docstring() -> None:
    assert sorted(deribit.__all__) == sorted(set(deribit.__all__))
    for name in deribit.__all__:
        obj = getattr(deribit, name)
        if callable(obj):
            assert obj.__doc__, name


def test_simulator_config_and_exchange_are_exported() -> None:
    assert {
        "DeribitSimulator",
        "DeribitConfig",
        "DeribitExchange",
        "DeribitApiError",
        "run_deribit_in_thread",
    } <= set(deribit.__all__)
