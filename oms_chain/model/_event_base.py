"""The base of every domain event: the envelope (:class:`Event`), the registry keyed by
``(type name, version)`` and the JSON codec that :func:`event_from_payload` rebuilds events
with. The events themselves are in :mod:`oms_chain.model.events`."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, ClassVar, TypeVar, Union

from oms_chain.model.errors import InvalidInput, UnknownEventType
from oms_chain.model.ids import EventId

__all__ = ["Event", "event_from_payload", "event_types", "register_event"]

_REGISTRY: dict[tuple[str, int], type[Event]] = {}
_E = TypeVar("_E", bound="type[Event]")


def register_event(version: int = 1) -> Callable[[_E], _E]:
    """Class decorator: register an event class under ``(cls.__name__, version)``."""

    def deco(cls: _E) -> _E:
        key = (cls.__name__, version)
        if key in _REGISTRY:
            raise InvalidInput(f"event {key} registered twice")
        cls.TYPE = cls.__name__
        cls.VERSION = version
        _REGISTRY[key] = cls
        return cls

    return deco


def event_types() -> dict[tuple[str, int], type[Event]]:
    """A copy of the registry (for tests and tooling)."""
    return dict(_REGISTRY)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of all events. Subclasses are frozen, keyword-only dataclasses in the past tense."""

    TYPE: ClassVar[str] = "Event"
    VERSION: ClassVar[int] = 0

    event_id: EventId
    ts_event: int
    ts_init: int
    causation_id: str | None = None
    correlation_id: str | None = None

    def to_payload(self) -> dict[str, Any]:
        """JSON-safe dict of every field, envelope included."""
        return {f.name: _encode(getattr(self, f.name)) for f in dataclasses.fields(self)}


def event_from_payload(event_type: str, version: int, payload: dict[str, Any]) -> Event:
    """Rebuild an event from ``(type, version, payload)``.

    Raises:
        UnknownEventType: no class registered under ``(event_type, version)``.
        InvalidInput: the payload does not fit the class.
    """
    cls = _REGISTRY.get((event_type, version))
    if cls is None:
        raise UnknownEventType(f"no event class registered for {event_type!r} version {version}")
    return _decode(cls, payload)  # type: ignore[no-any-return]


# --- codec ------------------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    to_payload = getattr(value, "to_payload", None)
    if to_payload is not None:
        return to_payload()
    if dataclasses.is_dataclass(value):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    raise InvalidInput(f"cannot encode {type(value).__name__} into an event payload")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(hint: Any, value: Any) -> Any:
    supertype = getattr(hint, "__supertype__", None)
    if supertype is not None:  # NewType
        return _decode(supertype, value)
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise InvalidInput(f"cannot decode a value of union type {hint!r}")
        return _decode(inner[0], value)
    if origin is tuple:
        args = typing.get_args(hint)
        return tuple(_decode(args[0], v) for v in value)
    if origin is dict:
        return dict(value)
    if hint is Any:
        return value
    if hint is Decimal:
        return Decimal(value)
    if hint in (str, int, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise InvalidInput(f"expected {hint.__name__}, got {value!r}")
        return value
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    from_payload = getattr(hint, "from_payload", None)
    if from_payload is not None:
        return from_payload(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise InvalidInput(f"expected an object for {hint.__name__}, got {value!r}")
        hints = _hints(hint)
        names = {f.name for f in dataclasses.fields(hint)}
        unknown = set(value) - names
        if unknown:
            raise InvalidInput(f"{hint.__name__} payload has unknown fields {sorted(unknown)}")
        try:
            return hint(**{k: _decode(hints[k], v) for k, v in value.items()})  # type: ignore[operator]
        except (TypeError, KeyError, ValueError) as exc:
            if isinstance(exc, InvalidInput):
                raise
            raise InvalidInput(f"bad {hint.__name__} payload: {exc}") from exc
    raise InvalidInput(f"cannot decode type {hint!r}")
