"""Fault injection state: what the simulator should break next, and how often.

REST faults match by HTTP method and path prefix and fire ``count`` times (``None`` = until
cleared):

* ``delay``   - sleep ``delay_s`` before handling the request (it is then processed normally);
* ``fail``    - answer ``status`` (5xx) with a Binance error body without processing;
* ``timeout`` - process the request (an order IS placed), then hold the answer for ``delay_s``
  so the client times out: the ambiguous "sent but no answer" case;
* ``drop``    - process the request, then close the connection without answering.

Stream faults: ``skip_depth`` drops the next N diff-depth events of a symbol, so a client sees
``U`` jump past ``previous u + 1``; dropping connections is an action on the stream hub.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["FaultKind", "Faults", "RestFault"]

FaultKind = Literal["delay", "fail", "timeout", "drop"]


@dataclass(slots=True)
class RestFault:
    """One REST fault rule; see the module docstring for the kinds."""

    kind: FaultKind
    method: str | None = None
    path: str | None = None
    count: int | None = 1
    delay_s: float = 0.0
    status: int = 503
    code: int = -1001
    msg: str = "Internal error; unable to process your request. Please try again."

    def matches(self, method: str, path: str) -> bool:
        """True when this rule applies to ``method path``."""
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or path.startswith(self.path)


@dataclass(slots=True)
class Faults:
    """All armed faults of one simulator."""

    rest: list[RestFault] = field(default_factory=list)
    skip_depth: dict[str | None, int] = field(default_factory=dict)
    fired: dict[str, int] = field(default_factory=dict)

    def add_rest(self, fault: RestFault) -> None:
        """Arm a REST fault."""
        self.rest.append(fault)

    def take_rest(self, method: str, path: str) -> RestFault | None:
        """The first armed fault matching the request, consuming one of its ``count``."""
        for fault in self.rest:
            if fault.matches(method, path):
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self.rest.remove(fault)
                self.fired[fault.kind] = self.fired.get(fault.kind, 0) + 1
                return fault
        return None

    def arm_skip_depth(self, symbol: str | None, count: int = 1) -> None:
        """Drop the next ``count`` diff-depth events of ``symbol`` (None = any symbol)."""
        self.skip_depth[symbol] = self.skip_depth.get(symbol, 0) + count

    def take_skip_depth(self, symbol: str) -> bool:
        """True (and consumed) when the next depth event of ``symbol`` must be dropped."""
        for key in (symbol, None):
            left = self.skip_depth.get(key, 0)
            if left > 0:
                if left == 1:
                    del self.skip_depth[key]
                else:
                    self.skip_depth[key] = left - 1
                self.fired["skip_depth"] = self.fired.get("skip_depth", 0) + 1
                return True
        return False

    def clear(self) -> None:
        """Disarm everything."""
        self.rest.clear()
        self.skip_depth.clear()
