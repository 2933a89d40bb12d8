"""The ``oms`` command line.

``oms devnet up``        start the local world (L1, optionally L2 or a fork) and keep it up
``oms devnet status``    show whether the world started by ``devnet up`` answers
``oms devnet down``      stop the world started by ``devnet up``
``oms demo``             the end-to-end demo on a fresh world, through the engine
``oms swap``             one intent routed across pools and an exchange, followed to inclusion
``oms order``            an algorithmic order (TWAP, VWAP, Iceberg, Sniper) with progress; resumable
``oms cancel``           cancel a parent (and its open children) or one child order
``oms halt``             kill switch: only cancels pass (``--reducing``: reduce-only)
``oms resume-trading``   lift the kill switch
``oms route``            the best split of an order, plan only
``oms orders``           parent orders with their children, from the event store

Every error is printed as one line (``error: …``; with ``--json`` a JSON object on stdout) with
the exit code of :data:`EXIT_CODES`, never a traceback. Every argument is checked before a
session, a chain client or a store is opened.

This module is over 600 lines: the command groups move into a ``cli/`` package in a later
change (kept in one file now so that concurrent edits merge cleanly).
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main
from rich.console import Console
from rich.table import Table

from oms_chain import __version__
from oms_chain.model.errors import EngineNotReady, InvalidInput, OmsError

__all__ = ["EXIT_CODES", "app", "main"]

EXIT_CODES: dict[int, str] = {
    0: "ok",
    1: "failed: the command ran and did not succeed (venue, chain or store error; order ended "
    "unfilled)",
    2: "usage or invalid input: nothing was sent and nothing was written",
    3: "audit verification found a broken hash chain",
    4: "refused: trading halted, risk limit, engine not ready, or a live plan not confirmed",
    5: "timed out waiting; the order keeps working (follow it with `oms orders`)",
    70: "internal error (a bug: please report it with the --log-file output)",
    130: "interrupted (Ctrl-C); an algorithmic order is paused",
}
"""Exit codes of every ``oms`` command."""

_EPILOG = "\b\nExit codes:\n" + "\n".join(f"  {c:>3}  {t}" for c, t in EXIT_CODES.items())

app = typer.Typer(
    name="oms",
    help="oms-chain: non-custodial order management and execution across CEXs and AMMs.",
    epilog=_EPILOG,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
devnet_app = typer.Typer(
    help="The local world: Anvil L1 + L2 with real protocol bytecode.", rich_markup_mode=None
)
app.add_typer(devnet_app, name="devnet")
tx_app = typer.Typer(help="On-chain transactions.", rich_markup_mode=None)
app.add_typer(tx_app, name="tx")
audit_app = typer.Typer(
    help="The tamper-evident audit log of the event store.", rich_markup_mode=None
)
app.add_typer(audit_app, name="audit")

# --- strict arguments: ASCII notation, bounded, checked before anything is opened --------

_ASCII_DECIMAL = re.compile(r"[0-9]{1,40}(?:\.[0-9]{1,40})?", re.ASCII)
_ASCII_INT = re.compile(r"[0-9]{1,40}", re.ASCII)
_DURATION_RE = re.compile(r"([0-9]{1,12}(?:\.[0-9]{1,9})?)(ms|s|m|h|d)", re.ASCII)
_DURATION_NS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9}
MAX_AMOUNT = Decimal(10) ** 15
"""Largest amount / quantity / price any command takes (whole units)."""
MAX_FRACTION_DIGITS = 18
MIN_DURATION_NS = 10**9
MAX_DURATION_NS = 30 * 86400 * 10**9
MAX_SLICES = 10_000
MAX_TIMEOUT_S = 7 * 86400
MAX_CHAIN_ID = 2**53 - 1
_SYMBOL_RE = re.compile(r"[A-Za-z0-9.]{1,20}", re.ASCII)
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/#@+=-]{0,199}", re.ASCII)


def _shown(value: str) -> str:
    """``value`` quoted for an error message, cut to a readable length."""
    return repr(value if len(value) <= 60 else value[:57] + "...")


def _decimal_text(value: str, option: str) -> Decimal:
    """A non-negative ASCII decimal (``[0-9]+(.[0-9]+)?``), no sign, exponent or separator."""
    if isinstance(value, str) and value.startswith("-") and _ASCII_DECIMAL.fullmatch(value[1:]):
        raise InvalidInput(f"{option} must not be negative, got {_shown(value)}")
    if not isinstance(value, str) or not _ASCII_DECIMAL.fullmatch(value.strip(" ")):
        raise InvalidInput(
            f"{option} {_shown(str(value))} is not a number in plain ASCII decimal notation "
            f"(digits 0-9 and one '.', e.g. 1.5; no exponent, sign, separator or other digits)"
        )
    text = value.strip(" ")
    d = Decimal(text)  # exact: the constructor never rounds
    if d > MAX_AMOUNT:
        raise InvalidInput(f"{option} must be at most {MAX_AMOUNT:,}, got {_shown(value)}")
    fraction = text.partition(".")[2].rstrip("0")
    if len(fraction) > MAX_FRACTION_DIGITS:
        raise InvalidInput(
            f"{option} has more than {MAX_FRACTION_DIGITS} decimal places: {_shown(value)}"
        )
    return d


def _positive_decimal(value: str, option: str) -> Any:
    """A positive ASCII decimal at most :data:`MAX_AMOUNT` (see :func:`_decimal_text`)."""
    if isinstance(value, str) and value.startswith("-") and _ASCII_DECIMAL.fullmatch(value[1:]):
        raise InvalidInput(f"{option} must be positive, got {_shown(value)}")
    d = _decimal_text(value, option)
    if d <= 0:
        raise InvalidInput(f"{option} must be positive, got {_shown(value)}")
    return d


def _bps(value: str, option: str) -> Decimal:
    """Basis points from 0 to 10,000."""
    d = _decimal_text(value, option)
    if d > 10_000:
        raise InvalidInput(f"{option} must be between 0 and 10000 bps, got {_shown(value)}")
    return d


def _bounded_int(value: str, option: str, low: int, high: int) -> int:
    if not isinstance(value, str) or not _ASCII_INT.fullmatch(value.strip(" ")):
        raise InvalidInput(
            f"{option} {_shown(str(value))} is not a whole number in ASCII digits 0-9 "
            f"(between {low} and {high:,})"
        )
    n = int(value.strip(" "))
    if not low <= n <= high:
        raise InvalidInput(f"{option} must be between {low} and {high:,}, got {_shown(value)}")
    return n


def _duration(value: str, option: str = "--duration") -> str:
    """A horizon like ``90s``, ``30m``, ``2h``, ``1.5d`` or ``500ms``, between 1 s and 30 days;
    returned as the algo parameter (integer nanoseconds, as text)."""
    m = _DURATION_RE.fullmatch(value.strip(" ")) if isinstance(value, str) else None
    if m is None:
        raise InvalidInput(
            f"{option} {_shown(str(value))} is not a duration: ASCII digits and a unit ms, s, "
            f"m, h or d (e.g. 90s, 30m, 2h)"
        )
    ns = int(Decimal(m.group(1)) * _DURATION_NS[m.group(2)])
    if not MIN_DURATION_NS <= ns <= MAX_DURATION_NS:
        raise InvalidInput(f"{option} must be between 1s and 30d, got {_shown(value)}")
    return f"{ns}ns"


def _seconds(value: str, option: str, high: float = MAX_TIMEOUT_S) -> float:
    d = _decimal_text(value, option)
    if d <= 0 or d > Decimal(str(high)):
        raise InvalidInput(f"{option} must be more than 0 and at most {high:g} s, got {value}")
    return float(d)


def _symbol(value: str, option: str) -> str:
    """An asset symbol (ASCII letters, digits, '.'), upper-cased."""
    if not isinstance(value, str) or not _SYMBOL_RE.fullmatch(value.strip(" ")):
        raise InvalidInput(
            f"{option} {_shown(str(value))} is not an asset symbol (ASCII letters and digits, "
            f"e.g. ETH, WETH, USDC)"
        )
    return value.strip(" ").upper()


def _pair(value: str, option: str = "--symbol") -> str:
    """``BASE/QUOTE`` in any case, returned upper-cased."""
    parts = value.split("/") if isinstance(value, str) else []
    if len(parts) != 2:
        raise InvalidInput(f"{option} {_shown(str(value))} is not a pair BASE/QUOTE (ETH/USDC)")
    base, quote = _symbol(parts[0], option), _symbol(parts[1], option)
    if base == quote:
        raise InvalidInput(f"{option} {_shown(value)} trades {base} against itself")
    return f"{base}/{quote}"


def _identifier(value: str, what: str) -> str:
    """An order id, venue id or similar token: ASCII, no spaces, at most 200 characters."""
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise InvalidInput(
            f"{what} {_shown(str(value))} is not a valid id (ASCII letters, digits and "
            f"_ . : / # @ + = -, at most 200 characters)"
        )
    return value


def _text(value: str, option: str, limit: int = 200) -> str:
    """Free text (a reason): printable, one line, at most ``limit`` characters."""
    if len(value) > limit or not value.isprintable() or not value.strip():
        raise InvalidInput(f"{option} must be one printable line of 1-{limit} characters")
    return value.strip()


def _parser(check: Any, *args: Any) -> Any:
    """A typer ``parser=`` that runs ``check(value, *args)``; a bad value is a usage error."""

    def parse(value: str) -> Any:
        if not isinstance(value, str):  # a default, already typed
            return value
        try:
            return check(value, *args)
        except InvalidInput as exc:
            message = str(exc).removeprefix(f"{args[0]} ")  # click names the option itself
            raise typer.BadParameter(message) from None

    return parse


_chain_id_parser = _parser(_bounded_int, "--chain", 1, MAX_CHAIN_ID)


StoreOption = Annotated[
    str,
    typer.Option(
        "--store",
        metavar="URL",
        envvar="OMS_STORE_URL",
        help="Event store URL: sqlite:///path.db or postgresql://… (env OMS_STORE_URL).",
    ),
]

JsonOption = Annotated[bool, typer.Option("--json", help="Print as JSON.")]
ChainOption = Annotated[
    int | None,
    typer.Option(
        "--chain", help="Chain id (default: the RPC's).", metavar="ID", parser=_chain_id_parser
    ),
]
RpcUrlOption = Annotated[
    str | None,
    typer.Option("--rpc-url", metavar="URL", help="Chain RPC URL (default: the devnet L1)."),
]
SellOption = Annotated[
    str, typer.Option("--sell", metavar="SYMBOL", help="Token to sell (symbol, e.g. WETH).")
]
BuyOption = Annotated[
    str, typer.Option("--buy", metavar="SYMBOL", help="Token to buy (symbol, e.g. USDC).")
]

console = Console()
err_console = Console(stderr=True)

_log = logging.getLogger("oms_chain.cli")
_LOG_LEVELS = ("debug", "info", "warning", "error")


class _Output:
    """How tables print: wide (full ids, hashes and URLs) when stdout is not a terminal or with
    ``--wide``; readable on a terminal."""

    wide = False


class _Refused(OmsError):
    """The command was refused before anything was sent (exit code 4)."""


class _JsonLogFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (UTC ISO 8601), ``level``, ``logger``, ``msg`` (and
    ``exc`` with the traceback when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def _setup_logging(level: str | None, log_file: Path | None) -> None:
    """Structured log lines to ``log_file`` (default level info) or, with only ``level``, to
    stderr; without either nothing is logged (errors still print their one line)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_oms_cli", False):
            root.removeHandler(h)
    if level is None and log_file is None:
        root.addHandler(_tagged(logging.NullHandler()))
        return
    if log_file is not None:
        try:
            handler: logging.Handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(
                f"--log-file {log_file}: cannot write there ({exc.strerror})"
            ) from None
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonLogFormatter())
    root.addHandler(_tagged(handler))
    root.setLevel((level or "info").upper())


def _tagged(handler: logging.Handler) -> logging.Handler:
    handler._oms_cli = True  # type: ignore[attr-defined]
    return handler


def _version_callback(value: bool) -> None:
    if value:
        console.print(__version__)
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            is_eager=True,
            callback=_version_callback,
        ),
    ] = False,
    wide: Annotated[
        bool,
        typer.Option(
            "--wide",
            help="Full ids, hashes and URLs in tables (default when stdout is not a terminal).",
        ),
    ] = False,
    log_level: Annotated[
        str | None,
        typer.Option(
            "--log-level",
            help="debug, info, warning or error (env OMS_LOG_LEVEL); logs go to "
            "--log-file, else to stderr.",
            envvar="OMS_LOG_LEVEL",
            metavar="LEVEL",
        ),
    ] = None,
    log_file: Annotated[
        Path | None,
        typer.Option(
            "--log-file",
            help="Append structured (JSON lines) logs to this file (env OMS_LOG_FILE).",
            envvar="OMS_LOG_FILE",
            metavar="FILE",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """oms-chain: non-custodial order management and execution across CEXs and AMMs."""
    if log_level is not None and log_level.lower() not in _LOG_LEVELS:
        raise typer.BadParameter(
            f"must be one of {', '.join(_LOG_LEVELS)}, got {_shown(log_level)}",
            param_hint="'--log-level'",
        )
    _setup_logging(None if log_level is None else log_level.lower(), log_file)
    _Output.wide = wide or not sys.stdout.isatty()
    if _Output.wide:
        console.width = 4096


def _runtime_file() -> Path:
    """Where ``devnet up`` records the running world for ``devnet status``."""
    from oms_chain.devnet.paths import build_dir

    return Path(os.environ.get("OMS_CHAIN_RUNTIME", build_dir() / "devnet-running.json"))


@app.command()
def version(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Print the oms-chain version."""
    if as_json:
        print(json.dumps({"version": __version__}))
        return
    console.print(__version__)


def _on_off(value: str) -> str:
    """``--agents`` accepts ``on``, ``off`` or ``still`` (any case)."""
    if value.lower() not in ("on", "off", "still"):
        raise typer.BadParameter(f"expected on, off or still, got {value!r}")
    return value.lower()


@devnet_app.command("up")
def devnet_up(
    l2: Annotated[
        bool, typer.Option("--l2/--no-l2", help="Also start the L2 (chain 31338).")
    ] = True,
    exchange: Annotated[
        bool,
        typer.Option("--exchange/--no-exchange", help="Also start the Binance-speaking simulator."),
    ] = True,
    fork_url: Annotated[
        str | None, typer.Option("--fork-url", help="Start the L1 as a fork of this RPC URL.")
    ] = None,
    fork_block: Annotated[
        int | None, typer.Option("--fork-block", help="Block number to fork at.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print URLs and addresses as JSON.")
    ] = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Deploy afresh, ignore saved state.")
    ] = False,
    port: Annotated[int | None, typer.Option("--port", help="L1 RPC port (default: free).")] = None,
    l2_port: Annotated[
        int | None, typer.Option("--l2-port", help="L2 RPC port (default: free).")
    ] = None,
    load_state: Annotated[
        Path | None,
        typer.Option("--load-state", help="Start the L1 from a state file saved by --dump-state."),
    ] = None,
    dump_state: Annotated[
        Path | None, typer.Option("--dump-state", help="Save the L1 state to this file on exit.")
    ] = None,
    seed: Annotated[
        int,
        typer.Option(
            "--seed", min=0, max=2**63 - 1, help="Seed of the exchange simulator's agents."
        ),
    ] = 0,
    volatility: Annotated[
        float,
        typer.Option(
            "--volatility",
            min=0.0,
            max=0.05,
            help="Exchange price volatility per agent step (0.1 s): the deviation from the "
            "pools' price, at most 25 bps (0 = quote exactly at the pools' price).",
        ),
    ] = 0.0005,
    agents: Annotated[
        str,
        typer.Option(
            "--agents",
            metavar="on|off|still",
            help="Exchange market makers and takers: on (default), off (an empty book) or "
            "still (they seed the book once, then wait: deterministic for a --seed).",
            callback=_on_off,
        ),
    ] = "on",
) -> None:
    """Start the devnet, print RPC URLs and the address book, stay up until Ctrl-C."""
    from oms_chain.devnet.world import Devnet, DevnetConfig

    _refuse_second_devnet(_runtime_file())
    config = DevnetConfig(
        exchange_seed=seed,
        exchange_volatility=volatility,
        exchange_agents={"on": "live"}.get(agents, agents),
        with_l2=l2,
        with_exchange=exchange,
        fork_url=fork_url,
        fork_block_number=fork_block,
        use_state_cache=not fresh,
        l1_port=port,
        l2_port=l2_port,
        l1_state=load_state,
    )
    with err_console.status("starting the devnet…") as status:
        world = Devnet(config, progress=lambda m: status.update(m)).start()
    runtime = _runtime_file()
    # Ctrl-C / SIGTERM only set a flag: shutdown then runs in normal control flow, never from
    # an exception raised in the middle of a subprocess call (which can leave its locks held).
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        summary = world.describe()
        runtime.parent.mkdir(parents=True, exist_ok=True)
        runtime.write_text(json.dumps({"pid": os.getpid(), "chains": summary}, indent=2))
        if as_json:
            print(json.dumps(summary, indent=2), flush=True)
        else:
            _print_world(summary)
            err_console.print("[dim]devnet is up; press Ctrl-C to stop[/]")
        while not stop.wait(0.5):
            if not all(c.process.is_running() for c in world.chains.values()):
                raise OmsError("a devnet node exited unexpectedly; see its log for why")
        err_console.print("stopping the devnet")
        if dump_state is not None:
            world.l1.process.dump_state_to(dump_state)
            err_console.print(f"L1 state saved to {dump_state}")
    finally:
        world.stop()
        runtime.unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _print_world(summary: dict[str, Any]) -> None:
    chains = Table(title="devnet chains")
    for col in ("chain", "chain id", "RPC URL", "websocket", "block time"):
        chains.add_column(col)
    for name, c in summary.items():
        if name == "exchange":
            continue
        bt = "automine" if c["block_time"] is None else f"{c['block_time'] * 1000:g} ms"
        chains.add_row(name, str(c["chain_id"]), c["rpc_url"], c["ws_url"], bt)
    console.print(chains)
    if "exchange" in summary:
        ex = summary["exchange"]
        sim = Table(
            title="exchange simulator (speaks Binance spot REST + websockets; ccxt binance)"
        )
        for col in ("REST", "websocket", "API key", "secret"):
            sim.add_column(col)
        for acct in ex["accounts"]:
            sim.add_row(ex["rest_url"], ex["ws_url"], acct["api_key"], acct["secret"])
        console.print(sim)
    book = summary["l1"]["address_book"]
    table = Table(title=f"address book of {book['name']} (same layout on every devnet chain)")
    table.add_column("name")
    table.add_column("address")
    for name, addr in book["contracts"].items():
        table.add_row(name, addr)
    for sym, tok in book["tokens"].items():
        table.add_row(f"{sym} ({tok['decimals']} decimals)", tok["address"])
    for pool in book["pools"]:
        table.add_row(f"pool {pool['protocol']} fee {pool['fee'] / 10_000:g}%", pool["address"])
    console.print(table)


def _ping(exchange: dict[str, Any]) -> int | None:
    """Server time (ms) of the exchange simulator, ``None`` when it does not answer."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"{exchange['rest_url']}/api/v3/time", timeout=2) as r:
            return int(json.loads(r.read())["serverTime"])
    except (OSError, ValueError, KeyError):
        return None


@devnet_app.command("status")
def devnet_status(
    as_json: JsonOption = False,
) -> None:
    """Show the chains started by ``oms devnet up`` and whether they answer."""
    from oms_chain.devnet.anvil import json_rpc

    runtime = _runtime_file()
    if not runtime.is_file():
        raise OmsError("no devnet is running (start one with `oms devnet up`)")
    try:
        info = json.loads(runtime.read_text())
    except ValueError as exc:
        raise OmsError(f"{runtime} is unreadable ({exc}); delete it and start the devnet") from exc
    rows = []
    for name, c in info["chains"].items():
        if name == "exchange":
            rows.append(
                {"name": name, "chain_id": None, "rpc_url": c["rest_url"], "block": _ping(c)}
            )
            continue
        try:
            block: int | None = int(json_rpc(c["rpc_url"], "eth_blockNumber", timeout=2.0), 16)
        except OmsError:
            block = None
        rows.append(
            {"name": name, "chain_id": c["chain_id"], "rpc_url": c["rpc_url"], "block": block}
        )
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        table = Table(title=f"devnet (pid {info.get('pid')})")
        for col in ("chain", "chain id", "URL", "latest block / server time", "status"):
            table.add_column(col)
        for r in rows:
            up = r["block"] is not None
            table.add_row(
                r["name"],
                str(r["chain_id"] or "-"),
                r["rpc_url"],
                str(r["block"] if up else "-"),
                "[green]up[/]" if up else "[red]not answering[/]",
            )
        console.print(table)
    if any(r["block"] is None for r in rows):
        raise typer.Exit(1)


@app.command("setup")
def setup_toolchain(as_json: JsonOption = False) -> None:
    """Install anvil, forge and solc-js for the devnet (once; into ~/.cache/oms-chain or
    $OMS_CHAIN_HOME; in a checkout as `make setup` does). Anvil/forge on PATH are used as
    they are."""
    from oms_chain.devnet.toolchain import install_toolchain

    def progress(line: str) -> None:
        err_console.print(f"oms setup: {line}", highlight=False, soft_wrap=True)

    report = install_toolchain(progress=progress)
    tools = {name: str(path) for name, path in sorted(report.tools.items())}
    if as_json:
        print(json.dumps({"home": str(report.home), "installed": list(report.installed), **tools}))
        return
    state = "up to date" if report.up_to_date else f"installed {', '.join(report.installed)}"
    console.print(f"toolchain in {report.home}: {state}", highlight=False, soft_wrap=True)
    for name, path in tools.items():
        console.print(f"  {name}: {path}", highlight=False, soft_wrap=True)


def _devnet_pid_alive(pid: int) -> bool:
    """Whether process ``pid`` (recorded by ``devnet up``) still runs."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # an exited child its parent has not reaped yet is a zombie: gone for us
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _looks_like_devnet_up(pid: int) -> bool:
    """Whether ``pid``'s command line is ``… devnet up …`` (where /proc shows it)."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        args = cmdline.read_bytes().split(b"\0")
    except OSError:
        return not cmdline.parent.exists()  # no /proc here: trust the runtime file
    return b"devnet" in args and b"up" in args


def _refuse_second_devnet(runtime: Path) -> None:
    """``devnet up`` on a home whose runtime file names a live devnet refuses; a stale file
    (its process is gone) is removed."""
    if not runtime.is_file():
        return
    try:
        pid = int(json.loads(runtime.read_text()).get("pid", 0))
    except (OSError, ValueError, AttributeError, TypeError):
        pid = 0
    if _devnet_pid_alive(pid):
        raise _Refused(
            f"a devnet is already running (pid {pid}, {runtime}); stop it with `oms devnet "
            f"down`, or set OMS_CHAIN_RUNTIME to another file to run a second one"
        )
    runtime.unlink(missing_ok=True)


@devnet_app.command("down")
def devnet_down(
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            help="Seconds to wait for it to stop.",
            metavar="SECONDS",
            parser=_parser(_seconds, "--timeout", 600),
        ),
    ] = 60.0,
    as_json: JsonOption = False,
) -> None:
    """Stop the devnet started by ``oms devnet up`` (its nodes, the exchange simulator) and
    remove its runtime file. Nothing running: says so, exit 0."""
    runtime = _runtime_file()
    pid = 0
    if runtime.is_file():
        try:
            pid = int(json.loads(runtime.read_text()).get("pid", 0))
        except (OSError, ValueError, AttributeError, TypeError):
            pid = 0
    if not _devnet_pid_alive(pid):
        runtime.unlink(missing_ok=True)
        out: dict[str, Any] = {
            "stopped": False,
            "pid": None,
            "detail": "no devnet is running; nothing to stop",
        }
    else:
        if not _looks_like_devnet_up(pid):
            raise OmsError(
                f"process {pid} named in {runtime} is not `oms devnet up`; not stopping it "
                f"(delete {runtime} if it is stale)"
            )
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _devnet_pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)  # waiting for another process to exit; nothing to synchronise on
        if _devnet_pid_alive(pid):
            raise OmsError(
                f"the devnet (pid {pid}) did not stop within {timeout:g} s; try again or kill it"
            )
        runtime.unlink(missing_ok=True)
        out = {"stopped": True, "pid": pid, "detail": f"devnet (pid {pid}) stopped"}
    if as_json:
        print(json.dumps(out))
    else:
        err_console.print(out["detail"], highlight=False)


_TX_HASH_RE = re.compile(r"0x[0-9a-fA-F]{64}", re.ASCII)


def _tx_hash(value: str) -> str:
    """A transaction hash: 0x and 64 hex digits."""
    if not _TX_HASH_RE.fullmatch(value.strip(" ")):
        raise InvalidInput(f"TX_HASH {_shown(value)} is not 0x followed by 64 hex digits")
    return value.strip(" ").lower()


def _exchange_id(value: str) -> str:
    """A ccxt exchange id (``binance``, ``kraken``...)."""
    import ccxt

    if value not in ccxt.exchanges:
        raise InvalidInput(f"--exchange {_shown(value)} is not a ccxt exchange id (e.g. binance)")
    return value


def _book_symbol(book: Any, symbol: str) -> str:
    """``symbol`` as the address book spells it (ETH -> WETH where only WETH is listed)."""
    names = {name.upper(): name for name in book.tokens}
    for alias in _aliases(symbol):
        if alias in names:
            return str(names[alias])
    return symbol


def _open_existing_store(url: str) -> Any:
    from oms_chain.store import open_store
    from oms_chain.store.url import redact_url

    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            raise InvalidInput(f"no event store at {path} (check --store)")
    import sqlite3

    try:
        return open_store(url)
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(f"{redact_url(url)} is not an event store ({exc})") from None


def _open_audit_store(url: str) -> Any:
    """Open ``url`` read-only for the audit commands; usage errors exit 2."""
    from oms_chain.store import InvalidStoreUrl, open_store

    try:
        return open_store(url, read_only=True)
    except InvalidStoreUrl as exc:
        raise InvalidInput(f"{exc} (check --store)") from None


_DEVNET_CHAINS = (31337, 31338)


@audit_app.command("verify")
def audit_verify(
    store: StoreOption,
    anchor: Annotated[
        list[Path] | None,
        typer.Option(
            "--anchor",
            help="Anchor file written by `oms audit anchor --file` (repeatable).",
        ),
    ] = None,
    anchor_chain: Annotated[
        list[str] | None,
        typer.Option(
            "--anchor-chain",
            help="RPC URL of a chain holding anchors of this store (repeatable).",
        ),
    ] = None,
    anchor_contract: Annotated[
        str | None,
        typer.Option(
            "--anchor-contract",
            help="AuditAnchor address (default: the chain's address book entry).",
        ),
    ] = None,
    anchor_writer: Annotated[
        str | None,
        typer.Option("--anchor-writer", help="Only trust on-chain anchors sent by this address."),
    ] = None,
    from_block: Annotated[
        int, typer.Option("--from-block", help="First block to search for anchors.")
    ] = 0,
) -> None:
    """Check the store without changing it: hash chain, anchors, snapshots, client order ids.

    Opens the store read-only and never changes it.

    Exit 0: all consistent. 3: something was rewritten (each problem is named). 2: no store, an
    empty store, or a bad option.
    """
    from oms_chain.engine import SNAPSHOT_NAME
    from oms_chain.store import read_anchor_file, state_problems, verify_audit

    files = list(anchor or [])
    rpcs = list(anchor_chain or [])
    if from_block < 0:
        raise InvalidInput(f"--from-block must be >= 0, got {from_block}")
    for f in files:
        if not f.is_file():
            raise InvalidInput(f"anchor file {f} does not exist (check --anchor)")
    anchors = [a for f in files for a in read_anchor_file(f)]
    with _open_audit_store(store) as es:
        store_id = es.store_id()
        broken: list[str] = []
        for url in rpcs:
            found, missing = _chain_anchors(
                url, store_id, anchor_contract, anchor_writer, from_block
            )
            anchors += found
            if missing:
                broken.append(missing)
        report = verify_audit(es, anchors=anchors, store_id=store_id)
        if report.ok and report.checked == 0 and not anchors and not broken:
            raise InvalidInput(
                f"store {es.url} holds no events: nothing to verify (a wiped store looks like "
                f"this too: check it against an anchor with --anchor / --anchor-chain)"
            )
        if not report.ok:
            broken.insert(0, str(report))
        broken += [str(p) for p in state_problems(es, projections_snapshot=SNAPSHOT_NAME)]
    if not broken:
        console.print(
            f"[green]{report}; snapshots and client order ids match the events[/]",
            highlight=False,
            soft_wrap=True,
        )
        return
    for line in broken:
        err_console.print(f"[red]{line}[/]", highlight=False, soft_wrap=True)
    raise typer.Exit(3)


def _anchor_contract(chain_id: int, contract: str | None) -> str:
    if contract is not None:
        return contract
    from oms_chain.chain.addressbook import load_address_book

    try:
        return load_address_book(chain_id).address("AuditAnchor")
    except (OmsError, OSError):
        raise InvalidInput(
            f"no AuditAnchor in the address book of chain {chain_id}; pass its address"
        ) from None


def _chain_anchors(
    url: str, store_id: str | None, contract: str | None, writer: str | None, from_block: int
) -> tuple[list[Any], str | None]:
    """Anchors of the store on the chain at ``url``, and why none were found (or ``None``)."""
    import asyncio

    from oms_chain.chain.anchor import read_chain_anchors
    from oms_chain.chain.rpc import RpcClient

    if store_id is None:
        return [], "the store has no id, so no anchor on a chain can name it"

    async def run() -> tuple[int, str, list[Any]]:
        async with RpcClient([url]) as rpc:
            chain_id = await rpc.chain_id()
            address = _anchor_contract(chain_id, contract)
            found = await read_chain_anchors(
                rpc, address, store_id, writer=writer, from_block=from_block
            )
            return chain_id, address, found

    chain_id, address, found = asyncio.run(run())
    if found:
        return found, None
    by = f" by {writer}" if writer else ""
    return [], (
        f"no anchor of store {store_id}{by} on chain {chain_id} at {address}: never anchored "
        f"there, or the store's identity was rewritten"
    )


@audit_app.command("anchor")
def audit_anchor(
    store: StoreOption,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Append the head to this anchor file (JSON lines)."),
    ] = None,
    rpc_url: Annotated[
        str | None,
        typer.Option("--rpc-url", help="Publish the head to the AuditAnchor on this chain."),
    ] = None,
    contract: Annotated[
        str | None,
        typer.Option("--contract", help="AuditAnchor address (default: the address book's)."),
    ] = None,
    key_env: Annotated[
        str | None,
        typer.Option(
            "--key-env",
            help="Environment variable holding the anchoring key (hex). Default on the devnet "
            "chains: the devnet's first funded key.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Publish the verified chain head (position, hash, store id) outside the store.

    To a file the user keeps (--file, appended) and/or as an AuditAnchor transaction
    (--rpc-url). The chain is verified first; a broken chain is not anchored (exit 3).
    """
    import time

    from oms_chain.store import Anchor, append_anchor_file, verify_audit

    if file is None and rpc_url is None:
        raise InvalidInput("give --file, --rpc-url or both: where to publish the anchor")
    if file is not None and not file.parent.is_dir():
        raise InvalidInput(f"directory {file.parent} of --file does not exist; create it first")
    with _open_audit_store(store) as es:
        store_id = es.store_id()
        report = verify_audit(es)
        url = es.url
    if not report.ok:
        err_console.print(f"[red]not anchored: {report}[/]", highlight=False, soft_wrap=True)
        raise typer.Exit(3)
    if report.checked == 0:
        raise InvalidInput(f"store {url} holds no events: nothing to anchor")
    if store_id is None:
        raise InvalidInput(
            f"store {url} has no id (written by an older oms-chain): open it once with a "
            f"trading command, then anchor it"
        )
    head = Anchor(report.head_position, report.head_hash, store_id, "new", time.time_ns())
    row: dict[str, Any] = {
        "store": url,
        "store_id": store_id,
        "position": head.position,
        "hash": head.hash,
    }
    published: dict[str, Any] = {}
    if rpc_url is not None:
        published = _publish_on_chain(rpc_url, contract, key_env, head)
        row.update(published)
    if file is not None:
        append_anchor_file(file, head, url, published)
        row["file"] = str(file)
    if as_json:
        print(json.dumps(row, indent=2))
        return
    where = [f"file {file}"] if file is not None else []
    if "tx_hash" in row:
        where.append(f"chain {row['chain_id']} tx {row['tx_hash']} (block {row['block']})")
    console.print(
        f"anchored store {store_id} at position {head.position}, hash {head.hash}: "
        + "; ".join(where),
        highlight=False,
        soft_wrap=True,
    )


def _publish_on_chain(
    rpc_url: str, contract: str | None, key_env: str | None, head: Any
) -> dict[str, Any]:
    import asyncio

    from oms_chain.chain.anchor import publish_anchor
    from oms_chain.chain.registry import ChainInfo, chain_info
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.chain.sender import TxSender
    from oms_chain.custody.local import LocalSigner

    async def run() -> dict[str, Any]:
        async with RpcClient([rpc_url]) as rpc:
            chain_id = await rpc.chain_id()
            if key_env is not None:
                signer = LocalSigner.from_env(key_env)
            elif chain_id in _DEVNET_CHAINS:
                from oms_chain.devnet.anvil import DEFAULT_MNEMONIC
                from oms_chain.devnet.world import derive_accounts

                signer = LocalSigner(derive_accounts(DEFAULT_MNEMONIC, 1)[0].private_key)
            else:
                raise InvalidInput(f"chain {chain_id} is not a devnet: pass --key-env")
            address = _anchor_contract(chain_id, contract)
            try:
                info = chain_info(chain_id)
            except InvalidInput:
                info = ChainInfo(chain_id=chain_id, name=f"chain-{chain_id}")
            sender = TxSender(rpc, info, signer)
            await sender.nonces.sync()
            done = await publish_anchor(sender, rpc, address, head)
            return {
                "chain_id": done.chain_id,
                "contract": done.contract,
                "tx_hash": done.tx_hash,
                "block": done.block_number,
                "writer": done.writer,
            }

    return asyncio.run(run())


@audit_app.command("export")
def audit_export(
    store: StoreOption,
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
) -> None:
    """Write every event with its hash-chain columns to a JSONL or CSV file (store read-only)."""
    from oms_chain.store import export_audit

    if fmt not in ("jsonl", "csv"):
        raise InvalidInput(f"--format must be jsonl or csv, got {fmt!r}")
    if not out.parent.is_dir():
        raise InvalidInput(f"--out: folder {out.parent} does not exist; create it first")
    if out.is_dir():
        raise InvalidInput(f"--out {out} is a folder; give a file name")
    with _open_audit_store(store) as es:
        count = export_audit(es, out, fmt)  # type: ignore[arg-type]
    console.print(f"wrote {count:,} events to {out}")


def _order_row(o: Any, algo: str | None = None) -> dict[str, Any]:
    st = o.settlement
    return {
        "order_id": o.order_id,
        "instrument": o.instrument.symbol,
        "side": o.side.value,
        "quantity": str(o.quantity),
        "filled": str(o.filled_quantity),
        "avg_price": None if o.avg_fill_price is None else str(o.avg_fill_price),
        "status": o.status.value,
        "venue": o.venue,
        "client_order_id": o.client_order_id,
        "settlement": None
        if st is None
        else {
            "status": st.status.value,
            "tx_hash": st.tx_hash,
            "block": st.block_number,
            "confirmations": st.confirmations,
        },
        "algo": algo,
        "reason": o.reason,
    }


@app.command()
def orders(
    store: StoreOption,
    open_only: Annotated[
        bool, typer.Option("--open", help="Only parents that are still working.")
    ] = False,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            help="Show the last N parents (1-100000).",
            metavar="N",
            parser=_parser(_bounded_int, "--limit", 1, 100_000),
        ),
    ] = 50,
    as_json: JsonOption = False,
) -> None:
    """Parent orders with their children (venue, fills, settlement), from the event store."""
    from oms_chain.model.events import event_from_payload
    from oms_chain.store.projections import Projections

    if limit <= 0:
        raise InvalidInput(f"--limit must be positive, got {limit}")
    proj = Projections()
    with _open_existing_store(store) as es:
        for rec in es.read_all():
            proj.apply(event_from_payload(rec.event_type, rec.version, rec.payload))
    parents = [o for o in proj.orders.values() if o.parent_id is None]
    if open_only:
        parents = [o for o in parents if not o.is_terminal]
    parents = parents[-limit:]
    rows = []
    for p in parents:
        intent = proj.intent_data.get(p.intent_id)
        algo = intent.algo if intent is not None else None
        row = _order_row(p, algo)
        row["algo_state"] = proj.algo_states.get(p.order_id)
        row["children"] = [_order_row(proj.orders[c]) for c in p.children]
        rows.append(row)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{len(rows)} parent orders" + (" (open)" if open_only else ""))
    for col in ("order", "side", "instrument", "qty", "filled", "avg px", "status", "venue / algo"):
        table.add_column(col, justify="right" if col in ("qty", "filled", "avg px") else "left")
    for row in rows:
        algo = row["algo"] or ""
        if row["algo_state"] and algo != "direct":
            algo += f" ({row['algo_state']})"
        table.add_row(
            f"[bold]{row['order_id']}[/]",
            row["side"],
            row["instrument"],
            row["quantity"],
            row["filled"],
            _short_price(row["avg_price"]),
            row["status"],
            algo,
        )
        for child in row["children"]:
            st = child["settlement"]
            where = child["venue"] or ""
            if st is not None:
                where += f" tx {st['status']}"
                if st["confirmations"]:
                    where += f"({st['confirmations']})"
            table.add_row(
                f"  └ {child['order_id']}",
                "",
                "",
                child["quantity"],
                child["filled"],
                _short_price(child["avg_price"]),
                child["status"],
                where,
            )
    console.print(table)


def _short_price(p: str | None) -> str:
    if p is None:
        return "-"
    from decimal import Decimal

    return f"{Decimal(p):,.6f}".rstrip("0").rstrip(".")


def _devnet_url(chain_id: int | None) -> str:
    """RPC URL of the running devnet's chain ``chain_id`` (default: its L1)."""
    runtime = _runtime_file()
    try:
        chains = json.loads(runtime.read_text())["chains"]
    except (OSError, ValueError, KeyError):
        raise InvalidInput(
            "no --rpc-url given and no devnet running (start one with `oms devnet up`)"
        ) from None
    for name, c in chains.items():
        if name != "exchange" and (
            (chain_id is None and name == "l1") or c["chain_id"] == chain_id
        ):
            return str(c["rpc_url"])
    raise InvalidInput(f"the running devnet has no chain {chain_id}; pass --rpc-url")


@tx_app.command("status")
def tx_status(
    tx_hash: Annotated[str, typer.Argument(help="Transaction hash (0x + 64 hex).")],
    rpc_url: RpcUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Settlement state of a transaction: pending, included, confirmed(n) or final."""
    import asyncio

    from oms_chain.chain.registry import ChainInfo, chain_info
    from oms_chain.chain.rpc import RpcClient
    from oms_chain.chain.tracker import lookup_settlement
    from oms_chain.model.ids import TxHash

    tx_hash = _tx_hash(tx_hash)
    url = rpc_url or _devnet_url(None)

    async def lookup() -> Any:
        async with RpcClient([url]) as rpc:
            chain_id = await rpc.chain_id()
            try:
                info = chain_info(chain_id)
            except InvalidInput:
                info = ChainInfo(chain_id=chain_id, name=f"chain-{chain_id}")
            return info, await lookup_settlement(rpc, info, TxHash(tx_hash))

    info, report = asyncio.run(lookup())
    row = {
        "tx_hash": report.tx_hash,
        "chain": f"{info.name} ({info.chain_id})",
        "status": report.status.value,
        "confirmations": report.confirmations,
        "final_after": info.final_confirmations,
        "block": report.block_number,
        "succeeded": report.succeeded,
        "detail": report.detail,
    }
    if as_json:
        print(json.dumps(row, indent=2))
        return
    table = Table(title="transaction settlement")
    table.add_column("field")
    table.add_column("value")
    for key, value in row.items():
        table.add_row(key, str(value))
    console.print(table)


@app.command()
def quote(
    sell: SellOption,
    buy: BuyOption,
    amount: Annotated[str, typer.Option("--amount", help="Amount to sell, in whole tokens.")],
    chain: ChainOption = None,
    rpc_url: RpcUrlOption = None,
    refresh_pools: RefreshPoolsOption = False,
    as_json: JsonOption = False,
) -> None:
    """Exact amount out, price impact and gas on every Uniswap pool of the pair (off-chain).

    Pools: those the chain's address book lists, else the ones its Uniswap factories know
    (discovered, cached per chain)."""
    from decimal import Decimal

    from oms_chain.venues.amm.quotes import quote_pools

    human = _positive_decimal(amount, "--amount")
    sell, buy = _symbol(sell, "--sell"), _symbol(buy, "--buy")
    w3, chain_id, book = _chain_client(rpc_url, chain)
    sell, buy = _book_symbol(book, sell), _book_symbol(book, buy)
    token_in, token_out = book.token(sell), book.token(buy)
    book = _pools_for_pair(w3, book, sell, buy, refresh_pools)
    base_units = _exact_base_units(human, token_in.decimals, "--amount", amount)
    quotes = quote_pools(w3, book, sell, buy, base_units)
    if as_json:
        print(
            json.dumps(
                {
                    "chain_id": chain_id,
                    "sell": sell,
                    "buy": buy,
                    "amount_in": base_units,
                    "decimals_out": token_out.decimals,
                    "quotes": [
                        {"venue": _quote_venue_id(q, chain_id), **q.as_dict()} for q in quotes
                    ],
                },
                indent=2,
            )
        )
        return
    table = Table(title=f"sell {human} {sell} for {buy} on {book.name} (exact, off-chain)")
    for col in ("venue", "fee", "pool", f"{buy} out", "impact (bps)", "ticks", "gas (model)"):
        table.add_column(col, justify="left" if col in ("venue", "pool") else "right")
    for q in quotes:
        if q.error is not None:
            table.add_row(
                "Uniswap V3" if q.protocol == "uniswap-v3" else "Uniswap V2",
                f"{q.fee / 10_000:g}%",
                q.pool,
                f"cannot quote: {q.error}",
                "-",
                "-",
                "-",
            )
            continue
        out = Decimal(q.amount_out).scaleb(-token_out.decimals, context=_exact(q.amount_out))
        table.add_row(
            _quote_venue_id(q, chain_id),
            f"{q.fee / 10_000:g}%",
            q.pool,
            f"{out:,.{token_out.decimals}f}" + (" (partial)" if q.filled_in < q.amount_in else ""),
            f"{q.price_impact_bps:.2f}",
            str(q.ticks_crossed),
            f"{q.gas_estimate:,}",
        )
    console.print(table)


_ROUTE_POOL_ID = re.compile(r"v([23])-([0-9]+)-0x[0-9a-f]+", re.ASCII)


def _engine_venue_id(route_venue: str, chain_id: int) -> str:
    """A route source's id as ``oms swap --venue`` takes it (``uniswap-v3-500-31337``); a
    two-hop path keeps its shape with each hop renamed; other ids (``binance``) as they are."""

    def one(part: str) -> str:
        m = _ROUTE_POOL_ID.fullmatch(part)
        if m is None:
            return part
        return (
            f"uniswap-v2-{chain_id}" if m.group(1) == "2" else f"uniswap-v3-{m.group(2)}-{chain_id}"
        )

    return ">".join(one(p) for p in route_venue.split(">"))


def _quote_venue_id(q: Any, chain_id: int) -> str:
    """The venue id of a pool quote (``uniswap-v2-31337``, ``uniswap-v3-500-31337``)."""
    if q.protocol == "uniswap-v2":
        return f"uniswap-v2-{chain_id}"
    return f"{q.protocol}-{q.fee}-{chain_id}"


def _renamed(value: Any, ids: dict[str, str]) -> Any:
    """``value`` (JSON-shaped) with every string found in ``ids`` replaced by its new name."""
    if isinstance(value, dict):
        return {k: _renamed(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, ids) for v in value]
    if isinstance(value, str):
        return ids.get(value, value)
    return value


def _local_exchange_urls(urls: Any, rest_url: str) -> Any:
    """ccxt's ``urls['api']`` pointed at the local exchange ``rest_url`` (``--exchange-url``)."""
    from oms_chain.service import local_exchange_urls

    try:
        return local_exchange_urls(urls, rest_url)
    except InvalidInput:
        raise InvalidInput(
            f"--exchange-url must be http(s)://host:port, got {rest_url!r}"
        ) from None


@app.command("route")
def route_cmd(
    sell: SellOption,
    buy: BuyOption,
    amount: Annotated[
        str,
        typer.Option("--amount", help="Whole tokens: to sell, or to buy with --exact-output."),
    ],
    exact_output: Annotated[
        bool,
        typer.Option("--exact-output", help="Buy exactly --amount of --buy for the least input."),
    ] = False,
    chain: ChainOption = None,
    rpc_url: RpcUrlOption = None,
    exchange_url: Annotated[
        str | None,
        typer.Option(
            "--exchange-url", help="REST URL of an exchange speaking --exchange's API (its book)."
        ),
    ] = None,
    exchange: Annotated[
        str, typer.Option("--exchange", help="ccxt exchange id for --exchange-url.")
    ] = "binance",
    gas_price_gwei: Annotated[
        str | None, typer.Option("--gas-price-gwei", help="Gas price (default: the node's).")
    ] = None,
    refresh_pools: RefreshPoolsOption = False,
    as_json: JsonOption = False,
) -> None:
    """The best split of an order across the pair's Uniswap pools, two-hop paths and an exchange
    book (exact, off-chain; nothing is executed), compared with the best single venue and the
    5 % greedy split."""
    import asyncio
    from decimal import ROUND_FLOOR, Decimal

    from oms_chain.routing import route, route_exact_output
    from oms_chain.routing.live import source_from_exchange_book, sources_for_pair

    human = _positive_decimal(amount, "--amount")
    gas_price_wei: int | None = None
    if gas_price_gwei is not None:
        gwei = _decimal_text(gas_price_gwei, "--gas-price-gwei")
        if not gwei.is_finite() or gwei < 0:
            raise InvalidInput(f"--gas-price-gwei must be >= 0, got {gas_price_gwei}")
        gas_price_wei = int(gwei.scaleb(9, context=_exact(gwei)).to_integral_value(ROUND_FLOOR))
    sell, buy = _symbol(sell, "--sell"), _symbol(buy, "--buy")
    if exchange_url is not None:
        _exchange_id(exchange)
    w3, chain_id, book = _chain_client(rpc_url, chain)
    sell, buy = _book_symbol(book, sell), _book_symbol(book, buy)
    token_in, token_out = book.token(sell), book.token(buy)
    book = _pools_for_pair(w3, book, sell, buy, refresh_pools)
    sized = token_out if exact_output else token_in
    base_units = _exact_base_units(human, sized.decimals, "--amount", amount)
    block = int(w3.eth.block_number)
    gas_price = int(w3.eth.gas_price) if gas_price_wei is None else gas_price_wei
    sources = sources_for_pair(w3, book, sell, buy, gas_price_wei=gas_price, block_identifier=block)
    if exchange_url is not None:
        import ccxt.pro as ccxt_pro

        from oms_chain.venues.cex import CcxtVenue, CcxtVenueConfig

        try:
            api_urls = getattr(ccxt_pro, exchange)().urls["api"]
        except AttributeError:
            raise InvalidInput(f"--exchange {exchange!r} is not a ccxt exchange id") from None

        async def book_source() -> Any:
            config = CcxtVenueConfig(
                exchange=exchange,
                options={
                    "fetchCurrencies": False,
                    "fetchMargins": False,
                    "fetchMarkets": {"types": ["spot"]},
                },
                urls=_local_exchange_urls(api_urls, exchange_url),
                book_timeout_s=3.0,
            )
            venue = CcxtVenue(config)
            try:
                await venue.start(user_stream=False)
                return await source_from_exchange_book(
                    venue,
                    sell,
                    buy,
                    sell_decimals=token_in.decimals,
                    buy_decimals=token_out.decimals,
                )
            finally:
                await venue.close()

        sources.append(asyncio.run(book_source()))
    plan = route_exact_output(sources, base_units) if exact_output else route(sources, base_units)
    ids = {str(s.venue): _engine_venue_id(str(s.venue), chain_id) for s in sources}
    data = _renamed(plan.to_dict(), ids)
    if as_json:
        print(
            json.dumps(
                {
                    "chain_id": chain_id,
                    "block": block,
                    "sell": sell,
                    "buy": buy,
                    "mode": plan.mode,
                    "decimals_in": token_in.decimals,
                    "decimals_out": token_out.decimals,
                    "gas_price_wei": gas_price,
                    "sources": [ids[str(s.venue)] for s in sources],
                    "plan": data,
                },
                indent=2,
            )
        )
        return

    def tokens(value: int, decimals: int) -> str:
        return f"{Decimal(value) / Decimal(10**decimals):,.{min(decimals, 6)}f}"

    gas_decimals = token_in.decimals if exact_output else token_out.decimals
    gas_symbol = sell if exact_output else buy
    what = f"buy {human} {buy} with {sell}" if exact_output else f"sell {human} {sell} for {buy}"
    table = Table(title=f"route: {what} on {book.name}, block {block} (plan only)")
    for col in ("venue", "kind", f"{sell} in", f"{buy} out", f"gas ({gas_symbol})", "impact bps"):
        table.add_column(col, justify="left" if col in ("venue", "kind") else "right")
    for leg in plan.legs:
        table.add_row(
            ids.get(str(leg.venue), str(leg.venue)),
            leg.kind,
            tokens(leg.amount_in, token_in.decimals),
            tokens(leg.amount_out, token_out.decimals),
            tokens(leg.fixed_cost, gas_decimals),
            f"{leg.price_impact_bps}",
        )
    table.add_section()
    table.add_row(
        "total",
        plan.mode,
        tokens(plan.amount_in, token_in.decimals),
        tokens(plan.expected_output, token_out.decimals),
        tokens(plan.gas_cost, gas_decimals),
        f"{plan.price_impact_bps}",
    )
    console.print(table)
    if exact_output:
        console.print(f"net input (swaps + gas): {tokens(plan.net_input or 0, token_in.decimals)}")
    else:
        console.print(f"net output (after gas): {tokens(plan.net_output, token_out.decimals)}")
    console.print(f"venue fees (est.): {tokens(plan.fees, token_out.decimals)} {buy}")
    if plan.best_single is not None:
        console.print(
            f"vs best single venue ({ids.get(plan.best_single.name, plan.best_single.name)}): "
            f"{plan.vs_best_single_bps:+} bps"
        )
    if plan.greedy is not None:
        console.print(f"vs 5 % greedy split: {plan.vs_greedy_bps:+} bps")


# --- trading through the engine: oms swap / oms order ----------------------------------------

KeyEnvOption = Annotated[
    str | None,
    typer.Option(
        "--key-env",
        metavar="VAR",
        help="Environment variable holding the signing key (hex). Default on the devnet: its "
        "first funded key.",
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="OMS TOML config (chains, exchange, account) instead of the devnet.",
    ),
]
DryRunOption = Annotated[
    bool,
    typer.Option("--dry-run", help="Print the plan and stop: nothing is sent, nothing is written."),
]
YesOption = Annotated[
    bool,
    typer.Option(
        "--yes",
        "-y",
        help="Do not ask for confirmation on a live target (non-devnet chain or "
        "non-sandbox exchange).",
    ),
]
TradeStoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        metavar="URL",
        envvar="OMS_STORE_URL",
        help="Event store URL (env OMS_STORE_URL). Default: the config's, or one store per "
        "running devnet next to its runtime file.",
    ),
]


def _trading_session(
    *,
    chain: int | None,
    store: str | None,
    key_env: str | None,
    config: Path | None,
    exchange: bool,
    venue_market_data: bool = False,
    refresh_pools: bool = False,
    resume_parents: bool | list[str] = False,
) -> tuple[Any, str]:
    """The TradingSession for a trading command and the store URL it uses (not yet opened).
    ``resume_parents``: the open algo / split parents of the store this process works on
    (default none: a command never works someone else's order)."""
    from oms_chain.custody.local import LocalSigner
    from oms_chain.engine import load_config
    from oms_chain.service import TradingSession

    if config is not None:
        cfg = load_config(config)
        if chain is not None:
            cfg = replace_chains(cfg, chain)
        kw: dict[str, Any] = {
            "venue_market_data": venue_market_data,
            "refresh_pools": refresh_pools,
            "resume_parents": resume_parents,
        }
        if store is not None:
            kw["store_url"] = store
        session = TradingSession.from_config(cfg, os.environ, with_exchange=exchange, **kw)
        return session, session.store_url
    runtime = _runtime_file()
    try:
        info = json.loads(runtime.read_text())
        chains = info["chains"]
    except (OSError, ValueError, KeyError):
        raise InvalidInput(
            "no devnet is running (start one with `oms devnet up`), or pass --config for a real "
            "chain"
        ) from None
    from oms_chain.devnet.anvil import json_rpc

    l1 = chains.get("l1", {})
    try:
        json_rpc(l1["rpc_url"], "eth_chainId", timeout=2.0)
    except (OmsError, KeyError):
        raise InvalidInput(
            f"the devnet recorded in {runtime} does not answer (stopped?); start one with "
            "`oms devnet up`"
        ) from None
    chain_id = int(l1["chain_id"]) if chain is None else chain
    if key_env is not None:
        signer = LocalSigner.from_env(key_env)
    else:
        from oms_chain.devnet.anvil import DEFAULT_MNEMONIC
        from oms_chain.devnet.world import derive_accounts

        signer = LocalSigner(derive_accounts(DEFAULT_MNEMONIC, 1)[0].private_key)
    pid = info.get("pid", 0)
    url = store or f"sqlite:///{runtime.parent / f'oms-devnet-{pid}.db'}"
    session = TradingSession.from_devnet_runtime(
        info,
        url,
        signer,
        chain_ids=[chain_id],
        with_exchange=exchange,
        poll_interval=0.1,
        venue_market_data=venue_market_data,
        refresh_pools=refresh_pools,
        resume_parents=resume_parents,
    )
    return session, url


# --- checks before anything is opened: assets, venues, live targets, plans -------------------

_WRAPPED = {"ETH": "WETH", "BTC": "WBTC"}
_DEVNET_CHAIN_IDS = frozenset({31337, 31338})


def _aliases(symbol: str) -> list[str]:
    """``symbol`` and its wrapped / native counterpart (ETH and WETH, BTC and WBTC)."""
    out = [symbol]
    for native, wrapped in _WRAPPED.items():
        if symbol == native:
            out.append(wrapped)
        elif symbol == wrapped:
            out.append(native)
    return out


def _venue_ids(venues: list[str] | None) -> list[str]:
    """``--venue`` values checked (ASCII ids), stripped, without repeats, order kept."""
    out: list[str] = []
    for v in venues or []:
        vid = _identifier(v.strip(" "), "--venue")
        if vid.lower() not in (o.lower() for o in out):
            out.append(vid)
    return out


def _read_runtime() -> tuple[Path, dict[str, Any]]:
    runtime = _runtime_file()
    try:
        info = json.loads(runtime.read_text())
        if not isinstance(info.get("chains"), dict):
            raise ValueError("no chains")
    except (OSError, ValueError, AttributeError):
        raise InvalidInput(
            "no devnet is running (start one with `oms devnet up`), or pass --config for a real "
            "chain"
        ) from None
    return runtime, info


def _precheck(
    plan: dict[str, Any],
    symbols: list[str],
    venues: list[str] | None,
    *,
    config: Path | None,
    chain: int | None,
    exchange: bool,
) -> None:
    """Check what can be checked without opening anything (the config file, or the devnet's
    runtime file: its assets, pools and exchange), and note the target in ``plan``.

    Raises:
        InvalidInput: unknown asset or venue, bad config, no devnet running.
    """
    if config is not None:
        from oms_chain.engine import load_config

        cfg = load_config(config)
        if chain is not None:
            cfg = replace_chains(cfg, chain)
        plan["target"] = f"config {config}"
        plan["chains"] = [c.chain_id for c in cfg.chains]
        plan["live"] = _live_targets(cfg, exchange)
        return
    runtime, info = _read_runtime()
    chains = info["chains"]
    books = []
    for name, c in chains.items():
        if name == "exchange" or not isinstance(c, dict):
            continue
        if (chain is None and name == "l1") or c.get("chain_id") == chain:
            books.append(c.get("address_book") or {})
    if not books:
        have = [c.get("chain_id") for n, c in chains.items() if n != "exchange"]
        raise InvalidInput(f"the running devnet has no chain {chain}; it has {have}")
    plan["target"] = f"devnet ({runtime})"
    plan["chains"] = [b.get("chain_id") for b in books]
    plan["live"] = []
    tokens: dict[str, str] = {}  # address (lower) -> symbol
    for b in books:
        for sym, t in dict(b.get("tokens", {})).items():
            tokens[str(t.get("address", "")).lower()] = str(sym).upper()
    known = {a for sym in tokens.values() for a in _aliases(sym)}
    pair = "/".join(symbols)
    for sym in symbols:
        if sym not in known:
            raise InvalidInput(
                f"no venue trades {' for '.join(symbols)} ({sym} is not an asset of the devnet; "
                f"known: {', '.join(sorted(known))})"
            )
    if not venues:
        return
    wanted = {a for sym in symbols for a in _aliases(sym)}
    trading: list[str] = []
    for b in books:
        cid = b.get("chain_id")
        for pool in b.get("pools", []):
            ends = {tokens.get(str(pool.get(k, "")).lower(), "") for k in ("token0", "token1")}
            if symbols and not ends <= wanted:
                continue
            proto = str(pool.get("protocol", ""))
            vid = f"{proto}-{cid}" if proto == "uniswap-v2" else f"{proto}-{pool.get('fee')}-{cid}"
            trading.append(vid)
    if exchange and "exchange" in chains:
        trading.append("binance")
    for v in venues:
        if v.lower() not in (t.lower() for t in trading):
            raise InvalidInput(
                f"venue {v!r} does not trade {pair} on the devnet; venues that do: "
                f"{', '.join(dict.fromkeys(trading)) or 'none'}"
            )


def _live_targets(cfg: Any, exchange: bool) -> list[str]:
    """What in ``cfg`` trades for real: chains that are not a devnet, exchanges not in
    sandbox mode."""
    out = [
        f"chain {c.name} ({c.chain_id})" for c in cfg.chains if c.chain_id not in _DEVNET_CHAIN_IDS
    ]
    if exchange:
        out += [
            f"exchange {v.name} (not sandbox)"
            for v in cfg.venues
            if v.kind == "ccxt" and not v.testnet
        ]
    return out


def _plan_gate(plan: dict[str, Any], *, dry_run: bool, yes: bool, as_json: bool) -> bool:
    """``--dry-run``: print ``plan`` and tell the caller to stop (``True``). On a live target
    without ``--yes``: show the plan and ask (refused when stdin is not a terminal)."""
    live = plan.get("live") or []
    if dry_run:
        _print_plan({**plan, "dry_run": True}, as_json)
        return True
    if live and not yes:
        _print_plan(plan, as_json=False, stream=err_console)
        where = ", ".join(live)
        if not sys.stdin.isatty():
            raise _Refused(
                f"live target ({where}): nothing sent; confirm with --yes (stdin is not a "
                f"terminal, so there is no one to ask)"
            )
        if not typer.confirm(f"send this to {where}?", default=False, err=True):
            raise _Refused("not confirmed; nothing was sent")
    return False


def _print_plan(plan: dict[str, Any], as_json: bool, stream: Console | None = None) -> None:
    if as_json:
        print(json.dumps(plan, indent=2, default=str))
        return
    title = "plan (dry run: nothing sent, nothing written)" if plan.get("dry_run") else "plan"
    table = Table(title=title)
    table.add_column("field")
    table.add_column("value")
    for key, value in plan.items():
        if key == "dry_run":
            continue
        shown = json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)
        table.add_row(key, shown)
    (stream or console).print(table)


def _default_store_url(store: str | None, config: Path | None) -> str:
    """The store a command uses: ``--store``, else the config's, else the running devnet's."""
    if store is not None:
        return store
    if config is not None:
        from oms_chain.engine import load_config

        cfg = load_config(config)
        if cfg.store.password_env is not None:
            raise InvalidInput(
                "the config's store takes a password (store.password_env): pass --store with "
                "the full URL"
            )
        return str(cfg.store.url)
    runtime, info = _read_runtime()
    pid = info.get("pid", 0)
    return f"sqlite:///{runtime.parent / f'oms-devnet-{pid}.db'}"


def _require_existing_store(url: str) -> None:
    """A SQLite store file must exist (nothing to act on otherwise; never create one)."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            raise InvalidInput(f"no event store at {path} (check --store)")


def _read_profile(path: Path, slices: int | None) -> str:
    """``--profile FILE``: non-negative weights (commas, spaces or lines between them)."""
    try:
        if not path.is_file():
            raise InvalidInput(f"--profile {path}: no such file")
        if path.stat().st_size > 1_000_000:
            raise InvalidInput(f"--profile {path}: over 1 MB; give one weight per slice")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"--profile {path}: cannot read it ({exc})") from None
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    weights = [_decimal_text(p, "--profile weight") for p in parts]
    if not 1 <= len(weights) <= MAX_SLICES or sum(weights) <= 0:
        raise InvalidInput(
            f"--profile {path}: needs 1 to {MAX_SLICES} non-negative weights with a positive sum"
        )
    if slices is not None and slices != len(weights):
        raise InvalidInput(
            f"--slices {slices} conflicts with the {len(weights)} weights of --profile; give one"
        )
    return ",".join(str(w) for w in weights)


_TIMEFRAMES = (
    ("1s", 1),
    ("1m", 60),
    ("3m", 180),
    ("5m", 300),
    ("15m", 900),
    ("30m", 1800),
    ("1h", 3600),
    ("2h", 7200),
    ("4h", 14400),
    ("6h", 21600),
    ("12h", 43200),
    ("1d", 86400),
)


def _kline_timeframe(duration_ns: int, buckets: int) -> tuple[str, int]:
    """The largest Binance kline interval that fits a bucket, coarse enough that the window
    takes at most 1000 klines."""
    bucket_s = duration_ns / 10**9 / buckets
    chosen = _TIMEFRAMES[0]
    for tf in _TIMEFRAMES:
        if tf[1] <= bucket_s:
            chosen = tf
    while duration_ns / 10**9 / chosen[1] > 1000 and chosen != _TIMEFRAMES[-1]:
        chosen = _TIMEFRAMES[_TIMEFRAMES.index(chosen) + 1]
    return chosen


def _kline_profile(
    symbol: str, duration_ns: int, buckets: int, *, config: Path | None, exchange: bool
) -> str:
    """VWAP weights: the exchange's traded volume (ccxt ``fetch_ohlcv``, Binance
    ``GET /api/v3/klines``) in ``buckets`` equal buckets over the ``duration_ns`` just before
    now. A window without volume gives an even profile.

    Raises:
        InvalidInput: no exchange to ask; VenueUnavailable: the exchange did not answer.
    """
    import ccxt

    from oms_chain.model.errors import VenueUnavailable
    from oms_chain.service import local_exchange_urls

    hint = "pass --profile FILE"
    if not exchange:
        raise InvalidInput(f"--algo vwap without --profile reads the exchange's klines; {hint}")
    rest_url: str | None = None
    sandbox = False
    ex_id = "binance"
    if config is not None:
        from oms_chain.engine import load_config

        found = [v for v in load_config(config).venues if v.kind == "ccxt"]
        if not found:
            raise InvalidInput(f"--algo vwap: the config has no exchange for klines; {hint}")
        ex_id, sandbox = found[0].exchange or found[0].name, found[0].testnet
    else:
        _, info = _read_runtime()
        ex = info["chains"].get("exchange")
        if not isinstance(ex, dict) or "rest_url" not in ex:
            raise InvalidInput(f"--algo vwap: the running devnet has no exchange; {hint}")
        rest_url = str(ex["rest_url"])
    klass = getattr(ccxt, ex_id, None)
    if klass is None:
        raise InvalidInput(f"{ex_id!r} is not a ccxt exchange id")
    client = klass(
        {
            "enableRateLimit": False,
            "timeout": 10_000,
            "options": {
                "fetchCurrencies": False,
                "fetchMargins": False,
                "fetchMarkets": {"types": ["spot"]},
            },
        }
    )
    if rest_url is not None:
        client.urls["api"] = local_exchange_urls(client.urls["api"], rest_url)
    elif sandbox:
        client.set_sandbox_mode(True)
    base, quote = (_unwrapped(a) for a in symbol.split("/"))
    timeframe, tf_s = _kline_timeframe(duration_ns, buckets)
    duration_ms = duration_ns // 10**6
    try:
        now_ms = int(client.fetch_time())
        since = now_ms - duration_ms
        rows = client.fetch_ohlcv(
            f"{base}/{quote}",
            timeframe,
            since=since,
            limit=min(1000, duration_ms // (tf_s * 1000) + 1),
        )
    except ccxt.BaseError as exc:
        raise VenueUnavailable(
            f"could not read {base}/{quote} klines from {ex_id} for the VWAP profile "
            f"({type(exc).__name__}: {_one_line(str(exc))[:200]}); {hint}"
        ) from None
    volumes = [Decimal(0)] * buckets
    for row in rows:
        ts, volume = int(row[0]), row[5]
        if ts < since or volume is None:
            continue
        idx = min(buckets - 1, (ts - since) * buckets // max(duration_ms, 1))
        volumes[idx] += Decimal(str(volume))
    if sum(volumes) <= 0:
        err_console.print(
            f"[dim]no {base}/{quote} volume on {ex_id} in the last window: even VWAP profile[/]",
            highlight=False,
        )
        volumes = [Decimal(1)] * buckets
    return ",".join(f"{v.normalize():f}" for v in volumes)


def _unwrapped(symbol: str) -> str:
    """The exchange's name of an asset (WETH -> ETH, WBTC -> BTC)."""
    for native, wrapped in _WRAPPED.items():
        if symbol == wrapped:
            return native
    return symbol


def _session_symbol(session: Any, symbol: str) -> Any:
    """The session's instrument for ``symbol``, trying ETH / WETH (BTC / WBTC) either way."""
    base, quote = symbol.split("/")
    first: InvalidInput | None = None
    for b in _aliases(base):
        for q in _aliases(quote):
            try:
                return session.instrument(f"{b}/{q}")
            except InvalidInput as exc:
                first = first or exc
    assert first is not None
    raise first


def _canonical_venues(session: Any, venues: list[str] | None) -> list[str] | None:
    """``--venue`` ids as the session spells them (case-insensitive match)."""
    if not venues:
        return None
    ids = {v.lower(): v for v in session.venues()}
    return [ids.get(v.lower(), v) for v in venues]


def replace_chains(cfg: Any, chain: int) -> Any:
    """``cfg`` with only the chain ``chain`` (``--chain`` with ``--config``)."""
    from dataclasses import replace

    kept = tuple(c for c in cfg.chains if c.chain_id == chain)
    if not kept:
        known = [c.chain_id for c in cfg.chains]
        raise InvalidInput(f"--chain {chain} is not in the config's chains {known}")
    return replace(cfg, chains=kept)


def _chain_client(rpc_url: str | None, chain: int | None) -> tuple[Any, int, Any]:
    """``(web3, chain id, address book)`` of ``--rpc-url`` (default: the devnet's ``--chain``),
    checking that the node is the chain asked for."""
    from web3 import Web3

    from oms_chain.chain.addressbook import load_address_book

    url = rpc_url or _devnet_url(chain)
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
    try:
        chain_id = int(w3.eth.chain_id)
    except Exception as exc:
        raise InvalidInput(f"{url} does not answer eth_chainId: {exc}") from None
    if chain is not None and chain != chain_id:
        raise InvalidInput(f"--chain {chain} but {url} is chain {chain_id}")
    return w3, chain_id, load_address_book(chain_id)


RefreshPoolsOption = Annotated[
    bool,
    typer.Option(
        "--refresh-pools",
        help="Ask the Uniswap factories again for the pools of a chain whose address book "
        "lists none, instead of the per-chain pool cache.",
    ),
]


def _pools_for_pair(w3: Any, book: Any, sell: str, buy: str, refresh: bool) -> Any:
    """``book`` with the pools of ``sell``/``buy`` and of each with WETH / USDC (two-hop paths,
    gas pricing) found from its factories, when the book lists no pools (a live chain, a fork)."""
    import asyncio

    from oms_chain.chain.rpc import RpcClient
    from oms_chain.venues.amm.discovery import pair_candidates, with_discovered_pools

    pairs = pair_candidates(book, sell, buy)

    async def run() -> Any:
        async with RpcClient([str(w3.provider.endpoint_uri)], timeout=30.0) as rpc:
            return await with_discovered_pools(rpc, book, pairs, refresh=refresh)

    return asyncio.run(run())


def _exact(value: Any) -> Any:
    """A decimal context wide enough that scaling ``value`` (a Decimal or an int) by a power of
    ten is exact: the default 28 digits would round a 31-digit amount silently."""
    from decimal import Context, Decimal

    digits = len(Decimal(value).as_tuple().digits)
    return Context(prec=digits + 100, Emax=999_999, Emin=-999_999)


def _exact_base_units(human: Any, decimals: int, option: str, given: str) -> int:
    """``human`` whole tokens in base units, exactly; :class:`InvalidInput` when ``given`` has
    more decimals than the token."""
    if human.adjusted() + decimals > 77:  # uint256 holds 77 digits
        raise InvalidInput(f"{option} {given} is too large for a token amount")
    if human.adjusted() < -decimals:
        raise InvalidInput(f"{option} {given} has more than {decimals} decimals")
    units = human.scaleb(decimals, context=_exact(human))
    if units != units.to_integral_value():
        raise InvalidInput(f"{option} {given} has more than {decimals} decimals")
    return int(units)


def _child_rows(session: Any, parent_id: str) -> list[dict[str, Any]]:
    rows = []
    for k in session.children(parent_id):
        st = k.settlement
        rows.append(
            {
                "order_id": k.order_id,
                "venue": k.venue,
                "quantity": str(k.quantity),
                "filled": str(k.filled_quantity),
                "avg_price": None if k.avg_fill_price is None else str(k.avg_fill_price),
                "status": k.status.value,
                "tx_hash": None if st is None else st.tx_hash,
                "settlement": None if st is None else st.status.value,
                "confirmations": None if st is None else st.confirmations,
                "reason": k.reason,
            }
        )
    return rows


def _print_children(title: str, rows: list[dict[str, Any]]) -> None:
    table = Table(title=title)
    for col in ("child", "venue", "quantity", "avg price", "status", "tx", "settlement"):
        table.add_column(col, justify="right" if col in ("quantity", "avg price") else "left")
    for r in rows:
        settle = "-"
        if r["settlement"] is not None:
            settle = r["settlement"]
            if r["confirmations"]:
                settle += f" ({r['confirmations']} conf)"
        table.add_row(
            r["order_id"] if _Output.wide else "#" + r["order_id"].rsplit("/", 1)[-1],
            r["venue"] or "-",
            _short_price(r["filled"]),
            _short_price(r["avg_price"]),
            r["status"],
            r["tx_hash"] or "-",
            settle,
        )
    console.print(table)


def _order_outcome(parent: Any, rows: list[dict[str, Any]], as_json: bool, store: str) -> None:
    from oms_chain.model.orders import OrderStatus

    summary = {
        "order_id": parent.order_id,
        "instrument": parent.instrument.symbol,
        "side": parent.side.value,
        "quantity": str(parent.quantity),
        "filled": str(parent.filled_quantity),
        "avg_price": None if parent.avg_fill_price is None else str(parent.avg_fill_price),
        "status": parent.status.value,
        "reason": parent.reason,
        "store": store,
        "children": rows,
    }
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        _print_children(
            f"{parent.order_id}: {parent.side.value} {_short_price(str(parent.filled_quantity))}"
            f" of {_short_price(str(parent.quantity))} {parent.instrument.symbol} "
            f"({parent.status.value}, avg {_short_price(summary['avg_price'])})",
            rows,
        )
        err_console.print(f"[dim]events: oms orders --store {store}[/]", highlight=False)
    if parent.status is not OrderStatus.FILLED:
        refused = parent.status is OrderStatus.REJECTED
        if as_json:  # the outcome above says it all; one JSON document on stdout
            raise typer.Exit(4 if refused else 1)
        raise (_Refused if refused else OmsError)(
            f"order {parent.order_id} ended {parent.status.value} with "
            f"{parent.filled_quantity} of {parent.quantity} filled: {parent.reason or 'no reason'}"
        )


def _resolve_pair(session: Any, sell: str, buy: str) -> tuple[Any, str]:
    """(instrument, side) for selling ``sell`` for ``buy`` (ETH and WETH alike, any case)."""
    sell, buy = sell.strip().upper(), buy.strip().upper()
    if sell == buy:
        raise InvalidInput(f"--sell and --buy are both {sell}")
    for s in _aliases(sell):
        for b in _aliases(buy):
            try:
                return session.instrument(f"{s}/{b}"), "sell"
            except InvalidInput:
                pass
            try:
                return session.instrument(f"{b}/{s}"), "buy"
            except InvalidInput as exc:
                known = str(exc).split("known pairs: ", 1)[-1]
    raise InvalidInput(f"no venue trades {sell} for {buy}; known pairs: {known}") from None


@app.command()
def swap(
    sell: Annotated[
        str, typer.Option("--sell", metavar="SYMBOL", help="Asset to sell (ETH, WETH, USDC, ...).")
    ],
    buy: Annotated[str, typer.Option("--buy", metavar="SYMBOL", help="Asset to buy.")],
    amount: Annotated[
        str, typer.Option("--amount", metavar="AMOUNT", help="Amount of --sell, in whole units.")
    ],
    chain: Annotated[
        int | None,
        typer.Option(
            "--chain",
            help="Chain id (default: the devnet's L1).",
            metavar="ID",
            parser=_chain_id_parser,
        ),
    ] = None,
    venue: Annotated[
        list[str] | None,
        typer.Option(
            "--venue",
            metavar="VENUE",
            help="Venue id (repeat for several: the router splits across them). Default: every "
            "venue trading the pair (the chain's Uniswap pools and the exchange).",
        ),
    ] = None,
    slippage_bps: Annotated[
        str, typer.Option("--slippage-bps", metavar="BPS", help="Worst price vs the plan, in bps.")
    ] = "50",
    exchange: Annotated[
        bool, typer.Option("--exchange/--no-exchange", help="Also trade on the exchange.")
    ] = True,
    confirmations: Annotated[
        int,
        typer.Option(
            "--confirmations",
            help="Wait until each transaction has this many blocks on top (0: included; "
            "final always ends the wait; at most 1000).",
            metavar="N",
            parser=_parser(_bounded_int, "--confirmations", 0, 1000),
        ),
    ] = 0,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            help="Seconds to wait (at most 7 days).",
            metavar="SECONDS",
            parser=_parser(_seconds, "--timeout"),
        ),
    ] = 120.0,
    store: TradeStoreOption = None,
    key_env: KeyEnvOption = None,
    config: ConfigOption = None,
    refresh_pools: RefreshPoolsOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
) -> None:
    """Swap through the engine: one intent routed across the pools and the exchange.

    Several venues make a split (one child per venue, sent concurrently); swaps are signed by
    your key and followed until the children are filled and their transactions included (or
    --confirmations deep), then a table of the children is printed. Selling the quote asset
    (--sell USDC --buy ETH) buys the ETH that --amount USDC pays for at the best single venue's
    price for that size (the split does at least as well: at most about --amount is spent).

    Default: the devnet of `oms devnet up` (its runtime file) and its first funded key (account
    0 of the public devnet mnemonic); --key-env for your own key, --config for real chains.
    """
    import asyncio

    from rich.progress import BarColumn, Progress, TextColumn

    sell, buy = _symbol(sell, "--sell"), _symbol(buy, "--buy")
    qty = _positive_decimal(amount, "--amount")
    slip = _bps(slippage_bps, "--slippage-bps")
    venue = _venue_ids(venue)
    if confirmations < 0:
        raise InvalidInput(f"--confirmations must be >= 0, got {confirmations}")
    if timeout <= 0:
        raise InvalidInput(f"--timeout must be positive, got {timeout}")
    if sell == buy or {sell, buy} <= {"ETH", "WETH"}:
        raise InvalidInput(f"--sell and --buy are both {sell}")
    plan = {
        "command": "swap",
        "sell": sell,
        "buy": buy,
        "amount": str(qty),
        "venues": venue or "every venue trading the pair",
        "exchange": exchange,
        "max_slippage_bps": str(slip),
        "confirmations": confirmations,
    }
    _precheck(plan, [sell, buy], venue, config=config, chain=chain, exchange=exchange)
    if _plan_gate(plan, dry_run=dry_run, yes=yes, as_json=as_json):
        return
    session, url = _trading_session(
        chain=chain,
        store=store,
        key_env=key_env,
        config=config,
        exchange=exchange,
        refresh_pools=refresh_pools,
        resume_parents=False,
    )

    async def run() -> tuple[Any, list[dict[str, Any]]]:
        async with session:
            inst, side = _resolve_pair(session, sell, buy)
            venues = _canonical_venues(session, venue)
            if side == "buy":  # spend --amount of the quote: size the base at the best price
                qty_base = await session.quantity_for_notional(inst, side, qty, venues)
            else:
                qty_base = qty
            intent = session.intent(
                inst,
                side,
                qty_base,
                venues=venues,
                exchange=exchange,
                max_slippage_bps=slip,
            )
            parent = await session.submit(intent)
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[detail]}"),
                console=err_console,
                transient=True,
            ) as progress:
                task = progress.add_task(f"{side} {inst.symbol}", total=1, detail="")

                def show(p: Any, kids: list[Any]) -> None:
                    done = sum(1 for k in kids if k.is_terminal)
                    progress.update(
                        task,
                        total=float(p.quantity),
                        completed=float(p.filled_quantity),
                        detail=f"{p.status.value}, {done}/{len(kids)} children done",
                    )

                parent = await session.wait(
                    parent.order_id, confirmations=confirmations, timeout=timeout, on_progress=show
                )
            return parent, _child_rows(session, parent.order_id)

    parent, rows = asyncio.run(run())
    _order_outcome(parent, rows, as_json, url)


_ALGOS = ("twap", "vwap", "iceberg", "sniper")


@app.command("order")
def order_cmd(
    side: Annotated[str | None, typer.Option("--side", metavar="SIDE", help="buy or sell.")] = None,
    symbol: Annotated[
        str | None,
        typer.Option("--symbol", metavar="PAIR", help="Pair, base/quote (e.g. ETH/USDC)."),
    ] = None,
    quantity: Annotated[
        str | None, typer.Option("--quantity", metavar="QTY", help="Base quantity (e.g. 200 ETH).")
    ] = None,
    algo: Annotated[
        str, typer.Option("--algo", metavar="ALGO", help="twap, vwap, iceberg or sniper.")
    ] = "twap",
    duration: Annotated[
        str | None,
        typer.Option("--duration", help="Horizon, e.g. 90s, 30m, 2h (1s to 30d).", metavar="TIME"),
    ] = None,
    slices: Annotated[
        int | None,
        typer.Option(
            "--slices",
            help="Number of slices (1-10000).",
            metavar="N",
            parser=_parser(_bounded_int, "--slices", 1, MAX_SLICES),
        ),
    ] = None,
    profile: Annotated[
        Path | None,
        typer.Option(
            "--profile",
            help="VWAP: a file of volume weights, one per slice (numbers separated by commas, "
            "spaces or lines). Default: the exchange's klines over the last --duration.",
            metavar="FILE",
        ),
    ] = None,
    venues: Annotated[
        list[str] | None,
        typer.Option(
            "--venues", metavar="VENUE", help="Venue id (repeat). Default: every venue of the pair."
        ),
    ] = None,
    limit: Annotated[
        str | None, typer.Option("--limit", metavar="PRICE", help="Limit price (quote per base).")
    ] = None,
    display: Annotated[
        str | None, typer.Option("--display", metavar="QTY", help="Iceberg: the visible quantity.")
    ] = None,
    slippage_bps: Annotated[
        str,
        typer.Option(
            "--slippage-bps", metavar="BPS", help="Worst price per child vs its plan, in bps."
        ),
    ] = "50",
    exchange: Annotated[
        bool, typer.Option("--exchange/--no-exchange", help="Also trade on the exchange.")
    ] = True,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume", metavar="ORDER_ID", help="Resume an order interrupted with Ctrl-C (its id)."
        ),
    ] = None,
    chain: Annotated[
        int | None,
        typer.Option(
            "--chain",
            help="Chain id (default: the devnet's L1).",
            metavar="ID",
            parser=_chain_id_parser,
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="Seconds to wait (default: no limit; at most 7 days).",
            metavar="SECONDS",
            parser=_parser(_seconds, "--timeout"),
        ),
    ] = None,
    store: TradeStoreOption = None,
    key_env: KeyEnvOption = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
) -> None:
    """An algorithmic order (TWAP, VWAP, Iceberg, Sniper) through the engine, with progress.

    Each child is routed across the venues when it is due; a progress bar shows filled /
    quantity until the order is done. Ctrl-C pauses the order in the store and stops cleanly
    (open children are reconciled on the next start); `oms order --resume ORDER_ID` with the
    same --store resumes it and catches up with the schedule. Only the process that placed an
    order, or `oms order --resume`, works it: another command on the same store never does.

    Default: the devnet of `oms devnet up` (its runtime file) and its first funded key (account
    0 of the public devnet mnemonic); --key-env for your own key, --config for real chains.
    """
    import asyncio

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    params: dict[str, Any] = {}
    if resume is None:
        missing = [
            n
            for n, v in (("--side", side), ("--symbol", symbol), ("--quantity", quantity))
            if v is None
        ]
        if missing:
            raise InvalidInput(f"{', '.join(missing)} required (or --resume ORDER_ID)")
        assert side is not None and symbol is not None and quantity is not None
        side = side.strip(" ").lower()
        if side not in ("buy", "sell"):
            raise InvalidInput(f"--side must be buy or sell, got {_shown(side)}")
        algo = algo.strip(" ").lower()
        if algo not in _ALGOS:
            raise InvalidInput(f"--algo must be one of {', '.join(_ALGOS)}, got {_shown(algo)}")
        symbol = _pair(symbol)
        qty = _positive_decimal(quantity, "--quantity")
        if algo in ("twap", "vwap") and duration is None:
            raise InvalidInput(f"--algo {algo} needs --duration (e.g. 90s, 30m, 2h)")
        if duration is not None:
            params["duration"] = _duration(duration)
        if slices is not None:
            if slices <= 0:
                raise InvalidInput(f"--slices must be positive, got {slices}")
            params["slices"] = slices
        if display is not None:
            params["display_quantity"] = str(_positive_decimal(display, "--display"))
        if profile is not None:
            if algo != "vwap":
                raise InvalidInput("--profile is for --algo vwap only")
            params.pop("slices", None)
            params["profile"] = _read_profile(profile, slices)
        px = None if limit is None else _positive_decimal(limit, "--limit")
        slip = _bps(slippage_bps, "--slippage-bps")
        venues = _venue_ids(venues)
        plan: dict[str, Any] = {
            "command": "order",
            "side": side,
            "symbol": symbol,
            "quantity": str(qty),
            "algo": algo,
            "algo_params": params,
            "limit_price": None if px is None else str(px),
            "venues": venues or "every venue trading the pair",
            "exchange": exchange,
            "max_slippage_bps": str(slip),
        }
        _precheck(plan, symbol.split("/"), venues, config=config, chain=chain, exchange=exchange)
    else:
        resume = _identifier(resume, "--resume")
        plan = {"command": "order", "resume": resume}
        _precheck(plan, [], None, config=config, chain=chain, exchange=exchange)
        _require_existing_store(_default_store_url(store, config))
    if timeout is not None and timeout <= 0:
        raise InvalidInput(f"--timeout must be positive, got {timeout}")
    if resume is None and algo == "vwap" and "profile" not in params:
        params.pop("slices", None)
        params["profile"] = _kline_profile(
            str(symbol),
            int(params["duration"][:-2]),
            slices or 10,
            config=config,
            exchange=exchange,
        )
    if _plan_gate(plan, dry_run=dry_run, yes=yes, as_json=as_json):
        return
    session, url = _trading_session(
        chain=chain,
        store=store,
        key_env=key_env,
        config=config,
        exchange=exchange,
        venue_market_data=algo == "sniper",
        resume_parents=False if resume is None else [resume],
    )
    order_id: list[str] = []

    async def run() -> tuple[Any, list[dict[str, Any]]]:
        async with session:
            engine = session.engine
            if resume is not None:
                from oms_chain.model.errors import UnknownOrder
                from oms_chain.model.ids import OrderId

                try:
                    parent = engine.order(OrderId(resume))
                except UnknownOrder:
                    raise InvalidInput(
                        f"no order {resume!r} in {url}; list them with `oms orders --store {url}`"
                    ) from None
                if parent.parent_id is not None:
                    raise InvalidInput(f"{resume} is a child order; resume its parent")
                if not parent.is_terminal and engine.algo_state(parent.order_id) == "paused":
                    engine.resume(parent.order_id, "resumed by `oms order --resume`")
            else:
                intent = session.intent(
                    _session_symbol(session, symbol),  # type: ignore[arg-type]
                    side,  # type: ignore[arg-type]
                    qty,
                    venues=_canonical_venues(session, venues),
                    exchange=exchange,
                    algo=algo,
                    algo_params=params,
                    limit_price=px,
                    max_slippage_bps=slip,
                )
                parent = await session.submit(intent)
            order_id.append(parent.order_id)
            if parent.is_terminal and parent.filled_quantity == 0:
                return parent, _child_rows(session, parent.order_id)
            err_console.print(f"order {parent.order_id} ({url}); Ctrl-C pauses it", highlight=False)
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:g}/{task.total:g}"),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            ) as progress:
                task = progress.add_task(parent.instrument.symbol, total=1, detail="")

                polls = [0]

                def show(p: Any, kids: list[Any]) -> None:
                    progress.update(
                        task,
                        total=float(p.quantity),
                        completed=float(p.filled_quantity),
                        detail=f"{p.status.value}, {len(kids)} children",
                    )
                    polls[0] += 1
                    if polls[0] % 5 == 0 and not p.is_terminal:
                        _stop_if_halted_elsewhere(session, p.order_id, url)

                try:
                    parent = await session.wait(
                        parent.order_id, timeout=timeout, poll=0.2, on_progress=show
                    )
                except asyncio.CancelledError:
                    current = engine.order(parent.order_id)
                    if not current.is_terminal:
                        engine.pause(parent.order_id, "interrupted (Ctrl-C)")
                    raise
            return parent, _child_rows(session, parent.order_id)

    try:
        parent, rows = asyncio.run(run())
    except KeyboardInterrupt:
        if order_id:
            err_console.print(
                f"interrupted: order {order_id[0]} is paused in {url}; resume it with "
                f"`oms order --resume {order_id[0]} --store {url}`",
                highlight=False,
                soft_wrap=True,
            )
        raise typer.Exit(130) from None
    _order_outcome(parent, rows, as_json, url)


def _stop_if_halted_elsewhere(session: Any, parent_id: str, url: str) -> None:
    """``oms halt`` in another process recorded the kill switch in the store this order runs
    on: pause the order here and stop (exit code 4). This process's engine read the trading
    state when it started; the store is the one place every process shares."""
    from oms_chain.engine import ENGINE_STREAM

    changes = [
        r for r in session.store.read_stream(ENGINE_STREAM) if r.event_type == "TradingStateChanged"
    ]
    if not changes:
        return
    state = str(changes[-1].payload.get("state"))
    if state == "active" or state == session.engine.trading_state.value:
        return
    reason = str(changes[-1].payload.get("reason") or "no reason given")
    session.engine.pause(parent_id, f"trading {state} by another process: {reason}")
    raise _Refused(
        f"trading was switched to {state} in {url} ({reason}): order {parent_id} is paused; "
        f"after `oms resume-trading` resume it with `oms order --resume {parent_id} --store {url}`"
    )


@app.command("cancel")
def cancel_cmd(
    order_id: Annotated[str, typer.Argument(help="Parent or child order id (see `oms orders`).")],
    exchange: Annotated[
        bool, typer.Option("--exchange/--no-exchange", help="Also connect to the exchange.")
    ] = True,
    chain: ChainOption = None,
    store: TradeStoreOption = None,
    key_env: KeyEnvOption = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
    dry_run: DryRunOption = False,
) -> None:
    """Cancel an order through the engine: a parent (its algorithm stops, its open children are
    cancelled) or one child. Passes in every trading state, halted included."""
    import asyncio

    from oms_chain.model.errors import UnknownOrder
    from oms_chain.model.ids import OrderId

    oid = _identifier(order_id, "ORDER_ID")
    plan: dict[str, Any] = {"command": "cancel", "order_id": oid}
    _precheck(plan, [], None, config=config, chain=chain, exchange=exchange)
    url = _default_store_url(store, config)
    _require_existing_store(url)
    if dry_run:
        _print_plan({**plan, "store": url, "dry_run": True}, as_json)
        return
    session, url = _trading_session(
        chain=chain, store=url, key_env=key_env, config=config, exchange=exchange
    )

    async def run() -> Any:
        async with session:
            engine = session.engine
            try:
                order = engine.order(OrderId(oid))
            except UnknownOrder:
                raise InvalidInput(
                    f"no order {oid!r} in {url}; list them with `oms orders --store {url}`"
                ) from None
            if order.is_terminal:
                raise InvalidInput(
                    f"order {oid} is already {order.status.value}; nothing to cancel"
                )
            if order.parent_id is None and engine.projections.intent_data.get(order.intent_id):
                intent = engine.projections.intent_data[order.intent_id]
                if intent.algo != "direct":
                    return await engine.stop_algo(order.order_id, "cancelled by `oms cancel`")
            return await engine.cancel(order.order_id)

    parent = asyncio.run(run())
    row = _order_row(parent)
    if as_json:
        print(json.dumps(row, indent=2))
        return
    console.print(
        f"{row['order_id']}: {row['status']} ({row['filled']} of {row['quantity']} "
        f"{row['instrument']} filled)",
        highlight=False,
    )


_STATES = {"halt": "halted", "reducing": "reducing", "resume": "active"}


def _switch_trading(
    state: str, reason: str, store: str | None, config: Path | None, as_json: bool, dry_run: bool
) -> None:
    """Record the kill switch ``state`` in the store (an engine event every later process
    replays); no venue is contacted and no order is worked."""
    import asyncio

    from oms_chain.engine import Engine
    from oms_chain.model import SystemClock
    from oms_chain.risk import RiskGate, RiskLimits, TradingState
    from oms_chain.store import open_store

    reason = _text(reason, "--reason")
    url = _default_store_url(store, config)
    if dry_run:
        _print_plan(
            {"command": "trading state", "state": state, "store": url, "dry_run": True}, as_json
        )
        return

    async def run() -> tuple[str, str]:
        clock = SystemClock()
        with open_store(url) as es:
            engine = Engine(
                store=es,
                venues=[],
                risk=RiskGate(RiskLimits(), clock=clock),
                clock=clock,
                resume_parents=False,
            )
            await engine.start()
            try:
                before = engine.trading_state.value
                if before != state:
                    engine.set_trading_state(TradingState(state), reason)
                return before, engine.trading_state.value
            finally:
                await engine.stop()

    before, after = asyncio.run(run())
    out = {"store": url, "previous": before, "state": after, "reason": reason}
    if as_json:
        print(json.dumps(out, indent=2))
    else:
        what = {
            "halted": "halted: only cancels pass",
            "reducing": "reduce-only: only intents that reduce a position pass",
            "active": "active",
        }[after]
        console.print(f"trading is {what} (was {before}) in {url}", highlight=False)


ReasonOption = Annotated[
    str, typer.Option("--reason", help="Why (recorded with the event).", metavar="TEXT")
]


@app.command("halt")
def halt_cmd(
    reducing: Annotated[
        bool,
        typer.Option("--reducing", help="Reduce-only instead of a full halt."),
    ] = False,
    reason: ReasonOption = "halted from the command line",
    store: TradeStoreOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Kill switch: from now on only cancels pass (--reducing: only position-reducing
    intents). Recorded in the event store, so every process that opens it sees it; algorithms
    already running in another process see it when that process restarts."""
    _switch_trading("reducing" if reducing else "halted", reason, store, config, as_json, dry_run)


@app.command("resume-trading")
def resume_trading_cmd(
    reason: ReasonOption = "resumed from the command line",
    store: TradeStoreOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Lift the kill switch (`oms halt`): new intents pass the risk gate again."""
    _switch_trading("active", reason, store, config, as_json, dry_run)


@app.command()
def demo(
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Deploy afresh, ignore saved state.")
    ] = False,
) -> None:
    """Start the devnet and sell 25 ETH for USDC through the engine, end to end.

    The devnet runs with the exchange simulator; the route plan, the split across the exchange
    and the pools, settlement to final, fills, balances, the per-swap exactness check and the
    audit log are printed.
    """
    from oms_chain.demo import run_demo

    run_demo(console, fresh=fresh)


_CLICK: list[Any] = []


def _click_command() -> Any:
    """The click command typer builds from :data:`app` (built once per process)."""
    if not _CLICK:
        _CLICK.append(typer.main.get_command(app))
    return _CLICK[0]


def _wants_json(args: list[str]) -> bool:
    """Whether the command line asks for JSON output (``--json`` before any ``--``)."""
    for a in args:
        if a == "--":
            return False
        if a == "--json":
            return True
    return False


def _usage_error_types() -> tuple[type[BaseException], ...]:
    """The usage-error classes of the click that typer runs on: typer >= 0.25 bundles its own
    (``typer._click``), older typer uses ``click``."""
    found: list[type[BaseException]] = []
    try:
        from typer._click import exceptions as bundled  # type: ignore[import-not-found,unused-ignore]

        found.append(bundled.ClickException)
    except ImportError:
        pass
    try:
        import click

        found.append(click.ClickException)
    except ImportError:
        pass
    return tuple(found)


def _abort_types() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [typer.Abort]
    try:
        import click

        found.append(click.exceptions.Abort)
    except ImportError:
        pass
    return tuple(found)


def _usage_message(exc: BaseException, args: list[str]) -> str:
    """One line: what was wrong, the command's usage and where to get help."""
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" or (
        ctx is not None and str(getattr(exc, "message", "")).startswith("Usage:")
    ):
        message = "missing command"
    else:
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    message = " ".join(message.split()).rstrip(".")
    if ctx is None:
        path = " ".join(["oms", *(a for a in args[:2] if not a.startswith("-"))][:3])
        return f"{message}; see `{path} --help`"
    usage = " ".join(ctx.get_usage().split()).removeprefix("Usage: ")
    if hasattr(ctx.command, "list_commands"):
        names = ctx.command.list_commands(ctx)
        if names and message == "missing command":
            message += f" (one of: {', '.join(names)})"
    return f"{message}; usage: {usage} (see `{ctx.command_path} --help`)"


def _exit_code(exc: OmsError) -> int:
    from oms_chain.service.session import SessionTimeout

    if isinstance(exc, InvalidInput):
        return 2
    if isinstance(exc, (_Refused, EngineNotReady)):
        return 4
    if isinstance(exc, SessionTimeout):
        return 5
    return 1


def _report_error(message: str, code: int, kind: str, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"error": message, "code": code, "kind": kind}), flush=True)
    else:
        err_console.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``oms`` console script; returns the process exit code
    (:data:`EXIT_CODES`). Every error is one line on stderr (with ``--json``: a JSON object
    ``{"error", "code", "kind"}`` on stdout), never a traceback."""
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = _wants_json(args)
    try:
        code = _click_command().main(args=args, standalone_mode=False, prog_name="oms")
        if isinstance(code, int):  # click returns the code of typer.Exit in this mode
            return code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except OmsError as exc:
        _log.info("command failed: %s", exc, exc_info=True)
        code = _exit_code(exc)
        return _report_error(_one_line(str(exc)), code, type(exc).__name__, as_json)
    except KeyboardInterrupt:
        return 130
    except _abort_types():
        return 130
    except _usage_error_types() as exc:
        code = int(getattr(exc, "exit_code", 2) or 2)
        if code == 1:  # a click error that is not a usage error (a file that cannot be opened)
            return _report_error(_one_line(exc.format_message()), 1, "error", as_json)  # type: ignore[attr-defined]
        return _report_error(_usage_message(exc, args), 2, "usage", as_json)
    except OSError as exc:
        _log.info("command failed: %s", exc, exc_info=True)
        return _report_error(_one_line(_os_error(exc)), 1, type(exc).__name__, as_json)
    except Exception as exc:
        _log.error("internal error", exc_info=True)
        return _report_error(
            _one_line(
                f"internal error {type(exc).__name__}: {exc} (a bug; please report it, "
                f"with the traceback from --log-file)"
            ),
            70,
            "internal",
            as_json,
        )
    return 0


def _one_line(message: str) -> str:
    return " ".join(message.split()) or "unknown error"


def _os_error(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


if __name__ == "__main__":
    sys.exit(main())
