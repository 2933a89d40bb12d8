"""``oms devnet up | status | down | keys``: the local world."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main
from rich.table import Table

from oms_chain.cli._app import _runtime_file, devnet_app
from oms_chain.cli._args import JsonOption, _bounded_int, _on_off, _parser, _seconds
from oms_chain.cli._errors import _Refused
from oms_chain.cli._output import console, err_console, print_json, say, table
from oms_chain.model.errors import OmsError
from oms_chain.service.endpoints import RUNTIME_SERVICES


@devnet_app.command("up")
def devnet_up(
    l2: Annotated[
        bool, typer.Option("--l2/--no-l2", help="Also start the L2 (chain 31338).")
    ] = True,
    exchange: Annotated[
        bool,
        typer.Option("--exchange/--no-exchange", help="Also start the Binance-speaking simulator."),
    ] = True,
    deribit: Annotated[
        bool,
        typer.Option(
            "--deribit/--no-deribit", help="Also start the Deribit-speaking options exchange."
        ),
    ] = True,
    fork_url: Annotated[
        str | None,
        typer.Option("--fork-url", metavar="URL", help="Start the L1 as a fork of this RPC URL."),
    ] = None,
    fork_block: Annotated[
        int | None, typer.Option("--fork-block", metavar="BLOCK", help="Block number to fork at.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print URLs and addresses as JSON.")
    ] = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Deploy afresh, ignore saved state.")
    ] = False,
    port: Annotated[
        int | None, typer.Option("--port", metavar="PORT", help="L1 RPC port (default: free).")
    ] = None,
    l2_port: Annotated[
        int | None, typer.Option("--l2-port", metavar="PORT", help="L2 RPC port (default: free).")
    ] = None,
    load_state: Annotated[
        Path | None,
        typer.Option(
            "--load-state",
            metavar="FILE",
            help="Start the L1 from a state file saved by --dump-state.",
        ),
    ] = None,
    dump_state: Annotated[
        Path | None,
        typer.Option(
            "--dump-state", metavar="FILE", help="Save the L1 state to this file on exit."
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            metavar="N",
            min=0,
            max=2**63 - 1,
            help="Seed of the exchange simulator's agents.",
        ),
    ] = 0,
    volatility: Annotated[
        float,
        typer.Option(
            "--volatility",
            metavar="FRACTION",
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
        with_deribit=deribit,
        with_options_maker=fork_url is None,
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
            print_json(summary)
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
        if name in RUNTIME_SERVICES:
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
    if "deribit" in summary:
        dx = summary["deribit"]
        options = Table(
            title="options exchange (speaks Deribit API v2 over HTTP + websocket; ccxt deribit)"
        )
        for col in ("REST", "websocket", "client id (apiKey)", "client secret"):
            options.add_column(col)
        for acct in dx["accounts"]:
            options.add_row(dx["rest_url"], dx["ws_url"], acct["client_id"], acct["client_secret"])
        console.print(options)
    for url in summary["l1"].get("options_makers", []):
        console.print(f"options market RFQ maker (hedges in the L1 pools): {url}")
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


def _ping_deribit(deribit: dict[str, Any]) -> int | None:
    """Server time (ms) of the Deribit-protocol exchange, ``None`` when it does not answer."""
    import urllib.request

    try:
        url = f"{deribit['rest_url']}/api/v2/public/get_time"
        with urllib.request.urlopen(url, timeout=2) as r:
            return int(json.loads(r.read())["result"])
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
        if name == "deribit":
            rows.append(
                {
                    "name": name,
                    "chain_id": None,
                    "rpc_url": c["rest_url"],
                    "block": _ping_deribit(c),
                }
            )
            continue
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
        print_json(rows)
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
        print_json(out, indent=None)
    else:
        err_console.print(out["detail"], highlight=False)


_DEVNET_ONLY = (
    "DEVNET ONLY: these keys come from the public test mnemonic, which everyone knows; "
    "anything sent to these addresses on a real chain is taken at once"
)


@devnet_app.command("keys")
def devnet_keys(
    count: Annotated[
        int | None,
        typer.Option(
            "--count",
            metavar="N",
            help="How many of the funded accounts (default: all the devnet funds, 10).",
            parser=_parser(_bounded_int, "--count", 1, 10),
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The devnet's funded accounts: index, address and private key (DEVNET ONLY: derived
    from the public test mnemonic, never use them on a real chain). Account 0 is the one
    `oms swap` / `oms order` sign with by default; with a devnet running, also the exchange
    simulator's API keys. Needs no running devnet."""
    from oms_chain.devnet.anvil import DEFAULT_MNEMONIC
    from oms_chain.devnet.world import DevnetConfig, derive_accounts

    funded = DevnetConfig().accounts
    accounts = derive_accounts(DEFAULT_MNEMONIC, min(count or funded, funded))
    exchange: list[dict[str, Any]] = []
    runtime = _runtime_file()
    try:
        info = json.loads(runtime.read_text())
        ex = info["chains"].get("exchange") or {}
        exchange = [
            {"api_key": str(a["api_key"]), "secret": str(a["secret"]), "rest_url": ex["rest_url"]}
            for a in ex.get("accounts", [])
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        exchange = []  # no devnet running (or an unreadable runtime file): chain keys only
    deribit: list[dict[str, Any]] = []
    try:
        dx = json.loads(runtime.read_text())["chains"].get("deribit") or {}
        deribit = [
            {
                "client_id": str(a["client_id"]),
                "client_secret": str(a["client_secret"]),
                "rest_url": dx["rest_url"],
            }
            for a in dx.get("accounts", [])
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        deribit = []
    doc = {
        "devnet_only": True,
        "warning": _DEVNET_ONLY,
        "mnemonic": DEFAULT_MNEMONIC,
        "derivation_path": "m/44'/60'/0'/0/{index}",
        "accounts": [
            {"index": a.index, "address": a.address, "private_key": a.private_key} for a in accounts
        ],
        "exchange_accounts": exchange,
        "deribit_accounts": deribit,
    }
    if as_json:
        print_json(doc)
        return
    keys = table("devnet accounts (funded on every devnet chain)", ("#", "address", "private key"))
    for a in accounts:
        keys.add_row(str(a.index), a.address, a.private_key)
    console.print(keys)
    if exchange:
        sim = table("exchange simulator accounts", ("REST", "API key", "secret"))
        for e in exchange:
            sim.add_row(e["rest_url"], e["api_key"], e["secret"])
        console.print(sim)
    if deribit:
        options = table("options exchange accounts (Deribit API)", ("REST", "client id", "secret"))
        for d in deribit:
            options.add_row(d["rest_url"], d["client_id"], d["client_secret"])
        console.print(options)
    say(f"{_DEVNET_ONLY}. Mnemonic: {DEFAULT_MNEMONIC!r}.", err_console)
