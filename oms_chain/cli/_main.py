"""The entry point: runs ``app`` and turns every failure into one line (or one JSON object)
with its exit code, never a traceback."""

from __future__ import annotations

import sys
from typing import Any

import typer
import typer.core
import typer.main

from oms_chain.cli._app import _log, app
from oms_chain.cli._errors import _exit_code, _one_line, _os_error
from oms_chain.cli._output import _report_error
from oms_chain.model.errors import OmsError

_CLICK: list[Any] = []


def _click_command() -> Any:
    """The click command typer builds from :data:`app` (built once per process)."""
    if not _CLICK:
        command = typer.main.get_command(app)
        _plain_argument_help(command)
        _CLICK.append(command)
    return _CLICK[0]


def _plain_argument_help(command: Any) -> None:
    """Drop typer's type label (``ORDER_ID <str>``) from the help of every positional argument:
    the help text says what the argument is; options show their metavar instead."""
    for param in getattr(command, "params", []):
        if isinstance(param, typer.core.TyperArgument):
            param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
    for sub in getattr(command, "commands", {}).values():
        _plain_argument_help(sub)


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
