"""Exit codes of ``oms`` and the errors that map to them."""

from __future__ import annotations

from oms_chain.model.errors import EngineNotReady, InvalidInput, OmsError

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


class _Refused(OmsError):
    """The command was refused before anything was sent (exit code 4)."""


def _exit_code(exc: OmsError) -> int:
    from oms_chain.service.session import SessionTimeout

    if isinstance(exc, InvalidInput):
        return 2
    if isinstance(exc, (_Refused, EngineNotReady)):
        return 4
    if isinstance(exc, SessionTimeout):
        return 5
    return 1


def _one_line(message: str) -> str:
    return " ".join(message.split()) or "unknown error"


def _os_error(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"
