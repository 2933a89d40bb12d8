import contextlib
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms_chain.engine import OmsConfig, Secret, load_config, parse_config
from oms_chain.model import ConfigError

GOOD = """
[engine]
send_timeout_s = 5

[store]
url = "sqlite:///oms.db"

[risk]
currency = "USDC"
max_order_notional = "50000"
max_open_orders = 20
allowed_venues = ["binance", "paper"]
allowed_chains = [1, 42161]
max_slippage_bps = 50.5
[risk.max_position]
ETH = "100"

[[chains]]
name = "arbitrum"
chain_id = 42161
rpc_url_env = "ARB_RPC"

[[venues]]
name = "binance"
kind = "ccxt"
exchange = "binance"
live = true
api_key_env = "BINANCE_KEY"
secret_env = "BINANCE_SECRET"

[[venues]]
name = "uni"
kind = "uniswap_v3"
chain = "arbitrum"

[[accounts]]
name = "main"
signer = "keystore"
keystore_path = "~/.oms/main.json"
password_env = "OMS_PW"
"""


def test_a_full_config_loads_into_typed_frozen_sections(tmp_path):
    path = tmp_path / "oms.toml"
    path.write_text(GOOD)
    cfg = load_config(path)
    assert isinstance(cfg, OmsConfig)
    assert cfg.engine.send_timeout_s == 5.0
    assert cfg.risk.max_order_notional == Decimal(50_000)
    assert cfg.risk.max_slippage_bps == Decimal("50.5")
    assert cfg.risk.allowed_chains == frozenset({1, 42161})
    assert cfg.risk.max_position == {"ETH": Decimal(100)}
    assert [v.name for v in cfg.venues] == ["binance", "uni"]
    with pytest.raises(AttributeError):
        cfg.engine.send_timeout_s = 1  # type: ignore[misc]


def test_secrets_come_from_the_environment_and_never_print():
    cfg = parse_config(GOOD)
    creds = cfg.venues[0].credentials({"BINANCE_KEY": "k-123", "BINANCE_SECRET": "s-456"})
    assert creds["api_key"].reveal() == "k-123"
    assert "k-123" not in repr(creds) and "s-456" not in str(creds)
    assert repr(Secret("x")) == "Secret('***')"
    with pytest.raises(
        ConfigError,
        match=r"venues\.binance\.api_key_env: environment variable 'BINANCE_KEY' is not set",
    ):
        cfg.venues[0].credentials({})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[engine]\nsend_timeout = 5\n", "engine.send_timeout: unknown key; expected one of"),
        ("[risk]\nmax_order_notional = 'lots'\n", "risk.max_order_notional: expected a decimal"),
        ("[risk]\nmax_order_notional = -5\n", "'max_order_notional' must be a positive"),
        ("[risk]\nmax_open_orders = '3'\n", "risk.max_open_orders: expected an integer"),
        ("[risk]\nallowed_chains = [1, 'x']\n", r"risk.allowed_chains\[1\]: expected an integer"),
        (
            "[[venues]]\nname = 'b'\nkind = 'ccxt'\napi_key = 'abc'\n",
            "venues.b.api_key: secrets must not be written in the config file",
        ),
        ("[[venues]]\nname = 'b'\nkind = 'ftx'\n", "venues.b.kind: 'ftx' is not one of"),
        ("[[venues]]\nkind = 'paper'\n", r"venues\[0\].name: missing required key"),
        ("[[chains]]\nname = 'x'\n", "chains.x.chain_id: missing required key"),
        (
            "[[accounts]]\nname = 'm'\nsigner = 'env_key'\nprivate_key = '0xabc'\n",
            "accounts.m.private_key: secrets must not be written",
        ),
        ("[store]\nurl = 'postgresql://u:hunter2@db/oms'\n", "store.url: contains a password"),
        (
            "[[venues]]\nname='a'\nkind='paper'\n[[venues]]\nname='a'\nkind='paper'\n",
            "venues: duplicate name",
        ),
        (
            "[[venues]]\nname='u'\nkind='uniswap_v3'\nchain='nowhere'\n",
            "venues.u.chain: no chain named 'nowhere'",
        ),
        ("surprise = 1\n", "surprise: unknown key"),
        ("[engine\n", "not valid TOML"),
    ],
)
def test_bad_config_errors_name_the_key(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(text)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.toml")


scalars = st.one_of(
    st.integers(-10, 10**6),
    st.booleans(),
    st.text(max_size=8),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(0, 5), max_size=3),
)


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.encode("unicode_escape").decode().replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(v)


@given(
    section=st.sampled_from(["engine", "store", "risk"]),
    key=st.sampled_from(
        [
            "send_timeout_s",
            "url",
            "max_order_notional",
            "max_open_orders",
            "allowed_venues",
            "currency",
            "submit_burst",
            "bogus",
            "secret",
        ]
    ),
    value=scalars,
)
def test_fuzzed_config_values_load_or_raise_config_error(section, key, value):
    text = f"[{section}]\n{key} = {_toml_value(value)}\n"
    try:
        parse_config(text)
    except ConfigError as exc:
        assert f"{section}" in str(exc) or "TOML" in str(exc)


@given(st.text(max_size=200))
def test_arbitrary_text_never_escapes_as_anything_but_config_error(text):
    with contextlib.suppress(ConfigError):
        parse_config(text)


_SAFE_ACCOUNT = """
[[accounts]]
name = "dao"
signer = "safe"
safe_address = "0x000000000000000000000000000000000000dEaD"
private_key_env = "OMS_RELAYER_KEY"
"""


def test_a_safe_whose_owners_sign_elsewhere_needs_await_signatures_s():
    with pytest.raises(ConfigError, match="owner_key_envs: required"):
        parse_config(_SAFE_ACCOUNT)
    (acct,) = parse_config(_SAFE_ACCOUNT + "await_signatures_s = 3600\n").accounts
    assert (acct.owner_key_envs, acct.await_signatures_s) == ((), 3600)
    for bad in ["0", "2592001", "-5", "true", '"1h"']:
        with pytest.raises(ConfigError, match="await_signatures_s"):
            parse_config(_SAFE_ACCOUNT + f"await_signatures_s = {bad}\n")


def test_safe_owners_may_be_remote_with_a_wait():
    from oms_chain.model.errors import InvalidInput
    from oms_chain.service._session_sources import safe_owners_from_config
    from oms_chain.service.endpoints import SafeOwners

    (acct,) = parse_config(_SAFE_ACCOUNT + "await_signatures_s = 60\n").accounts
    owners = safe_owners_from_config(acct, {})
    assert owners is not None and owners.owners == ()
    assert owners.await_signatures_ns == 60 * 10**9
    with pytest.raises(InvalidInput, match="await_signatures_ns"):
        SafeOwners(address="0x000000000000000000000000000000000000dEaD", owners=())
