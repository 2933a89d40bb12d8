"""The ``oms`` application: its groups, global options (``--wide``, ``--log-level``,
``--log-file``, ``--version``), structured logging, ``oms version``, ``oms completion`` and
where the running devnet is recorded."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main

from oms_chain import __version__
from oms_chain.cli._args import _shown
from oms_chain.cli._errors import EXIT_CODES
from oms_chain.cli._output import _Output, console, print_json
from oms_chain.model.errors import InvalidInput
from oms_chain.service.endpoints import RUNTIME_SERVICES

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


_log = logging.getLogger("oms_chain.cli")


_LOG_LEVELS = ("debug", "info", "warning", "error")


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
        print_json({"version": __version__}, indent=None)
        return
    console.print(__version__)


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
        if name not in RUNTIME_SERVICES and (
            (chain_id is None and name == "l1") or c["chain_id"] == chain_id
        ):
            return str(c["rpc_url"])
    raise InvalidInput(f"the running devnet has no chain {chain_id}; pass --rpc-url")


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


_SHELLS = ("bash", "zsh", "fish")


def _shell(value: str) -> str:
    if value not in _SHELLS:
        raise typer.BadParameter(f"must be one of {', '.join(_SHELLS)}, got {_shown(value)}")
    return value


@app.command("completion")
def completion(
    shell: Annotated[
        str,
        typer.Argument(metavar="SHELL", help="bash, zsh or fish.", callback=_shell),
    ],
) -> None:
    """Print the shell completion script of `oms` for SHELL.

    Load it in the current shell with `eval "$(oms completion bash)"` (zsh alike; fish:
    `oms completion fish | source`), or add that line to the shell's startup file.
    `oms --install-completion` does the latter for the shell it detects."""
    from typer._completion_shared import get_completion_script

    print(get_completion_script(prog_name="oms", complete_var="_OMS_COMPLETE", shell=shell))
