"""``signer = "threshold"`` accounts and ``kind = "options"`` venues in ``oms.toml``: what is
accepted, what is refused (the error names the key), and what a session is built from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oms_chain.engine import parse_config
from oms_chain.model import ConfigError
from oms_chain.service._session_options import options_from_config
from oms_chain.service._session_sources import endpoints_from_config, threshold_group_from_config

CHAIN = '[[chains]]\nname = "devnet"\nchain_id = 31337\nrpc_url = "http://127.0.0.1:8545"\n\n'
THRESHOLD = (
    '[[accounts]]\nname = "desk"\nsigner = "threshold"\nthreshold_dir = "{dir}"\n'
    'private_key_env = "RELAYER_KEY"\n'
)
DERIBIT = (
    '[[venues]]\nname = "dx"\nkind = "options"\nexchange = "deribit"\n'
    'rest_url = "http://127.0.0.1:9000"\napi_key_env = "DX_ID"\nsecret_env = "DX_SECRET"\n\n'
)
ONCHAIN = (
    '[[venues]]\nname = "rfq"\nkind = "options"\nchain = "devnet"\n'
    'makers = ["http://127.0.0.1:9001", "http://127.0.0.1:9002"]\n\n'
)
RELAYER = "0x" + "11" * 32


def test_a_threshold_account_names_its_group_folder_and_relayer() -> None:
    (acct,) = parse_config(CHAIN + THRESHOLD.format(dir="~/g")).accounts
    assert acct.threshold_dir == "~/g" and acct.private_key_env == "RELAYER_KEY"
    assert acct.coordinator_passphrase_env == "OMS_THRESHOLD_COORDINATOR_PASSPHRASE"
    assert acct.threshold_timeout_s == 5.0


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (('threshold_dir = "g"\n', ""), "accounts.desk.threshold_dir: required"),
        (('private_key_env = "RELAYER_KEY"\n', ""), "accounts.desk.private_key_env: required"),
        (("\n", "\nthreshold_timeout_s = 0\n"), "accounts.desk.threshold_timeout_s"),
        (("\n", '\ncoordinator_passphrase_env = ""\n'), "coordinator_passphrase_env"),
        (('signer = "threshold"', 'signer = "env_key"'), "accounts.desk.threshold_dir: only"),
        (("\n", "\ncoordinator_passphrase = 'x'\n"), "must not be written in the config"),
    ],
)
def test_bad_threshold_accounts_are_refused_naming_the_key(edit: tuple[str, str], key: str) -> None:
    text = CHAIN + THRESHOLD.format(dir="g")
    old, new = edit
    text = text[: text.rindex(old)] + new + text[text.rindex(old) + len(old) :]
    with pytest.raises(ConfigError, match=key):
        parse_config(text)


def _group(folder: Path, *, account: str | None, chain_id: int | None) -> Path:
    """A group.json as keygen + deploy write it (public data only)."""
    folder.mkdir()
    doc = {
        "format": "oms-threshold-group",
        "version": 1,
        "t": 2,
        "n": 3,
        "group_key": "02" + "ab" * 32,
        "public_key_package": "pkg",
        "coordinator_key": "cd" * 32,
        "participants": [
            {"name": n, "identifier": f"id-{n}", "auth_key": "ef" * 32} for n in ("p1", "p2", "p3")
        ],
        "account": account,
        "chain_id": chain_id,
    }
    (folder / "group.json").write_text(json.dumps(doc))
    return folder


ACCOUNT = "0x" + "12" * 20


@pytest.mark.parametrize(
    ("account", "chain_id", "extra", "env", "message"),
    [
        (None, None, "", {}, "threshold_dir: the group in .* has no account yet"),
        (ACCOUNT, 31337, f'address = "0x{"34" * 20}"\n', {}, "accounts.desk.address: .* is not"),
        (ACCOUNT, 1, "", {}, "threshold_dir: the group's account lives on chain 1 only"),
        (ACCOUNT, 31337, "", {}, "coordinator_passphrase_env: 'OMS_THRESHOLD_COORD.* not set"),
        (
            ACCOUNT,
            31337,
            "",
            {"OMS_THRESHOLD_COORDINATOR_PASSPHRASE": "long-enough-pass"},
            "coordinator_passphrase_env: .* does not open the group's coordinator key",
        ),
    ],
)
def test_a_threshold_account_is_checked_against_its_group_before_anything_opens(
    tmp_path: Path,
    account: str | None,
    chain_id: int | None,
    extra: str,
    env: dict[str, str],
    message: str,
) -> None:
    folder = _group(tmp_path / "g", account=account, chain_id=chain_id)
    cfg = parse_config(CHAIN + THRESHOLD.format(dir=folder) + extra)
    with pytest.raises(ConfigError, match=message):
        threshold_group_from_config(cfg.accounts[0], env, [31337])


def test_a_missing_group_folder_names_threshold_dir(tmp_path: Path) -> None:
    cfg = parse_config(CHAIN + THRESHOLD.format(dir=tmp_path / "nothing"))
    with pytest.raises(ConfigError, match=r"accounts\.desk\.threshold_dir: no threshold group"):
        threshold_group_from_config(cfg.accounts[0], {}, [31337])


def test_the_relayer_key_signs_for_a_threshold_account(tmp_path: Path) -> None:
    cfg = parse_config(CHAIN + THRESHOLD.format(dir=tmp_path))
    acct, signer, _, _, _ = endpoints_from_config(
        cfg, {"RELAYER_KEY": RELAYER}, account=None, store_url=None, with_exchange=False
    )
    assert acct.signer == "threshold" and signer.address.startswith("0x")
    with pytest.raises(ConfigError, match=r"accounts\.desk\.private_key_env: 'RELAYER_KEY'"):
        endpoints_from_config(cfg, {}, account=None, store_url=None, with_exchange=False)


def test_options_venues_become_the_chains_makers_and_the_options_exchange() -> None:
    cfg = parse_config(
        CHAIN + DERIBIT + ONCHAIN + '[[accounts]]\nname = "a"\nsigner = "env_key"\n'
        'private_key_env = "K"\n'
    )
    env = {"K": RELAYER, "DX_ID": "id", "DX_SECRET": "secret"}
    _, _, chains, exchange, _ = endpoints_from_config(
        cfg, env, account=None, store_url=None, with_exchange=True
    )
    assert exchange is None  # options venues are not the spot exchange
    (chain,) = chains
    assert chain.option_makers == ()
    (chain,), ox = options_from_config(cfg, env, chains)
    assert chain.option_makers == ("http://127.0.0.1:9001", "http://127.0.0.1:9002")
    assert chain.options_venue_id == "rfq"
    assert ox is not None and (ox.venue_id, ox.exchange) == ("dx", "deribit")
    assert (ox.api_key, ox.secret, ox.rest_url) == ("id", "secret", "http://127.0.0.1:9000")
    assert not ox.reaches_production
    with pytest.raises(ConfigError, match=r"venues\.dx\.secret_env: .*'DX_SECRET' is not set"):
        options_from_config(cfg, {"DX_ID": "id"}, chains)


@pytest.mark.parametrize(
    ("venue", "message"),
    [
        (DERIBIT.replace('"deribit"\nrest', '"okx"\nrest'), r"venues\.dx\.exchange: .*'deribit'"),
        (DERIBIT.replace("rest_url", "# rest_url"), r"venues\.dx\.live: this venue would trade"),
        (DERIBIT.replace('rest_url = "http://127.0.0.1:9000"', "testnet = true"), None),
        (
            DERIBIT.replace('exchange = "deribit"', 'exchange = "deribit"\nchain = "devnet"'),
            r"venues\.dx\.chain: set exchange or chain",
        ),
        (ONCHAIN.replace('chain = "devnet"\n', ""), r"venues\.rfq\.chain: an options venue needs"),
        (ONCHAIN, None),
        (ONCHAIN.replace("makers", "# makers"), r"venues\.rfq\.makers: required"),
        (ONCHAIN.replace("http://127.0.0.1:9002", "ftp://h"), r"venues\.rfq\.makers\[1\]"),
        (ONCHAIN.replace("http://127", "http://u:p@127"), r"makers\[0\]: must not contain"),
        (ONCHAIN + "testnet = true\n", r"venues\.rfq\.testnet: only for an options exchange"),
        (
            '[[venues]]\nname = "b"\nkind = "paper"\nmakers = ["http://127.0.0.1:1"]\n',
            r"venues\.b\.makers: only for an on-chain venue",
        ),
    ],
)
def test_options_venues_are_validated_naming_the_key(venue: str, message: str | None) -> None:
    text = CHAIN + venue
    if message is None:
        parse_config(text)
        return
    with pytest.raises(ConfigError, match=message):
        parse_config(text)


def test_a_live_options_exchange_needs_a_notional_limit() -> None:
    text = CHAIN + DERIBIT.replace('rest_url = "http://127.0.0.1:9000"', "live = true")
    with pytest.raises(ConfigError, match=r"risk\.max_order_notional: .*live exchange venue dx"):
        parse_config(text)
    cfg = parse_config(text + '[risk]\nmax_order_notional = "1000"\n')
    assert cfg.venues[0].is_live
