"""TradingSession's named constructors, its public API and its settlement rule (no network:
nothing is opened here; the sessions are opened against real venues in
tests/integration/trading)."""

from __future__ import annotations

from typing import Any

import pytest

import oms_chain.service as service
from oms_chain.chain.addressbook import load_address_book
from oms_chain.engine import parse_config
from oms_chain.model.errors import ConfigError, InvalidInput
from oms_chain.service import ExchangeEndpoint, TradingSession, is_settled, local_exchange_urls

KEY = "0x" + "11" * 32


def test_public_api() -> None:
    assert set(service.__all__) == {
        "MONITOR_STREAM",
        "HedgeStatus",
        "Hedger",
        "LeaseFence",
        "RiskMonitor",
        "WebhookSender",
        "engine_holdings",
        "quote_feed",
        "ChainEndpoint",
        "ExchangeEndpoint",
        "SafeOwners",
        "ThresholdGroup",
        "SessionTimeout",
        "TradingSession",
        "is_settled",
        "local_exchange_urls",
        "Worker",
        "WorkerStats",
    }


def _runtime() -> dict[str, Any]:
    book = load_address_book(1).to_json()
    return {
        "pid": 1,
        "chains": {
            "l1": {"chain_id": 1, "rpc_url": "http://127.0.0.1:9", "address_book": book},
            "exchange": {
                "rest_url": "http://127.0.0.1:7",
                "ws_url": "ws://127.0.0.1:7",
                "accounts": [{"api_key": "k0", "secret": "s0"}, {"api_key": "k1", "secret": "s1"}],
            },
        },
    }


def test_devnet_runtime_gives_its_chains_and_the_simulator_account() -> None:
    s = TradingSession.from_devnet_runtime(
        _runtime(), "sqlite:///:memory:", KEY, exchange_account=1
    )
    assert s.chain_ids == (1,) and s.chains[0].book is not None
    assert s.chains[0].rpc_url == "http://127.0.0.1:9"
    ex = s.exchange_endpoint
    assert ex is not None and (ex.api_key, ex.secret, ex.rest_url) == (
        "k1",
        "s1",
        "http://127.0.0.1:7",
    )
    assert "s1" not in repr(ex)  # credentials never print
    assert (
        TradingSession.from_devnet_runtime(
            _runtime(), "sqlite:///:memory:", KEY, with_exchange=False
        ).exchange_endpoint
        is None
    )


def test_devnet_runtime_without_the_chain_asked_for_says_which_it_has() -> None:
    with pytest.raises(InvalidInput, match=r"has no chain 31338; it has \[1\]"):
        TradingSession.from_devnet_runtime(_runtime(), "sqlite:///:memory:", KEY, chain_ids=[31338])
    with pytest.raises(InvalidInput, match="malformed"):
        TradingSession.from_devnet_runtime({"chains": {"l1": {}}}, "sqlite:///:memory:", KEY)


CONFIG = """
[store]
url = "postgresql://oms@db.internal/oms"
password_env = "PGPASS"

[risk]
max_order_notional = "5000"

[[chains]]
name = "mainnet"
chain_id = 1
rpc_url_env = "MAINNET_RPC"

[[venues]]
name = "binance"
kind = "ccxt"
exchange = "binance"
live = true
api_key_env = "BINANCE_KEY"
secret_env = "BINANCE_SECRET"

[[accounts]]
name = "desk"
signer = "env_key"
private_key_env = "DESK_KEY"
"""

ENV = {
    "PGPASS": "p@ss",
    "MAINNET_RPC": "https://rpc.example/key",
    "BINANCE_KEY": "bk",
    "BINANCE_SECRET": "bs",
    "DESK_KEY": KEY,
}


def test_config_wires_chains_exchange_account_and_store_from_the_environment() -> None:
    s = TradingSession.from_config(parse_config(CONFIG), ENV)
    assert s.chains[0].chain_id == 1 and s.chains[0].rpc_url == "https://rpc.example/key"
    assert s.exchange_endpoint == ExchangeEndpoint(
        exchange="binance", venue_id="binance", api_key="bk", secret="bs", live=True
    )
    assert s.account == "desk"
    assert "p@ss" not in s.store_url and "p%40ss" not in s.store_url
    assert (
        TradingSession.from_config(
            parse_config(CONFIG), ENV, with_exchange=False, store_url="sqlite:///x.db"
        ).store_url
        == "sqlite:///x.db"
    )


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("DESK_KEY", "accounts.desk.private_key_env"),
        ("MAINNET_RPC", "chains.mainnet.rpc_url_env"),
        ("BINANCE_SECRET", "venues.binance.secret_env"),
        ("PGPASS", "store.password_env"),
    ],
)
def test_a_missing_secret_names_its_config_key(drop: str, message: str) -> None:
    env = {k: v for k, v in ENV.items() if k != drop}
    with pytest.raises(ConfigError, match=message):
        TradingSession.from_config(parse_config(CONFIG), env)


def test_a_signer_kind_the_session_cannot_build_is_a_config_error() -> None:
    text = CONFIG.replace('signer = "env_key"', 'signer = "remote"\nremote_url = "http://s"')
    with pytest.raises(ConfigError, match="not supported by TradingSession"):
        TradingSession.from_config(parse_config(text), ENV)
    with pytest.raises(ConfigError, match="no account named 'ops'"):
        TradingSession.from_config(parse_config(CONFIG), ENV, account="ops")


def test_exchange_urls_point_every_api_at_the_local_server_keeping_paths() -> None:
    urls = {"public": "https://api.binance.com/api/v3", "ws": {"spot": "wss://s.b.com:9443/ws"}}
    assert local_exchange_urls(urls, "http://127.0.0.1:5000") == {
        "public": "http://127.0.0.1:5000/api/v3",
        "ws": {"spot": "ws://127.0.0.1:5000/ws"},
    }
    with pytest.raises(InvalidInput, match="http"):
        local_exchange_urls(urls, "127.0.0.1:5000")


def test_settled_means_terminal_and_the_transaction_deep_enough_or_final() -> None:
    from oms_chain.model.orders import OrderStatus, SettlementState, SettlementStatus

    def order(status: OrderStatus, st: SettlementState | None) -> Any:
        class Fake:
            is_terminal = status in (OrderStatus.FILLED, OrderStatus.CANCELLED)
            settlement = st

        return Fake()

    tx = "0x" + "ab" * 32
    filled = OrderStatus.FILLED
    assert is_settled(order(filled, None))
    assert not is_settled(order(OrderStatus.WORKING, None))
    inc = SettlementState(tx_hash=tx, status=SettlementStatus.INCLUDED)  # type: ignore[arg-type]
    assert is_settled(order(filled, inc)) and not is_settled(order(filled, inc), 1)
    two = SettlementState(tx_hash=tx, status=SettlementStatus.CONFIRMED, confirmations=2)  # type: ignore[arg-type]
    assert is_settled(order(filled, two), 2) and not is_settled(order(filled, two), 3)
    fin = SettlementState(tx_hash=tx, status=SettlementStatus.FINAL, confirmations=3)  # type: ignore[arg-type]
    assert is_settled(order(filled, fin), 12)
    sub = SettlementState(tx_hash=tx)  # type: ignore[arg-type]
    assert not is_settled(order(filled, sub))


def test_a_threshold_account_session_is_one_account_on_its_one_chain() -> None:
    from oms_chain.custody.local import LocalSigner
    from oms_chain.service import ChainEndpoint, SafeOwners, ThresholdGroup

    group = ThresholdGroup(signer=object(), group_key=b"\x02" * 33, chain_id=31337)
    relayer = LocalSigner(KEY)
    chain = ChainEndpoint(chain_id=31337, rpc_url="http://127.0.0.1:9")
    other = ChainEndpoint(chain_id=31338, rpc_url="http://127.0.0.1:9")
    kw: dict[str, Any] = {"store_url": "sqlite:///:memory:", "signer": relayer}
    TradingSession(chains=[chain], threshold=group, **kw)  # nothing opened yet
    with pytest.raises(InvalidInput, match="lives on chain 31337 only"):
        TradingSession(chains=[chain, other], threshold=group, **kw)
    with pytest.raises(InvalidInput, match="safe or threshold, not both"):
        safe = SafeOwners(address="0x" + "ab" * 20, owners=(relayer,))
        TradingSession(chains=[chain], threshold=group, safe=safe, **kw)
    with pytest.raises(InvalidInput, match="33-byte"):
        ThresholdGroup(signer=object(), group_key=b"\x02", chain_id=31337)
