"""Where a trading session connects: a chain (:class:`ChainEndpoint`) and an exchange reached
through ccxt (:class:`ExchangeEndpoint`), and the ccxt venue configuration an exchange endpoint
becomes (its sandbox, a local server speaking its API, or the live exchange)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from oms_chain.chain.addressbook import AddressBook
from oms_chain.custody.base import Signer
from oms_chain.engine.config import is_loopback_url
from oms_chain.model.errors import InvalidInput
from oms_chain.venues.cex import CcxtVenueConfig

__all__ = [
    "RUNTIME_SERVICES",
    "ChainEndpoint",
    "ExchangeEndpoint",
    "SafeOwners",
    "ThresholdGroup",
    "ccxt_venue_config",
    "local_exchange_urls",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainEndpoint:
    """A chain to trade on: its id, RPC URL(s) and, for chains without a committed address book
    (a devnet), the address book itself; ``option_makers``: RFQ URLs of makers quoting the
    chain's ``OptionsMarket`` (none: no on-chain options venue); ``options_venue_id``: that
    venue's id (default ``options-<chain id>``)."""

    chain_id: int
    rpc_url: str | tuple[str, ...]
    book: AddressBook | None = None
    option_makers: tuple[str, ...] = ()
    options_venue_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SafeOwners:
    """Trade from the Safe at ``address``: ``owners`` sign its transactions (the first
    threshold of them that own it); the session's signer is the relayer that pays gas.
    ``await_signatures_ns``: owners who sign elsewhere (``owners`` may be empty): an order
    waits that long "awaiting signatures" for ``oms safe approve`` (``SafeExecutor``)."""

    address: str
    owners: tuple[Signer, ...]
    await_signatures_ns: int | None = None

    def __post_init__(self) -> None:
        from eth_utils import is_address

        if not isinstance(self.address, str) or not is_address(self.address):
            raise InvalidInput(f"SafeOwners address {self.address!r} is not a 0x address")
        if not self.owners and self.await_signatures_ns is None:
            raise InvalidInput(
                "SafeOwners owners must name at least one owner signer (or give "
                "await_signatures_ns, for owners who sign elsewhere)"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class ThresholdGroup:
    """Trade from a FROST group's ``ThresholdAccount`` on chain ``chain_id``: ``signer``
    authorizes the account's executions (a ``ThresholdSigner``, or a ``PolicySigner`` wrapping
    one; its ``address`` is the account), ``group_key`` is the group's 33-byte compressed key;
    the session's signer is the relayer that sends them and pays gas."""

    signer: Any
    group_key: bytes
    chain_id: int

    def __post_init__(self) -> None:
        if not isinstance(self.group_key, bytes) or len(self.group_key) != 33:
            raise InvalidInput("ThresholdGroup group_key must be the 33-byte compressed key")
        if isinstance(self.chain_id, bool) or not isinstance(self.chain_id, int):
            raise InvalidInput(f"ThresholdGroup chain_id {self.chain_id!r} is not an integer")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExchangeEndpoint:
    """An exchange reached through ccxt: ``exchange`` is the ccxt id, ``venue_id`` our name for
    it (default: the ccxt id). Where it trades, one of: ``rest_url`` points every ccxt API URL
    at a server speaking that exchange's API (the devnet simulator); ``sandbox=True`` is the
    exchange's testnet (ccxt ``set_sandbox_mode(True)``); ``live=True`` is the production
    exchange, real money. A session refuses an endpoint that would reach production (no
    ``rest_url`` and no ``sandbox``, or a ``rest_url`` off this machine) without ``live=True``."""

    exchange: str = "binance"
    venue_id: str | None = None
    api_key: str | None = None
    secret: str | None = None
    password: str | None = None
    rest_url: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    sandbox: bool = False
    live: bool = False

    def __post_init__(self) -> None:
        if self.sandbox and (self.live or self.rest_url is not None):
            raise InvalidInput(
                "ExchangeEndpoint: sandbox=True (the exchange's testnet) excludes "
                + ("live=True" if self.live else "rest_url")
            )

    @property
    def reaches_production(self) -> bool:
        """True when orders would reach the real exchange (not its sandbox, not this machine)."""
        if self.sandbox:
            return False
        return self.rest_url is None or not is_loopback_url(self.rest_url)

    def __repr__(self) -> str:  # never show credentials
        return (
            f"ExchangeEndpoint(exchange={self.exchange!r}, rest_url={self.rest_url!r}, "
            f"sandbox={self.sandbox}, live={self.live})"
        )


def local_exchange_urls(urls: Any, rest_url: str) -> Any:
    """ccxt's ``urls['api']`` with every entry's host replaced by ``rest_url``'s, paths kept
    (websocket entries get the ws scheme): how ccxt reaches a local server speaking its API.

    Raises:
        InvalidInput: ``rest_url`` is not ``http(s)://host:port``.
    """
    target = urlsplit(rest_url)
    if target.scheme not in ("http", "https") or not target.netloc:
        raise InvalidInput(f"exchange REST URL must be http(s)://host:port, got {rest_url!r}")
    if isinstance(urls, dict):
        return {k: local_exchange_urls(v, rest_url) for k, v in urls.items()}
    if isinstance(urls, str) and "://" in urls:
        parts = urlsplit(urls)
        ws = "wss" if target.scheme == "https" else "ws"
        scheme = ws if parts.scheme in ("ws", "wss") else target.scheme
        query = f"?{parts.query}" if parts.query else ""
        return f"{scheme}://{target.netloc}{parts.path}{query}"
    return urls


_CCXT_LOCAL_OPTIONS = {
    "fetchCurrencies": False,
    "fetchMargins": False,
    "fetchMarkets": {"types": ["spot"]},
}


def ccxt_venue_config(ex: ExchangeEndpoint) -> CcxtVenueConfig:
    """The :class:`CcxtVenueConfig` of ``ex``: every API URL pointed at ``rest_url`` (with the
    options a local Binance-protocol server needs), or ccxt's sandbox when ``ex.sandbox``.

    Raises:
        InvalidInput: ``ex.exchange`` is not a ccxt exchange id, or a malformed ``rest_url``.
    """
    import ccxt.pro as ccxt_pro

    options: dict[str, Any] = dict(ex.options)
    urls = None
    if ex.rest_url is not None:
        try:
            api_urls = getattr(ccxt_pro, ex.exchange)().urls["api"]
        except AttributeError:
            raise InvalidInput(f"{ex.exchange!r} is not a ccxt exchange id") from None
        urls = local_exchange_urls(api_urls, ex.rest_url)
        for k, v in _CCXT_LOCAL_OPTIONS.items():
            options.setdefault(k, v)
    return CcxtVenueConfig(
        exchange=ex.exchange,
        venue_id=ex.venue_id,
        api_key=ex.api_key,
        secret=ex.secret,
        password=ex.password,
        options=options,
        urls=urls,
        sandbox=ex.sandbox,
    )


#: Entries of a running devnet's runtime JSON (``oms devnet up``) that are services, not chains:
#: the Binance-protocol exchange simulator and the Deribit-protocol options exchange. Every
#: other entry of its ``chains`` table is a chain with a ``chain_id``.
RUNTIME_SERVICES = frozenset({"exchange", "deribit"})
