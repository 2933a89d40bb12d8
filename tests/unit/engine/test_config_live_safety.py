"""Safe defaults of the configuration: no real money without saying so, never without a limit.

A ``ccxt`` venue trades the sandbox (``testnet = true``), a local simulator (loopback
``rest_url``) or, only with ``live = true``, production. A config that trades real money (a
chain that is not a local devnet, or a live exchange) is refused without
``risk.max_order_notional``. Every refusal names the key to set.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms_chain.engine import parse_config
from oms_chain.engine.config import LOCAL_CHAIN_IDS, is_loopback_url
from oms_chain.model import ConfigError
from oms_chain.service import TradingSession

RISK = '[risk]\nmax_order_notional = "1000"\n'


def _venue(**keys: object) -> str:
    lines = ["[[venues]]", 'name = "bin"', 'kind = "ccxt"', 'exchange = "binance"']
    for k, v in keys.items():
        lines.append(f"{k} = " + ("true" if v is True else f'"{v}"'))
    return "\n".join(lines) + "\n"


def _chain(chain_id: int) -> str:
    return f'[[chains]]\nname = "c"\nchain_id = {chain_id}\nrpc_url = "http://127.0.0.1:8545"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_venue(), r"venues\.bin\.live: this venue would trade real money on binance's produc"),
        (_venue(rest_url="http://10.0.0.5:9000"), r"venues\.bin\.live: .* server at 'http://10"),
        (_venue(testnet=True, live=True), r"venues\.bin\.testnet: the exchange's sandbox exc"),
        (_venue(testnet=True, rest_url="http://127.0.0.1:1"), r"venues\.bin\.testnet: .*rest_url"),
        (_venue(live=True, rest_url="http://127.0.0.1:1"), r"venues\.bin\.live: rest_url .* this"),
        (_venue(rest_url="127.0.0.1:9000"), r"venues\.bin\.rest_url: must be http\(s\)://host"),
        (_venue(rest_url="http://u:p@127.0.0.1:1"), r"venues\.bin\.rest_url: must not contain"),
        (
            '[[venues]]\nname = "p"\nkind = "paper"\nlive = true\n',
            r"venues\.p\.live: only for kind 'ccxt'",
        ),
        (_venue(live=True), r"risk\.max_order_notional: required when trading real money "),
        (_chain(1), r"risk\.max_order_notional: required .*\(chain c \(1\)\)"),
        (_chain(42161) + "[risk]\nmax_open_orders = 3\n", r"risk\.max_order_notional: required"),
        (
            _chain(31337).replace("http://127.0.0.1:8545", "ftp://node"),
            r"chains\.c\.rpc_url: must start with http://",
        ),
        (_chain(31337) + 'rpc_url_env = "RPC"\n', r"chains\.c\.rpc_url_env: set rpc_url or"),
    ],
)
def test_an_unsafe_config_is_refused_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(text)


@pytest.mark.parametrize(
    "text",
    [
        _venue(testnet=True),
        _venue(rest_url="http://127.0.0.1:9000"),
        _venue(rest_url="http://localhost:9000"),
        _venue(rest_url="http://[::1]:9000"),
        _venue(live=True) + RISK,
        _venue(live=True, rest_url="https://binance.internal:443") + RISK,
        _chain(31337),
        _chain(31338) + _venue(testnet=True),
        _chain(1) + RISK,
    ],
)
def test_a_safe_config_loads(text: str) -> None:
    parse_config(text)


@given(st.integers(1, 2**40).filter(lambda i: i not in LOCAL_CHAIN_IDS))
def test_every_chain_but_a_local_devnet_needs_an_order_limit(chain_id: int) -> None:
    with pytest.raises(ConfigError, match=r"risk\.max_order_notional"):
        parse_config(_chain(chain_id))
    assert parse_config(_chain(chain_id) + RISK).risk.max_order_notional is not None


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:1", True),
        ("http://127.9.9.9", True),
        ("ws://localhost:9", True),
        ("http://[::1]:80", True),
        ("https://api.binance.com", False),
        ("http://10.0.0.1", False),
        ("http://127.0.0.1.evil.com", False),
        ("not a url", False),
    ],
)
def test_loopback_urls_are_this_machine_only(url: str, local: bool) -> None:
    assert is_loopback_url(url) is local


def test_testnet_in_the_config_is_the_sessions_sandbox_and_live_its_consent() -> None:
    env = {"K": "0x" + "22" * 32}
    account = '[[accounts]]\nname = "a"\nsigner = "env_key"\nprivate_key_env = "K"\n'
    sandbox = TradingSession.from_config(parse_config(_venue(testnet=True) + account), env)
    assert sandbox.exchange_endpoint is not None
    assert sandbox.exchange_endpoint.sandbox and not sandbox.exchange_endpoint.live
    assert not sandbox.exchange_endpoint.reaches_production
    live = TradingSession.from_config(parse_config(_venue(live=True) + RISK + account), env)
    assert live.exchange_endpoint is not None and live.exchange_endpoint.live
    local = TradingSession.from_config(
        parse_config(_venue(rest_url="http://127.0.0.1:9000") + account), env
    )
    assert local.exchange_endpoint is not None
    assert local.exchange_endpoint.rest_url == "http://127.0.0.1:9000"
