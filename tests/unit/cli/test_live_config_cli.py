"""``oms swap --config`` refuses an unsafe config in one line naming the key, before any store,
chain or exchange is opened."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ACCOUNT = '[[accounts]]\nname = "desk"\nsigner = "env_key"\nprivate_key_env = "DESK_KEY"\n'
KEY = "0x" + "33" * 32


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (
            '[[chains]]\nname = "mainnet"\nchain_id = 1\nrpc_url = "http://127.0.0.1:9"\n',
            "risk.max_order_notional: required when trading real money (chain mainnet (1))",
        ),
        (
            '[[venues]]\nname = "binance"\nkind = "ccxt"\nexchange = "binance"\n',
            "venues.binance.live: this venue would trade real money",
        ),
        (
            '[[venues]]\nname = "binance"\nkind = "ccxt"\nexchange = "binance"\nlive = true\n',
            "risk.max_order_notional: required when trading real money (live exchange venue",
        ),
    ],
)
def test_an_unsafe_config_is_refused_in_one_line_before_anything_opens(
    tmp_path: Path, body: str, key: str
) -> None:
    store = tmp_path / "desk.db"
    config = tmp_path / "oms.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{store}"\n\n{body}\n{ACCOUNT}')
    args = ["swap", "--config", str(config), "--sell", "ETH", "--buy", "USDC", "--amount", "1"]
    proc = subprocess.run(
        [sys.executable, "-m", "oms_chain.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "DESK_KEY": KEY, "COLUMNS": "300"},
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and key in lines[0], proc.stderr
    assert not store.exists()


def test_options_on_a_live_options_exchange_ask_first_and_refuse_without_a_terminal(
    tmp_path: Path,
) -> None:
    store = tmp_path / "desk.db"
    config = tmp_path / "oms.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{store}"\n\n[risk]\nmax_order_notional = "1000"\n\n'
        '[[venues]]\nname = "deribit"\nkind = "options"\nexchange = "deribit"\nlive = true\n'
        f'api_key_env = "DX_ID"\nsecret_env = "DX_SECRET"\n\n{ACCOUNT}'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "oms_chain.cli", "options", "buy", "ETH-11DEC26-3000-P", "1",
         "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "DESK_KEY": KEY, "DX_ID": "i", "DX_SECRET": "s"},
    )  # fmt: skip
    assert proc.returncode == 4, proc.stderr
    assert "live target (options exchange deribit): nothing sent" in proc.stderr
    assert not store.exists()
