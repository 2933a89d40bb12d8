"""Every ``oms`` command fed missing, malformed and hostile arguments (a generated matrix of
several hundred invocations): one line on stderr (or one JSON object on stdout with ``--json``),
the documented exit code, never a traceback, and not one byte created or changed in the
folder holding the stores, the runtime file and the config.

The world is a devnet runtime file whose RPC and exchange URLs point at a bound port nobody
listens on, so a request that got past validation would fail at once; validation has to come
first for the expected messages to appear. Invocations run in-process through
``oms_chain.cli.main`` (an uncaught exception would fail the test), with a few through a real
subprocess at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_chain.cli import EXIT_CODES, main
from oms_chain.custody.safe import Call, TransactionBatch
from oms_chain.store import NewEvent, open_store

WETH = "0x1111111111111111111111111111111111111111"
USDC = "0x2222222222222222222222222222222222222222"
WBTC = "0x3333333333333333333333333333333333333333"
V3_500 = "uniswap-v3-500-31337"


@dataclass(frozen=True)
class World:
    root: Path
    runtime: Path
    store_url: str
    garbage_store: Path
    config: Path


@pytest.fixture(scope="module")
def dead_port() -> Iterator[int]:
    """A loopback port that is bound but never listens: every connection is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, dead_port: int) -> World:
    root = tmp_path_factory.mktemp("hostile")
    url = f"http://127.0.0.1:{dead_port}"
    book = {
        "chain_id": 31337,
        "name": "devnet-l1",
        "contracts": {},
        "tokens": {
            "WETH": {"address": WETH, "decimals": 18},
            "USDC": {"address": USDC, "decimals": 6},
            "WBTC": {"address": WBTC, "decimals": 8},
        },
        "pools": [
            {"protocol": "uniswap-v3", "address": "0x" + "44" * 20, "token0": WETH,
             "token1": USDC, "fee": 500},
            {"protocol": "uniswap-v2", "address": "0x" + "55" * 20, "token0": WETH,
             "token1": USDC, "fee": 3000},
            {"protocol": "uniswap-v3", "address": "0x" + "66" * 20, "token0": WBTC,
             "token1": USDC, "fee": 3000},
        ],
    }  # fmt: skip
    runtime = root / "devnet-running.json"
    runtime.write_text(
        json.dumps(
            {
                # this test process: alive, and not `oms devnet up` (never to be signalled)
                "pid": os.getpid(),
                "chains": {
                    "l1": {"name": "l1", "chain_id": 31337, "rpc_url": url, "ws_url": url,
                           "block_time": None, "pid": 0, "address_book": book},
                    "exchange": {"kind": "binance-spot-simulator", "rest_url": url,
                                 "ws_url": url.replace("http", "ws"),
                                 "accounts": [{"api_key": "k", "secret": "s"}]},
                },
            }
        )
    )  # fmt: skip
    store = root / "desk.db"
    with open_store(f"sqlite:///{store}") as es:
        es.append(
            "order-1",
            [NewEvent(event_id="e1", event_type="OrderAccepted", version=1,
                      payload={"qty": "1"}, ts_event=1, ts_init=1)],
            expected_version=None,
        )  # fmt: skip
    garbage = root / "garbage.db"
    garbage.write_bytes(b"this is not a SQLite database\n" * 8)
    config = root / "bad.toml"
    config.write_text('[[chains]]\nname = "x"\nchain_id = 31337\nno_such_key = 1\n')
    (root / "broken.toml").write_text("[[chains]\nname = ")
    (root / "bad-alerts.toml").write_text(
        '[[alerts]]\nname = "x"\nmetric = "gamma"\nthreshold = 1\n\n'
        '[market]\nspots = { ETH = 2000 }\n\n[[holdings]]\nkind = "spot"\n'
        'underlying = "ETH"\nquantity = 1\n'
    )
    dead = "0x000000000000000000000000000000000000dEaD"
    batch = TransactionBatch.of(31337, dead, [Call.to_address(dead, b"", 1)])
    (root / "batch.json").write_text(json.dumps(batch.to_json(0)))
    return World(root, runtime, f"sqlite:///{store}", garbage, config)


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# --- the matrix ------------------------------------------------------------------------------

NOT_A_NUMBER = [
    "", " ", "NaN", "nan", "-nan", "inf", "-inf", "Infinity", "1e80", "1e-30", "1E5", "-1",
    "+1", "１０", "١٠", "۱۰", "१०", "1_000", "1,000", "1 000", "0x10", "1.", ".5", "1..2",
    "abc", "∞", "½", "²", "1\x00", "1\n2", "../../etc/passwd", "😀", "' OR 1=1 --", "%s%n",
    "9" * 41, "1" + "0" * 80, "0." + "0" * 30 + "1", "-0.5", "1/2", "١.٥",
]  # fmt: skip
NOT_POSITIVE_OR_TOO_BIG = ["0", "0.0", "00", "1" + "0" * 16, "0." + "0" * 18 + "1"]
NOT_AN_INT = [*NOT_A_NUMBER, "1.5", "1.0", "-3", "99999999999999999999999"]
BAD_DURATIONS = [
    "", "0s", "-1s", "1", "1x", "s", "99999999999999999999h", "１０s", "١٠m", "1_000s",
    "1e3s", "nanh", "infs", "31d", "500ms", "0.5s", "1 h", "2H", "1h30m", "../1h", "1ｈ",
]  # fmt: skip
BAD_SYMBOLS = ["", "ＥＴＨ", "ETH/USDC", "E T H", "../etc", "ETH;rm -rf", "X" * 21, "😀", "ETH\n"]
UNKNOWN_SYMBOLS = ["FOO", "DOGE", "usdt", "ETH2"]
BAD_PAIRS = [
    "ETH",
    "ETH/",
    "/USDC",
    "ETH/USDC/DAI",
    "ETH/ETH",
    "ＥＴＨ/USDC",
    "FOO/USDC",
    "eth-usdc",
]
BAD_VENUES = [
    "uniswap-v9-1",
    "../../x",
    "",
    "a b",
    "binance\x00",
    "x" * 201,
    "ＢＩＮＡＮＣＥ",
    "uniswap-v3-3000-31337",
]  # fmt: skip  (the last: a pool, but of WBTC/USDC)
BAD_IDS = ["", " ", "../../etc/passwd", "o 1", "o-1\n", "x" * 201, "😀", ".hidden", "o\x00"]
BAD_HASHES = ["", "0x", "0x123", "0x" + "g" * 64, "0x" + "0" * 63, "0x" + "0" * 65, "１" * 66,
              "../" * 22, "0X" + "ab" * 32 + "z"]  # fmt: skip
BAD_SIDES = ["", "hold", "BUYY", "ｂｕｙ", "1", "sell;"]
BAD_ALGOS = ["", "pov", "TWAP2", "ｔｗａｐ", "../twap"]


def _spread(values: list[str], k: int, n: int = 3) -> list[str]:
    """Every ``n``-th of ``values``, starting at ``k % n``: options share the hostile values."""
    return values[k % n :: n]


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    code: int
    says: str  # a fragment the one error line must contain


def _cases(world_root: str) -> list[Case]:
    out: list[Case] = []

    def add(argv: list[str], code: int = 2, says: str = "") -> None:
        out.append(Case(tuple(argv), code, says))

    swap = ["swap", "--sell", "ETH", "--buy", "USDC", "--amount", "1"]
    order = ["order", "--side", "sell", "--symbol", "ETH/USDC", "--quantity", "1"]
    twap = [*order, "--duration", "1m"]
    quote = ["quote", "--sell", "ETH", "--buy", "USDC", "--amount", "1"]
    route = ["route", "--sell", "ETH", "--buy", "USDC", "--amount", "1"]

    def with_opt(base: list[str], opt: str, value: str) -> list[str]:
        if opt in base:  # replace the value
            i = base.index(opt)
            return [*base[: i + 1], value, *base[i + 2 :]]
        return [*base, opt, value]

    amounts = NOT_A_NUMBER + NOT_POSITIVE_OR_TOO_BIG
    for v in amounts:  # every hostile number on the two main quantities
        add(with_opt(swap, "--amount", v), says="--amount")
        add(with_opt(twap, "--quantity", v), says="--quantity")
    # a third of them (a different third each) on every other numeric option
    for k, (base, opt) in enumerate(
        [(quote, "--amount"), (route, "--amount"), (twap, "--limit"),
         ([*order, "--algo", "iceberg"], "--display")]
    ):  # fmt: skip
        for v in _spread(amounts, k):
            add(with_opt(base, opt, v), says=opt)
    for k, (base, opt) in enumerate(
        [(swap, "--slippage-bps"), (twap, "--slippage-bps"), (route, "--gas-price-gwei"),
         (swap, "--timeout"), (twap, "--timeout")]
    ):  # fmt: skip
        too_big = {"--slippage-bps": ["10001"], "--timeout": ["604801"]}.get(opt, [])
        for v in [*_spread(NOT_A_NUMBER, k), *too_big]:
            add(with_opt(base, opt, v), says=opt)
    orders = ["orders", "--store", "sqlite:///x.db"]
    for k, (base, opt) in enumerate(
        [(orders, "--limit"), (swap, "--confirmations"), (twap, "--slices"), (swap, "--chain"),
         (quote, "--chain")]
    ):  # fmt: skip
        for v in _spread(NOT_AN_INT, k):
            add(with_opt(base, opt, v), says=opt)
    for v in ["0", "100001"]:
        add(with_opt(orders, "--limit", v), says="--limit")
    add(with_opt(swap, "--confirmations", "1001"), says="--confirmations")
    add(with_opt(twap, "--slices", "10001"), says="--slices")
    for v in BAD_DURATIONS:
        add(with_opt(twap, "--duration", v), says="--duration")
        add(with_opt([*order, "--algo", "vwap"], "--duration", v), says="--duration")
    for v in BAD_SYMBOLS:
        add(with_opt(swap, "--sell", v), says="--sell")
        add(with_opt(swap, "--buy", v), says="--buy")
        add(with_opt(quote, "--sell", v), says="--sell")
        add(with_opt(route, "--buy", v), says="--buy")
    for v in UNKNOWN_SYMBOLS:
        add(with_opt(swap, "--sell", v), says="no venue trades")
        add(with_opt(twap, "--symbol", f"{v}/USDC"), says="no venue trades")
    for v in BAD_PAIRS:
        add(with_opt(twap, "--symbol", v), says="")
    for v in BAD_VENUES:
        add([*swap, "--venue", v], says="venue")
        add([*twap, "--venues", v], says="venue")
    for v in BAD_SIDES:
        add(with_opt(twap, "--side", v), says="--side")
    for v in BAD_ALGOS:
        add(with_opt(twap, "--algo", v), says="--algo")
    for v in BAD_IDS:
        add(["cancel", v], says="ORDER_ID")
        add(["order", "--resume", v], says="--resume")
    for v in BAD_HASHES:
        add(["tx", "status", v], says="TX_HASH")
    for v in ["", "loud", "１", "DEBUG2"]:
        add(["--log-level", v, "orders", "--store", "sqlite:///x.db"], says="--log-level")
    add(["--log-file", f"{world_root}/no/such/dir/x.log", "version"], says="--log-file")
    for reason in ["", " ", "a\nb", "x" * 201, "\x00abc", "tab\there"]:
        add(["halt", "--reason", reason], says="--reason")
        add(["halt", "--reducing", "--reason", reason], says="--reason")
        add(["resume-trading", "--reason", reason], says="--reason")
    # stores: missing, not a store, unsupported
    for url in [
        "",
        "mysql://x",
        "sqlite://relative.db",
        "file:///etc/passwd",
        f"sqlite:///{world_root}/missing.db",
        f"sqlite:///{world_root}/../{Path(world_root).name}/nope/x.db",
        f"sqlite:///{world_root}/garbage.db",
    ]:
        add(["orders", "--store", url], says="")
        add(["audit", "verify", "--store", url], says="")
        add(["cancel", "o-1", "--store", url], says="")
        add(["order", "--resume", "o-1", "--store", url], says="")
    for dest in [f"{world_root}/no/such/dir/out.jsonl", world_root]:
        add(["audit", "export", "--store", "sqlite:///x.db", "--out", dest], says="--out")
    # configs: missing, unknown key, broken TOML
    for cfg in [
        f"{world_root}/missing.toml",
        f"{world_root}/bad.toml",
        f"{world_root}/broken.toml",
    ]:
        add([*swap, "--config", cfg], says="")
        add([*twap, "--config", cfg], says="")
        add(["cancel", "o-1", "--config", cfg], says="")
    # VWAP profiles
    add([*order, "--algo", "vwap", "--duration", "1m", "--profile", f"{world_root}/none.txt"],
        says="--profile")  # fmt: skip
    add([*twap, "--profile", f"{world_root}/bad.toml"], says="--profile")
    add([*order, "--algo", "vwap", "--duration", "1m", "--no-exchange"], says="--profile")
    # the order's ids: unknown in the devnet's (absent) default store
    add(["cancel", "o-unknown"], says="no event store")
    add(["order", "--resume", "o-unknown"], says="no event store")
    # options chains: currency, venue, expiry, a market without makers
    dx = ["--venue", "deribit", "--deribit-url", "http://127.0.0.1:9"]
    for v in ["", "DOGE", "ETH/USD", "ｅｔｈ"]:
        add(["options", "chain", v, *dx], says="currency")
    for v in ["", "binance", "../x"]:
        add(["options", "chain", "ETH", "--venue", v], says="--venue")
    for v in ["soon", "2026-13-01", ""]:
        add(["options", "chain", "ETH", "--expiry", v, *dx], says="--expiry")
    add(["options", "chain", "ETH", "--venue", "onchain"], says="--maker")
    # usage errors: missing values, options and commands
    for argv in (
        [],
        ["nosuch"],
        ["devnet"],
        ["devnet", "nope"],
        ["tx"],
        ["tx", "status"],
        ["audit"],
        ["audit", "export"],
        ["orders"],
        ["orders", "--limit"],
        ["swap"],
        ["swap", "--sell", "ETH"],
        ["swap", "--nosuch"],
        ["quote", "--amount", "1"],
        ["route"],
        ["cancel"],
        ["order", "--side"],
        ["halt", "--store"],
        ["--version", "--nosuch"],
        ["version", "extra"],
        ["setup", "extra"],
        ["setup", "--nosuch"],
        ["demo", "--nosuch"],
        ["demo", "--fresh", "extra"],
        ["devnet", "up", "--port", "abc"],
        ["devnet", "up", "--nosuch"],
        ["devnet", "down", "--timeout", "١٠"],
        ["devnet", "down", "--timeout", "601"],
    ):
        add(list(argv), says="--help")
    # oms completion SHELL and oms devnet keys --count N
    for v in ["", "powershell", "BASH", "../bash", "bash;rm", "ｂａｓｈ", "bash\n"]:
        add(["completion", v], says="SHELL")
    for v in [*_spread(NOT_AN_INT, 0), "0", "11"]:
        add(["devnet", "keys", "--count", v], says="--count")
    for argv in (["completion"], ["completion", "bash", "extra"], ["devnet", "keys", "x"]):
        add(list(argv), says="--help")
    # one asset on both sides (ETH and WETH alike, any case) is refused on every command
    add(["quote", "--sell", "eth", "--buy", "WETH", "--amount", "1"], says="both ETH")
    add(["route", "--sell", "weth", "--buy", "Eth", "--amount", "1"], says="both WETH")
    add(["swap", "--sell", "wbtc", "--buy", "btc", "--amount", "1"], says="both WBTC")
    add(with_opt(twap, "--symbol", "eth/weth"), says="against itself")
    # missing required combinations the command checks itself
    add(["order", "--symbol", "ETH/USDC", "--quantity", "1"], says="--side required")
    add([*order], says="needs --duration")
    add(["swap", "--sell", "ETH", "--buy", "WETH", "--amount", "1"], says="both ETH")
    # the devnet recorded in the runtime file is "running" (its pid is alive): refused
    add(["devnet", "up", "--no-l2"], code=4, says="already running")
    # its pid is not `oms devnet up` (it is this test): never signalled
    add(["devnet", "down"], code=1, says="not stopping it")
    # valid requests reach the (dead) devnet only after every check
    add(swap, says="does not answer")
    add([*twap, "--venues", V3_500.upper()], says="does not answer")
    add(["cancel", "o-1", "--store", "sqlite:///{store}"], says="does not answer")
    # oms treasury: the policy file and the run id are checked before any store is opened
    add(["treasury"], says="--help")
    for sub in ["plan", "propose", "status", "report"]:
        extra = {"propose": ["--out", world_root], "report": ["--out", f"{world_root}/rep"]}.get(
            sub, []
        )
        tail = ["--run", "w1", "--store", "sqlite:///{store}", *extra]
        add(["treasury", sub, f"{world_root}/none.toml", *tail], says="none.toml")
        add(["treasury", sub, f"{world_root}/broken.toml", *tail], says="TOML")
        add(["treasury", sub, f"{world_root}/bad.toml", *tail], says="")
    add(["treasury", "approve", f"{world_root}/bad.toml", "--run", "w1", "--store",
         "sqlite:///{store}", "--proposal", "p",
         "--signature", "zz"], says="")  # fmt: skip
    add(["treasury", "execute", f"{world_root}/bad.toml", "--run", "w1", "--store",
         "sqlite:///{store}", "--key-env",
         "OMS_NO_SUCH_KEY"], says="")  # fmt: skip
    # oms safe: addresses, nonces, files and keys are checked before anything is opened
    dead = "0x000000000000000000000000000000000000dEaD"
    add(["safe"], says="--help")
    for v in ["", "0x12", "dead", "0x" + "g" * 40, "../../etc"]:
        add(["safe", "show", v], says="SAFE")
        add(["safe", "export", "--safe", v, "--chain", "1", "--call", dead,
             "--out", f"{world_root}/b.json"], says="--safe")  # fmt: skip
    for v in _spread(NOT_AN_INT, 0):
        add(["safe", "hash", f"{world_root}/bad.toml", "--nonce", v], says="--nonce")
    add(["safe", "hash", f"{world_root}/none.json", "--nonce", "0"], says="cannot be read")
    add(["safe", "hash", f"{world_root}/bad.toml", "--nonce", "0"], says="not JSON")
    add(["safe", "export", "--safe", dead, "--chain", "1", "--call", f"{dead},1,zz",
         "--out", f"{world_root}/b.json"], says="not hex")  # fmt: skip
    add(["safe", "export", "--safe", dead, "--chain", "1", "--call", dead,
         "--out", f"{world_root}/no/such/b.json"], says="--out")  # fmt: skip
    add(["safe", "sign", f"{world_root}/bad.toml", "--nonce", "0", "--key-env",
         "OMS_NO_SUCH_KEY"], says="OMS_NO_SUCH_KEY")  # fmt: skip
    add(["safe", "sign", f"{world_root}/bad.toml", "--nonce", "0"], says="--threshold-group")
    add(["safe", "sign", f"{world_root}/bad.toml", "--nonce", "0", "--key-env", "K",
         "--threshold-group", f"{world_root}/group"], says="one of --key-env")  # fmt: skip
    add(["safe", "execute", f"{world_root}/bad.toml", "--nonce", "0", "--signature", "zz",
         "--key-env", "OMS_NO_SUCH_KEY"], says="--signature 1")  # fmt: skip
    add(["safe", "show", dead], code=1, says="no RPC endpoint answered")
    add(["safe", "approve", "0x" + "ab" * 32, "--store", f"sqlite:///{world_root}/none.db",
         "--signature", "zz"], says="--signature 1")  # fmt: skip
    add(["safe", "approve", "0x" + "ab" * 32, "--store", f"sqlite:///{world_root}/none.db",
         "--signature", f"{dead}:0x{'11' * 64}1b", "--key-env", "OMS_NO_SUCH_KEY"],
        says="OMS_NO_SUCH_KEY")  # fmt: skip
    add(["safe", "proposals", "export", "0x" + "ab" * 32, "--store",
         f"sqlite:///{world_root}/none.db", "--out", f"{world_root}/p.json"],
        says="none.db")  # fmt: skip
    # oms safe propose / list / show SAFE_TX_HASH: the file and options before chain or store
    prop = ["safe", "propose", f"{world_root}/batch.json", "--safe", dead, "--chain", "31337",
            "--store", f"sqlite:///{world_root}/new.db"]  # fmt: skip
    for v in ["", "0x12", "0x" + "g" * 40]:
        add(with_opt(prop, "--safe", v), says="--safe")
    add(with_opt(prop, "--safe", "0x" + "11" * 20), says="not the file's Safe")
    add(with_opt(prop, "--chain", "1"), says="not the file's chain")
    for v in _spread(NOT_AN_INT, 1):
        add(with_opt(prop, "--chain", v), says="--chain")
        add([*prop, "--nonce", v], says="--nonce")
    for v in _spread(BAD_DURATIONS, 2, 4):
        add([*prop, "--deadline", v], says="--deadline")
    add([*prop, "--proposer", "x" * 201], says="--proposer")
    add(["safe", "propose", f"{world_root}/none.json", *prop[3:]], says="cannot be read")
    add(["safe", "propose", f"{world_root}/bad.toml", *prop[3:]], says="not JSON")
    add(prop, code=1, says="no RPC endpoint answered")  # valid: the dead devnet, no store made
    add(["safe", "list", "--store", f"sqlite:///{world_root}/none.db"], says="none.db")
    add(["safe", "list", "--store", "sqlite:///{store}", "--safe", "0x12"], says="--safe")
    add(["safe", "show", "0x" + "ab" * 32], says="needs --store")
    add(["safe", "show", "0x" + "ab" * 32, "--store", "sqlite:///{store}"], says="no proposal")
    add(["safe", "approve", "0x" + "ab" * 32, "--store", "sqlite:///{store}"],
        says="give --signature")  # fmt: skip
    # oms strategy KIND: every argument checked before quotes are fetched or a file written
    ic = ["strategy", "iron-condor", "--underlying", "ETH", "--expiry", "2099-01-16",
          "--strikes", "1800,1900,2100,2200", "--size", "1", "--dry-run"]  # fmt: skip
    cal = ["strategy", "calendar", "--underlying", "ETH", "--expiry", "2099-01-16",
           "--strikes", "2000", "--size", "1", "--dry-run"]  # fmt: skip
    for v in ["", "iron_condor", "IRON-CONDOR", "ｓｔｒａｄｄｌｅ", "../x", "custom"]:
        add(["strategy", v, *ic[2:]], says="KIND")
    for k, v in enumerate([*NOT_A_NUMBER, *NOT_POSITIVE_OR_TOO_BIG]):
        add(with_opt(ic, "--size", v), says="--size")
        if k % 3 == 0:
            add(with_opt(ic, "--strikes", f"1800,{v},2100,2200"), says="--strikes")
    add(with_opt(ic, "--size", "0.00001"), says="leg 0 (buy put 1800)")
    for v in ["1800,1900,2100", "1800,1900,2100,2200,2300", "", "1800;1900;2100;2200"]:
        add(with_opt(ic, "--strikes", v), says="--strikes")
    add(with_opt(ic, "--strikes", "1900,1800,2100,2200"), says="leg 1 (put 1800)")
    add(with_opt(ic, "--strikes", "1800,1900,2100,2100"), says="leg 3 (call 2100)")
    for v in ["2099-13-01", "16JAN99", "", "2099-1-6", "２０９９-01-16", "2099-02-30"]:
        add(with_opt(ic, "--expiry", v), says="--expiry")
    add(with_opt(ic, "--expiry", "2020-01-03"), says="has passed")
    for v in [*BAD_SYMBOLS[:4], "DOGE"]:
        add(with_opt(ic, "--underlying", v), says="--underlying")
    add(cal, says="needs --far-expiry")
    add([*ic, "--far-expiry", "2099-02-13"], says="--far-expiry is only for")
    add([*cal, "--far-expiry", "2099-01-16"], says="leg 1")
    add([*cal, "--far-expiry", "2099-1-1"], says="--far-expiry")
    add([*ic, "--type", "put"], says="--type")
    add([*cal, "--far-expiry", "2099-02-13", "--type", "straddle"], says="--type")
    add(["strategy", "bull-call-spread", *ic[2:6], "--strikes", "1,2", "--size", "1",
         "--direction", "short"], says="--direction")  # fmt: skip
    add([*ic, "--direction", "up"], says="--direction")
    add([*ic, "--ratio", "1x2"], says="--ratio")
    ratio = ["strategy", "ratio-spread", *ic[2:6], "--strikes", "2000,2100", "--size", "1",
             "--dry-run"]  # fmt: skip
    for v in ["1:2", "x2", "1x", "1x2x3", "１x2"]:
        add([*ratio, "--ratio", v], says="--ratio")
    add([*ratio, "--ratio", "2x2"], says="vertical spread")
    add([*ratio, "--ratio", "0x2"], says="ratio")
    for v in ["binance", "", "DERIBIT", "deribit;rm"]:
        add([*ic, "--venue", v], says="--venue")
    add([*ic, "--venue", "deribit"], says="no devnet with the Deribit-protocol exchange")
    add([*ic, "--venue", "deribit", "--spot", "2000"], says="--spot")
    for opt, v in [("--vol", "9"), ("--vol", "0"), ("--vol", "x"), ("--rate", "0.9"),
                   ("--rate", "-0.1"), ("--spot", "0"), ("--spot", "1e3"), ("--points", "1"),
                   ("--points", "202"), ("--points", "x")]:  # fmt: skip
        add([*ic, opt, v], says=opt)
    add([*ic, "--chart", f"{world_root}/no/such/dir/c.png"], says="--chart")
    add(ic[:-1], says="executing needs --venue onchain")
    # oms strategy --policy all-or-unwind|hedge-residual: venues and bounds before anything opens
    xv = [*ic[:-1], "--policy", "all-or-unwind", "--venue", "deribit"]
    hr = [*ic[:-1], "--policy", "hedge-residual", "--venue", "deribit"]
    for v in ["ftx", "", "ONCHAIN", "deribit;rm", "ｏｎｃｈａｉｎ"]:
        add([*ic[:-1], "--policy", "all-or-unwind", "--venue", v], says="--venue must be")
    add([*ic[:-1], "--policy", "all-or-unwind"], says="needs --venue")
    add([*ic[:-1], "--policy", "all-or-unwind", "--venue", "onchain"], says="atomically")
    add([*xv, "--venue", "onchain"], says="--venue given 2 times")
    add([*ic[:-1], "--venue", "onchain", "--venue", "deribit"], says="need --policy")
    for opt in ("--leg-time-limit", "--unwind-slippage", "--hedge-band", "--hedge-time-limit"):
        add([*ic, opt, "5"], says=f"{opt} is for --policy")
        for v in ["0", "-1", "x", "1e3", "nan"]:
            add([*hr, "--hedge-venue", "deribit", "--hedge-instrument", "ETH-1JAN99-1-C", opt, v],
                says=opt)  # fmt: skip
    add([*xv, "--unwind-slippage", "10001"], says="--unwind-slippage must be at most")
    add([*xv, "--leg-time-limit", "86401"], says="--leg-time-limit must be at most")
    add([*xv, "--hedge-band", "5"], says="--hedge-band is for --policy hedge-residual")
    add([*xv, "--hedge-venue", "deribit"], says="--hedge-venue and --hedge-instrument are for")
    add(hr, says="needs --hedge-venue")
    add([*hr, "--hedge-venue", "deribit"], says="needs --hedge-venue")
    add([*hr, "--hedge-venue", "ftx", "--hedge-instrument", "ETH-1JAN99-1-C"],
        says="--hedge-venue must be")  # fmt: skip
    for v in ["ETH", "ETH-1JAN99-1", "../x", "ETH-1JAN99-1-C;rm"]:
        add([*hr, "--hedge-venue", "deribit", "--hedge-instrument", v],
            says="--hedge-instrument")  # fmt: skip
    for opt, v in [("--maker", "http://x"), ("--executor", "0x12"), ("--spot", "3"),
                   ("--max-loss", "9"), ("--max-premium", "1"), ("--max-margin", "9")]:  # fmt: skip
        add([*xv, opt, v], says=opt)
    add([*xv, "--yes", "--vol", "9"], says="--vol")
    for v in [*BAD_IDS, "x" * 41, "a;b", "-x"]:
        add([*xv, "--id", v], says="--id")
    add(xv, says="does not answer")
    add([*xv, "--yes"], says="does not answer")
    for argv in (["strategy"], ["strategy", "straddle"], ["strategy", "straddle", "--nosuch"]):
        add(list(argv), says="--help")
    # oms risk: the portfolio / quotes files and every option are checked, nothing is opened
    add(["risk"], says="--portfolio FILE is required")
    add(["risk", "--portfolio", f"{world_root}/none.toml"], says="cannot read portfolio")
    add(["risk", "--portfolio", f"{world_root}/broken.toml"], says="not valid TOML")
    add(["risk", "--portfolio", f"{world_root}/bad.toml"], says="portfolio.chains: unknown key")
    for v in [*_spread(NOT_A_NUMBER, 1), "0.4", "1", "0.99999"]:
        add(["risk", "--portfolio", f"{world_root}/none.toml", "--confidence", v],
            says="--confidence")  # fmt: skip
    for v in [*_spread(NOT_AN_INT, 2), "0", "366"]:
        add(["risk", "--portfolio", f"{world_root}/none.toml", "--horizon-days", v],
            says="--horizon-days")  # fmt: skip
    for v in BAD_SYMBOLS:
        add(["risk", "surface", v], says="SYMBOL")
    add(["risk", "surface", "ETH", "--quotes", f"{world_root}/none.csv"], says="cannot read")
    add(["risk", "surface", "ETH", "--quotes", f"{world_root}/bad.toml"], says="# forward=")
    # oms hedge: the policy file and every option before a session is opened
    add(["hedge"], says="--policy")
    add(["hedge", "--policy", f"{world_root}/none.toml"], says="cannot read hedge policy")
    add(["hedge", "--policy", f"{world_root}/broken.toml"], says="not valid TOML")
    add(["hedge", "--policy", f"{world_root}/bad.toml"], says="chains: unknown key")
    for v in [*_spread(NOT_A_NUMBER, 2), "0", "3601"]:
        add(["hedge", "--policy", f"{world_root}/none.toml", "--interval", v], says="--interval")
    for v in [*_spread(NOT_AN_INT, 0), "0"]:
        add(["hedge", "--policy", f"{world_root}/none.toml", "--iterations", v],
            says="--iterations")  # fmt: skip
    # oms threshold / oms signer participant: every argument checked before a file is written
    grp = f"{world_root}/group"
    add(["threshold"], says="--help")
    add(["signer"], says="--help")
    for v in _spread(NOT_AN_INT, 0):
        add(["threshold", "keygen", "--t", v, "--n", "3", "--dir", grp], says="--t")
        add(["threshold", "keygen", "--t", "2", "--n", v, "--dir", grp], says="--n")
    for t, n, says in (("1", "3", "--t"), ("4", "3", "t=4"), ("2", "65", "--n"), ("2", "1", "--n")):
        add(["threshold", "keygen", "--t", t, "--n", n, "--dir", grp], says=says)
    for names in ("a,a,b", "a,b", "A,b,c", "a,b,../c", "a,b,"):
        add(["threshold", "keygen", "--t", "2", "--n", "3", "--dir", grp, "--names", names],
            says="name")  # fmt: skip
    add(["threshold", "keygen", "--t", "2", "--n", "3", "--dir", grp, "--passphrase-env",
         "OMS_NO_SUCH_PASS"], says="OMS_NO_SUCH_PASS")  # fmt: skip
    add(["threshold", "status", "--dir", grp], says="no threshold group")
    add(["threshold", "deploy", "--dir", grp, "--key-env", "OMS_NO_SUCH_KEY"],
        says="no threshold group")  # fmt: skip
    add(["threshold", "deploy", "--dir", grp], says="--key-env")
    for v in ["0", "601", "x"]:
        add(["threshold", "status", "--dir", grp, "--timeout", v], says="--timeout")
    for v in ["", "BAD", "../p1", "p" * 40]:
        add(["signer", "participant", "--name", v, "--dir", grp], says="participant name")
    for v in ["70000", "-1", "x"]:
        add(["signer", "participant", "--name", "p1", "--dir", grp, "--port", v], says="--port")
    add(["signer", "participant", "--name", "p1", "--dir", grp, "--coordinator-key", "zz"],
        says="--coordinator-key")  # fmt: skip
    add(["signer", "participant", "--name", "p1", "--dir", grp, "--passphrase-env",
         "OMS_NO_SUCH_PASS"], says="OMS_NO_SUCH_PASS")  # fmt: skip
    add(["signer", "participant", "--name", "p1", "--dir", grp],
        says="OMS_THRESHOLD_PASSPHRASE_P1")  # fmt: skip
    add(["signer", "participant", "--name", "p1", "--dir", grp, "--passphrase-env", "V",
         "--passphrase-file", f"{world_root}/p"], says="not both")  # fmt: skip
    add(["signer", "participant", "--name", "p1", "--dir", grp, "--passphrase-file",
         f"{world_root}/none.pass"], says="cannot be read")  # fmt: skip
    add(["signer", "participant", "--name", "p1", "--dir", grp, "--policy",
         f"{world_root}/none.toml"], says="does not exist")  # fmt: skip
    # oms token / oms serve: names, scopes, ids, ports and hosts before any store is opened
    add(["token"], says="--help")
    add(["token", "create"], says="--name")
    for v in ["", " lead", "x" * 65, "semi;colon", "new\nline", "\u202etxt"]:
        add(["token", "create", "--name", v], says="token name")
    for v in ["", "admin", "READ", "trade "]:
        add(["token", "create", "--name", "me", "--scope", v], says="--scope")
    for v in ["", "zz", "0000000", "000000000", "ABCDEF12", "../x"]:
        add(["token", "revoke", v], says="token id")
    for url in [
        "",
        "mysql://x",
        "sqlite://relative.db",
        f"sqlite:///{world_root}/missing.db",
        f"sqlite:///{world_root}/garbage.db",
    ]:
        add(["token", "list", "--store", url], says="")
        add(["token", "revoke", "00000000", "--store", url], says="")
    for url in ["", "mysql://x", f"sqlite:///{world_root}/nope/x.db"]:
        add(["token", "create", "--name", "me", "--store", url], says="")
    add(["token", "revoke", "00000000", "--store", "sqlite:///{store}"], says="no token with id")
    for v in ["abc", "-1", "65536", "1e3"]:
        add(["serve", "--port", v], says="--port")
    for v in ["", "example.com", "1.2.3", "127.0.0.1;rm"]:
        add(["serve", "--host", v], says="--host")
    for v in ["", "0", "-1", "5", "NaN", "Infinity", "abc", "1e999"]:
        add(["serve", "--structure-vol", v], says="--structure-vol")
    add(["serve", "extra"], says="--help")
    add(["serve", "--portfolio", f"{world_root}/bad-alerts.toml"], says="alerts[0].metric")
    add(["serve", "--portfolio", f"{world_root}/broken.toml"], says="not valid TOML")
    add(["serve", "--hedge-policy", f"{world_root}/none.toml"], says="")
    add(["serve"], says="does not answer")
    # oms report: every option checked before the store is opened; a store it cannot read
    rep = ["report", "--store", "sqlite:///x.db"]
    add(["report"], says="--store")
    for v in ["", " ", "yesterday", "0s", "2h ago", "2026-13-01", "1e9", "\uff19h", "9999-01-01"]:
        add([*rep, "--since", v], says="--since")
    for v in BAD_IDS:
        add([*rep, "--parent", v], says="--parent")
    for v in ["x", "o-1=", "=5", "o-1=-5", "o-1=abc", "o-1=0", "o 1=5", "o-1=1e3"]:
        add([*rep, "--arrival", v], says="--arrival")
    for dest in [f"{world_root}/no/such/dir/r.html", world_root]:
        add([*rep, "--out", dest], says="--out")
    add([*rep, "--csv", f"{world_root}/nope"], says="--csv")
    for url in ["", "mysql://x", f"sqlite:///{world_root}/missing.db",
                f"sqlite:///{world_root}/garbage.db"]:  # fmt: skip
        add(["report", "--store", url], says="")
    add(["report", "--store", "sqlite:///{store}"], says="cannot be read")
    # oms submit / worker / workers: the intent file, the lease options, the store URL
    sub = ["submit", "--store", "sqlite:///x.db"]
    add(sub, says="--intent")
    add([*sub, "--intent", f"{world_root}/no/such.json"], says="cannot read")
    add([*sub, "--intent", world_root], says="cannot read")
    work = ["worker", "--store", "sqlite:///x.db"]
    for v in ["0", "-1", "nan", "1e9", "x"]:
        add([*work, "--ttl", v], says="--ttl")
    for v in ["0", "-3", "10001", "x"]:
        add([*work, "--max-parents", v], says="--max-parents")
    for v in BAD_IDS[:4]:
        add([*work, "--id", v], says="--id")
    add(["workers"], says="--store")
    add(["workers", "--store", "mysql://x"], says="")
    return out


def _json_variant(case: Case) -> Case | None:
    """The same invocation with ``--json`` right after the command (where it takes one)."""
    argv = list(case.argv)
    takes_json = ("swap", "order", "quote", "route", "orders", "cancel", "halt",
                  "resume-trading", "strategy", "report", "submit", "worker",
                  "workers")  # fmt: skip
    if not argv or (argv[0] not in takes_json and argv[:2] not in (["tx", "status"],)):
        return None
    at = 2 if argv[0] == "tx" else 1
    return Case(tuple([*argv[:at], "--json", *argv[at:]]), case.code, case.says)


_BASE = _cases("{root}")
_JSON = [j for c in _BASE[::3] if (j := _json_variant(c)) is not None]
CASES = [(c, False) for c in _BASE] + [(c, True) for c in _JSON]


def test_the_matrix_is_large_and_covers_every_command() -> None:
    assert len(CASES) >= 500
    import typer.main

    from oms_chain.cli import app

    group = typer.main.get_command(app)
    names = set(group.commands)  # type: ignore[attr-defined]
    covered = {c.argv[0] for c, _ in CASES if c.argv}
    covered |= {c.argv[2] for c, _ in CASES if c.argv[:1] == ("--log-level",)}
    missing = names - covered
    assert not missing, missing


@pytest.mark.parametrize(
    ("case", "as_json"),
    CASES,
    ids=[f"{i:03d}-{' '.join(c.argv[:1])}" for i, (c, _) in enumerate(CASES)],
)
def test_hostile_input_is_one_line_with_its_exit_code_and_writes_nothing(
    case: Case,
    as_json: bool,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OMS_CHAIN_RUNTIME", str(world.runtime))
    monkeypatch.delenv("OMS_STORE_URL", raising=False)
    monkeypatch.chdir(world.root)
    argv = [
        a.replace("{root}", str(world.root)).replace("sqlite:///{store}", world.store_url)
        for a in case.argv
    ]
    before = _snapshot(world.root)
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code == case.code, (argv, out, err)
    assert code in EXIT_CODES
    if as_json:
        assert err == "", err
        doc = json.loads(out)
        assert doc["code"] == case.code and case.says in doc["error"], doc
    else:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert case.says in lines[0], lines[0]
        assert out == ""
    assert _snapshot(world.root) == before, "a rejected request created or changed a file"


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    amount=st.one_of(
        st.text(max_size=30), st.from_regex(r"[0-9]{1,20}(\.[0-9]{1,20})?", fullmatch=True)
    )
)
def test_any_amount_text_is_checked_before_the_devnet_is_contacted(
    amount: str,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import re
    from decimal import Decimal

    monkeypatch.setenv("OMS_CHAIN_RUNTIME", str(world.runtime))
    before = _snapshot(world.root)
    code = main(["swap", "--sell", "ETH", "--buy", "USDC", "--amount", amount])
    _, err = capsys.readouterr()
    plain = amount.strip(" ")
    valid = (
        re.fullmatch(r"[0-9]+(\.[0-9]+)?", plain, re.ASCII) is not None
        and len(plain.split(".")[0]) <= 40
        and 0 < Decimal(plain) <= 10**15
        and len(plain.split(".")[1].rstrip("0") if "." in plain else "") <= 18
    )
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    if valid:  # got as far as the devnet, which does not answer
        assert "does not answer" in err, err
    else:
        assert "--amount" in err, err
    assert _snapshot(world.root) == before


def _oms(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oms_chain.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_usage_errors_from_a_real_process_are_one_line_with_exit_code_2() -> None:
    for args in (
        [],
        ["nosuch"],
        ["orders"],
        ["orders", "--store", "sqlite:///x", "--limit", "abc"],
    ):
        proc = _oms(*args)
        assert proc.returncode == 2, proc
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "usage: oms" in lines[0]
        assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_version_and_help_with_the_exit_code_table_from_a_real_process() -> None:
    from oms_chain import __version__

    version = _oms("--version")
    assert (version.returncode, version.stdout.strip()) == (0, __version__)
    helped = _oms("--help")
    assert helped.returncode == 0 and "Exit codes:" in helped.stdout
    for code in EXIT_CODES:
        assert f" {code}  " in helped.stdout
    assert "--install-completion" in helped.stdout
    swap_help = _oms("swap", "--help")
    assert "<bool>" not in swap_help.stdout
    (json_line,) = [ln for ln in swap_help.stdout.splitlines() if ln.strip().startswith("--json")]
    assert json_line.split()[:2] == ["--json", "Print"]  # a flag: no type noise
    assert "--dry-run" in swap_help.stdout and "--yes" in swap_help.stdout
