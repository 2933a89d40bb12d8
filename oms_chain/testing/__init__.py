"""Pytest plugin for oms-chain and for our users' own test suites.

Installed as a ``pytest11`` entry point, so any project that installs oms-chain gets these
fixtures without a ``conftest.py``:

``oms_devnet`` (session)
    The local world (:class:`oms_chain.devnet.Devnet`): an L1 (chain 31337, automine) and an L2
    (chain 31338, 250 ms blocks) with WETH, Uniswap V2/V3, Safe and devnet tokens deployed.
    Started once per test session from the saved state (about a second), stopped at the end.
``l1`` / ``l2`` (function)
    One chain of that world, isolated per test: an EVM snapshot is taken before the test and
    reverted after it, so every test sees the freshly deployed world.
``devnet_accounts``
    The funded accounts (address + private key), the same on both chains.
``address_book``
    The L1 :class:`~oms_chain.chain.addressbook.AddressBook` (contracts, tokens, pools).
``exchange_simulator`` (session)
    The local exchange speaking Binance's spot API (:mod:`oms_chain.devnet.exchange`), in a
    background thread, with one funded account; ``exchange_credentials`` gives its
    ``(api_key, secret)``. Point ccxt at it with ``sim.simulator.binance_urls(ex.urls["api"])``.
``deribit_simulator`` (session)
    The local options exchange speaking Deribit's API v2 (:mod:`oms_chain.devnet.deribit`), in
    a background thread, with one funded account; ``deribit_credentials`` gives its
    ``(client_id, client_secret)``. Point ccxt at it with
    ``ex.urls["api"] = sim.simulator.deribit_urls()``.
``running_simulator(config, accounts)`` (async context manager, not a fixture)
    An exchange simulator on the test's own event loop, for tests that step its agents.
``postgres_cluster`` (session) / ``postgres_url`` (function)
    A throwaway PostgreSQL server on loopback (initdb + pg_ctl, removed at the end) and a fresh
    empty schema on it per test, for the event store's PostgreSQL backend.

Conformance suites (subclass them in your own tests; see each module):
:class:`~oms_chain.testing.venue.VenueConformance` for a :class:`~oms_chain.venues.Venue`
adapter, :class:`~oms_chain.testing.signer.SignerConformance` for a
:class:`~oms_chain.custody.Signer`.

Waiting on real components: :func:`oms_chain.testing.waiting.until` polls a condition with a
hang guard counted in polls (a loaded machine gets more time, never less).

Command-line options: ``--oms-fresh-devnet`` deploys afresh instead of loading the saved state.
Nothing starts unless a test asks for one of these fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from oms_chain.testing.exchange import running_simulator
from oms_chain.testing.postgres import postgres_cluster, postgres_url
from oms_chain.testing.signer import SignerConformance
from oms_chain.testing.venue import VenueConformance

if TYPE_CHECKING:
    from oms_chain.chain.addressbook import AddressBook
    from oms_chain.devnet.deribit.simulator import DeribitThread
    from oms_chain.devnet.exchange.simulator import SimulatorThread
    from oms_chain.devnet.world import DevAccount, Devnet, DevnetChain

__all__ = [
    "SignerConformance",
    "VenueConformance",
    "address_book",
    "deribit_credentials",
    "deribit_simulator",
    "devnet_accounts",
    "exchange_credentials",
    "exchange_simulator",
    "l1",
    "l2",
    "oms_devnet",
    "postgres_cluster",
    "postgres_url",
    "running_simulator",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the plugin's command-line options."""
    group = parser.getgroup("oms-chain")
    group.addoption(
        "--oms-fresh-devnet",
        action="store_true",
        default=False,
        help="deploy the devnet afresh instead of loading its saved state",
    )


@pytest.fixture(scope="session")
def oms_devnet(request: pytest.FixtureRequest) -> Iterator[Devnet]:
    """The running devnet world (L1 + L2), shared by the whole test session."""
    from oms_chain.devnet.world import Devnet, DevnetConfig

    fresh = bool(request.config.getoption("--oms-fresh-devnet"))
    world = Devnet(DevnetConfig(use_state_cache=not fresh))
    world.start()
    try:
        yield world
    finally:
        world.stop()


def _isolated(chain: DevnetChain) -> Iterator[DevnetChain]:
    snapshot = chain.snapshot()
    try:
        yield chain
    finally:
        chain.revert(snapshot)


@pytest.fixture
def l1(oms_devnet: Devnet) -> Iterator[DevnetChain]:
    """The L1 chain, reverted to its deployed state after the test."""
    yield from _isolated(oms_devnet.l1)


@pytest.fixture
def l2(oms_devnet: Devnet) -> Iterator[DevnetChain]:
    """The L2 chain (250 ms blocks), reverted to its deployed state after the test."""
    yield from _isolated(oms_devnet.l2)


@pytest.fixture
def devnet_accounts(oms_devnet: Devnet) -> tuple[DevAccount, ...]:
    """Funded devnet accounts: ETH plus devnet USDC, WBTC and DAI on both chains."""
    return oms_devnet.l1.accounts


@pytest.fixture
def address_book(l1: DevnetChain) -> AddressBook:
    """The L1 address book (contracts, tokens, pools)."""
    return l1.book


#: API credentials of the plugin's exchange account (devnet only).
EXCHANGE_CREDENTIALS = ("oms-test-key", "oms-test-secret")


@pytest.fixture(scope="session")
def exchange_simulator() -> Iterator[SimulatorThread]:
    """A seeded exchange simulator with one account funded with USDC, ETH and BTC."""
    from oms_chain.devnet.exchange.simulator import SimulatorConfig, run_in_thread

    sim = run_in_thread(SimulatorConfig(seed=0))
    try:
        sim.create_account(*EXCHANGE_CREDENTIALS, {"USDC": 1_000_000, "ETH": 200, "BTC": 10})
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def exchange_credentials(exchange_simulator: SimulatorThread) -> tuple[str, str]:
    """``(api_key, secret)`` of the simulator account."""
    return EXCHANGE_CREDENTIALS


#: Client id and secret of the plugin's Deribit-protocol exchange account (devnet only).
DERIBIT_CREDENTIALS = ("oms-test-deribit-id", "oms-test-deribit-secret")


@pytest.fixture(scope="session")
def deribit_simulator() -> Iterator[DeribitThread]:
    """A seeded Deribit-protocol options exchange with one account funded with ETH and BTC."""
    from oms_chain.devnet.deribit.simulator import DeribitConfig, run_deribit_in_thread

    sim = run_deribit_in_thread(DeribitConfig(seed=0))
    try:
        sim.create_account(*DERIBIT_CREDENTIALS, {"ETH": 100, "BTC": 10})
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def deribit_credentials(deribit_simulator: DeribitThread) -> tuple[str, str]:
    """``(client_id, client_secret)`` of the Deribit-protocol exchange account."""
    return DERIBIT_CREDENTIALS
