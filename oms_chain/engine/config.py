"""Configuration: one TOML file, one frozen keyword-only type per component.

``load_config(path)`` reads the file with :mod:`tomllib` and builds :class:`OmsConfig`. Unknown
keys, missing keys and bad values raise :class:`~oms_chain.model.errors.ConfigError` naming the
key (``risk.max_order_notional: expected a decimal number, got 'lots'``). Secrets never live in
the file: a key that looks like one (``api_key``, ``secret``, ``password``, ``private_key``...)
is refused; name an environment variable instead (``api_key_env = "BINANCE_KEY"``) and read it
with :meth:`VenueConfig.credentials`, which returns :class:`Secret` values that never print.

Safe defaults: a ``kind = "ccxt"`` venue trades the exchange's sandbox (``testnet = true``), a
local server speaking its API (``rest_url`` on a loopback host), or, only with ``live = true``,
the production exchange; anything else is refused. A config that trades real money — a chain
other than a local devnet (:data:`LOCAL_CHAIN_IDS`) or a ``live`` exchange — must set
``risk.max_order_notional``; without it the config is refused (no silent "no limit").

Example::

    [engine]
    send_timeout_s = 10

    [store]
    url = "sqlite:///oms.db"

    [risk]
    currency = "USDC"
    max_order_notional = "50000"
    allowed_venues = ["binance", "uniswap-v3"]
    [risk.max_position]
    ETH = "100"

    [[chains]]
    name = "arbitrum"
    chain_id = 42161
    rpc_url_env = "ARBITRUM_RPC"

    [[venues]]
    name = "binance"
    kind = "ccxt"
    exchange = "binance"
    testnet = true          # the exchange's sandbox; `live = true` for real money instead
    api_key_env = "BINANCE_KEY"
    secret_env = "BINANCE_SECRET"

    [[accounts]]
    name = "main"
    signer = "keystore"
    keystore_path = "~/.oms/main.json"
    password_env = "OMS_MAIN_PASSWORD"
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from oms_chain.model.errors import ConfigError, InvalidInput
from oms_chain.risk.limits import RiskLimits

__all__ = [
    "LOCAL_CHAIN_IDS",
    "AccountConfig",
    "ChainConfig",
    "EngineConfig",
    "OmsConfig",
    "Secret",
    "StoreConfig",
    "VenueConfig",
    "is_loopback_url",
    "load_config",
    "parse_config",
]

#: Chain ids of local development chains (the devnet's L1 and L2, Hardhat / Ganache's 1337):
#: trading on them needs no risk limits. Every other chain is treated as real money.
LOCAL_CHAIN_IDS: frozenset[int] = frozenset({1337, 31337, 31338})

_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
_SECRET_KEY = re.compile(r"(^|_)(api_?key|secret|password|passphrase|private_?key|mnemonic|seed)$")


class Secret:
    """A secret value that does not print itself (``repr`` and ``str`` show ``'***'``)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself; pass it straight to the library that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


def is_loopback_url(url: str) -> bool:
    """True when ``url``'s host is this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _secret_from_env(var: str | None, key: str, env: Mapping[str, str]) -> Secret | None:
    if var is None:
        return None
    value = env.get(var)
    if value is None:
        raise ConfigError(f"{key}: environment variable {var!r} is not set")
    return Secret(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConfig:
    """Engine timeouts and naming. ``client_order_id_prefix``: 1-6 letters/digits;
    ``snapshot_every``: save a projection snapshot every this many events (0: never), so a
    restart replays only the events after it. ``max_reroutes``: how many times a split order
    re-routes what its children failed to fill; ``split_poll_s``: how often a split order
    looks at its children when no event arrives. ``rederive_snapshot``: at start, fold the
    events up to the projection snapshot and compare before trusting it (its seal alone is a
    plain hash that anyone able to edit the store can recompute; the events are covered by the
    hash chain and its anchors). ``False`` trusts a snapshot whose seal matches, for a faster
    start on a store nobody else can write."""

    send_timeout_s: float = 10.0
    reconcile_timeout_s: float = 30.0
    client_order_id_prefix: str = "oms"
    snapshot_every: int = 10_000
    max_reroutes: int = 2
    split_poll_s: float = 1.0
    rederive_snapshot: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.rederive_snapshot, bool):
            raise ConfigError("engine.rederive_snapshot: must be true or false")
        if self.send_timeout_s <= 0:
            raise ConfigError("engine.send_timeout_s: must be positive")
        if self.reconcile_timeout_s <= 0:
            raise ConfigError("engine.reconcile_timeout_s: must be positive")
        if self.snapshot_every < 0:
            raise ConfigError("engine.snapshot_every: must be 0 (off) or positive")
        if isinstance(self.max_reroutes, bool) or not 0 <= self.max_reroutes <= 10:
            raise ConfigError("engine.max_reroutes: must be an integer from 0 to 10")
        if self.split_poll_s <= 0:
            raise ConfigError("engine.split_poll_s: must be positive")
        if not re.fullmatch(r"[A-Za-z0-9]{1,6}", self.client_order_id_prefix):
            raise ConfigError("engine.client_order_id_prefix: must be 1-6 letters or digits")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreConfig:
    """Where events are stored: ``sqlite:///path`` or ``postgresql://user@host/db``
    (a password, if any, comes from ``password_env``)."""

    url: str = "sqlite:///oms.db"
    password_env: str | None = None

    def __post_init__(self) -> None:
        if not re.match(r"^(sqlite|postgresql|postgres)://", self.url):
            raise ConfigError(f"store.url: {self.url!r} must start with sqlite:// or postgresql://")
        if re.match(r"^postgres(ql)?://[^/@]*:[^/@]*@", self.url):
            raise ConfigError(
                "store.url: contains a password; remove it and set store.password_env instead"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainConfig:
    """A chain: ``rpc_url`` (no credentials in it) or ``rpc_url_env`` naming a variable."""

    name: str
    chain_id: int
    rpc_url: str | None = None
    rpc_url_env: str | None = None
    confirmations: int = 12

    def __post_init__(self) -> None:
        if self.chain_id <= 0:
            raise ConfigError(f"chains.{self.name}.chain_id: must be a positive integer")
        if self.confirmations < 0:
            raise ConfigError(f"chains.{self.name}.confirmations: must not be negative")
        if self.rpc_url is not None and self.rpc_url_env is not None:
            raise ConfigError(
                f"chains.{self.name}.rpc_url_env: set rpc_url or rpc_url_env, not both"
            )
        if self.rpc_url is not None and not self.rpc_url.startswith(
            ("http://", "https://", "ws://", "wss://")
        ):
            raise ConfigError(
                f"chains.{self.name}.rpc_url: must start with http://, https://, ws:// or "
                f"wss://, got {self.rpc_url!r}"
            )

    def rpc(self, env: Mapping[str, str] | None = None) -> Secret | None:
        """The RPC URL (from the environment when ``rpc_url_env`` is set)."""
        if self.rpc_url is not None:
            return Secret(self.rpc_url)
        return _secret_from_env(
            self.rpc_url_env, f"chains.{self.name}.rpc_url_env", os.environ if env is None else env
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueConfig:
    """A venue adapter: ``kind`` (``paper``, ``ccxt``, ``uniswap_v2``, ``uniswap_v3``,
    ``options``), optional ``exchange`` (ccxt id), ``chain`` (on-chain venues) and the names of
    the environment variables holding its credentials.

    Where a ``ccxt`` venue trades: ``testnet = true`` is the exchange's sandbox (ccxt
    ``set_sandbox_mode``); ``rest_url`` a server speaking the exchange's API (the devnet
    simulator; a non-loopback host counts as live); ``live = true`` the production exchange,
    real money. One of them is required and they exclude each other (``live`` may accompany a
    non-loopback ``rest_url``).

    An ``options`` venue is either a Deribit-protocol exchange (``exchange = "deribit"``, where
    it trades chosen as for ``ccxt``) or the on-chain ``OptionsMarket`` of ``chain``, quoted by
    the RFQ ``makers`` (their http(s) URLs)."""

    name: str
    kind: str
    exchange: str | None = None
    chain: str | None = None
    api_key_env: str | None = None
    secret_env: str | None = None
    password_env: str | None = None
    testnet: bool = False
    live: bool = False
    rest_url: str | None = None
    makers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        kinds = ("paper", "ccxt", "uniswap_v2", "uniswap_v3", "options")
        where = f"venues.{self.name}"
        if self.kind not in kinds:
            raise ConfigError(f"{where}.kind: {self.kind!r} is not one of {kinds}")
        if self.makers and not (self.kind == "options" and self.exchange is None):
            raise ConfigError(f"{where}.makers: only for an on-chain venue of kind 'options'")
        if self.kind == "options":
            self._check_options(where)
            if self.exchange is None:
                return
        elif self.kind != "ccxt":
            for key in ("testnet", "live", "rest_url"):
                if getattr(self, key) not in (False, None):
                    raise ConfigError(f"{where}.{key}: only for kind 'ccxt' or 'options'")
            return
        self._check_exchange_target(where)

    def _check_options(self, where: str) -> None:
        """An options venue is a Deribit-protocol exchange (``exchange = "deribit"``) or the
        on-chain market of ``chain`` asking the RFQ ``makers``."""
        if self.exchange is not None:
            if self.exchange != "deribit":
                raise ConfigError(
                    f"{where}.exchange: options exchanges speak Deribit's API; expected "
                    f"'deribit', got {self.exchange!r}"
                )
            if self.chain is not None:
                raise ConfigError(f"{where}.chain: set exchange or chain, not both")
            return
        if self.chain is None:
            raise ConfigError(
                f"{where}.chain: an options venue needs exchange = 'deribit' or the chain of "
                "its on-chain market"
            )
        for key in ("testnet", "live", "rest_url"):
            if getattr(self, key) not in (False, None):
                raise ConfigError(f"{where}.{key}: only for an options exchange, not on chain")
        if not self.makers:
            raise ConfigError(f"{where}.makers: required, the RFQ makers' URLs to ask for quotes")
        for i, url in enumerate(self.makers):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"{where}.makers[{i}]: must be http(s)://host:port, got {url!r}")
            if parts.username or parts.password:
                raise ConfigError(f"{where}.makers[{i}]: must not contain credentials")

    def _check_exchange_target(self, where: str) -> None:
        """Where an exchange venue trades: its sandbox, a local server or, confirmed, live."""
        if not self.exchange:
            raise ConfigError(f"{where}.exchange: required for kind 'ccxt'")
        if self.rest_url is not None:
            parts = urlsplit(self.rest_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(
                    f"{where}.rest_url: must be http(s)://host:port, got {self.rest_url!r}"
                )
            if parts.username or parts.password:
                raise ConfigError(f"{where}.rest_url: must not contain credentials")
        if self.testnet and (self.live or self.rest_url is not None):
            other = "live" if self.live else "rest_url"
            raise ConfigError(
                f"{where}.testnet: the exchange's sandbox excludes {other}; keep one of them"
            )
        local = self.rest_url is not None and is_loopback_url(self.rest_url)
        if self.live and local:
            raise ConfigError(
                f"{where}.live: rest_url {self.rest_url!r} is this machine (a simulator), not "
                "the live exchange; remove live"
            )
        if not (self.testnet or self.live or local):
            target = (
                f"the server at {self.rest_url!r}"
                if self.rest_url
                else f"{self.exchange}'s production API"
            )
            raise ConfigError(
                f"{where}.live: this venue would trade real money on {target}; set "
                "live = true to confirm, or testnet = true for the exchange's sandbox"
            )

    @property
    def is_live(self) -> bool:
        """True for an exchange venue (``ccxt``, or an ``options`` exchange) that trades real
        money (not the sandbox, not local)."""
        return self.kind in ("ccxt", "options") and self.live

    def credentials(self, env: Mapping[str, str] | None = None) -> dict[str, Secret]:
        """API credentials read from the environment (only those configured)."""
        e = os.environ if env is None else env
        out: dict[str, Secret] = {}
        for attr in ("api_key_env", "secret_env", "password_env"):
            s = _secret_from_env(getattr(self, attr), f"venues.{self.name}.{attr}", e)
            if s is not None:
                out[attr.removesuffix("_env")] = s
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountConfig:
    """A trading account and how it signs: ``signer`` is ``keystore`` (``keystore_path`` +
    ``password_env``), ``env_key`` (``private_key_env``), ``safe``, ``threshold`` or ``remote``.

    ``safe``: the account trades from the Safe at ``safe_address``; ``private_key_env`` names
    the relayer's key (it executes and pays gas), ``owner_key_envs`` the owners' keys that sign
    (at least the Safe's threshold of them). With ``await_signatures_s`` (1 s to 30 days) the
    owners may sign elsewhere instead (``owner_key_envs`` may then be empty): an order the
    session's owners cannot sign alone waits "awaiting signatures" that long for ``oms safe
    approve``, then executes (see ``SafeExecutor``).

    ``threshold``: the account trades from the ``ThresholdAccount`` of the FROST group in
    ``threshold_dir`` (its ``group.json`` names the account, chain and group key; the running
    participants' endpoint files are read there before each signing round);
    ``coordinator_passphrase_env`` names the variable with the coordinator key's passphrase,
    ``private_key_env`` the relayer's key, ``threshold_timeout_s`` bounds each request to a
    participant."""

    name: str
    signer: str
    address: str | None = None
    keystore_path: str | None = None
    password_env: str | None = None
    private_key_env: str | None = None
    safe_address: str | None = None
    remote_url: str | None = None
    owner_key_envs: tuple[str, ...] = ()
    threshold_dir: str | None = None
    coordinator_passphrase_env: str = "OMS_THRESHOLD_COORDINATOR_PASSPHRASE"
    threshold_timeout_s: float = 5.0
    await_signatures_s: int | None = None

    def __post_init__(self) -> None:
        signers = ("keystore", "env_key", "safe", "threshold", "remote")
        if self.signer not in signers:
            raise ConfigError(f"accounts.{self.name}.signer: {self.signer!r} not one of {signers}")
        if self.signer == "keystore" and not self.keystore_path:
            raise ConfigError(f"accounts.{self.name}.keystore_path: required for a keystore")
        if self.signer == "env_key" and not self.private_key_env:
            raise ConfigError(f"accounts.{self.name}.private_key_env: required for env_key")
        if self.address is not None and not re.fullmatch(r"0x[0-9a-fA-F]{40}", self.address):
            raise ConfigError(f"accounts.{self.name}.address: {self.address!r} is not an address")
        if self.signer == "safe":
            where = f"accounts.{self.name}"
            if self.safe_address is None or not re.fullmatch(
                r"0x[0-9a-fA-F]{40}", self.safe_address
            ):
                raise ConfigError(f"{where}.safe_address: required, a 0x address of the Safe")
            if not self.private_key_env:
                raise ConfigError(f"{where}.private_key_env: required, the relayer's key variable")
            wait = self.await_signatures_s
            if wait is not None and (isinstance(wait, bool) or not 1 <= wait <= 30 * 86_400):
                raise ConfigError(f"{where}.await_signatures_s: 1 to 2592000 seconds, got {wait!r}")
            if not self.owner_key_envs and wait is None:
                raise ConfigError(
                    f"{where}.owner_key_envs: required, the owners' key variables (or "
                    "await_signatures_s, for owners who sign elsewhere)"
                )
        if self.signer == "threshold":
            where = f"accounts.{self.name}"
            if not self.threshold_dir:
                raise ConfigError(f"{where}.threshold_dir: required, the group's folder")
            if not self.private_key_env:
                raise ConfigError(f"{where}.private_key_env: required, the relayer's key variable")
            if not self.coordinator_passphrase_env:
                raise ConfigError(f"{where}.coordinator_passphrase_env: must name a variable")
            if not 0 < self.threshold_timeout_s <= 600:
                raise ConfigError(f"{where}.threshold_timeout_s: must be in (0, 600] seconds")
        elif self.threshold_dir is not None:
            raise ConfigError(f"accounts.{self.name}.threshold_dir: only for signer 'threshold'")


@dataclass(frozen=True, slots=True, kw_only=True)
class OmsConfig:
    """The whole configuration file."""

    engine: EngineConfig = field(default_factory=EngineConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    risk: RiskLimits = field(default_factory=RiskLimits)
    chains: tuple[ChainConfig, ...] = ()
    venues: tuple[VenueConfig, ...] = ()
    accounts: tuple[AccountConfig, ...] = ()

    def __post_init__(self) -> None:
        for section in ("chains", "venues", "accounts"):
            names = [item.name for item in getattr(self, section)]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ConfigError(f"{section}: duplicate name(s) {dupes}")
        chain_names = {c.name for c in self.chains}
        for v in self.venues:
            if v.chain is not None and v.chain not in chain_names:
                raise ConfigError(f"venues.{v.name}.chain: no chain named {v.chain!r}")
        live = [
            f"chain {c.name} ({c.chain_id})"
            for c in self.chains
            if c.chain_id not in LOCAL_CHAIN_IDS
        ] + [f"live exchange venue {v.name}" for v in self.venues if v.is_live]
        if live and self.risk.max_order_notional is None:
            raise ConfigError(
                f"risk.max_order_notional: required when trading real money ({', '.join(live)}); "
                'set it in [risk] (e.g. max_order_notional = "1000"), with max_position and '
                "max_daily_loss as you see fit"
            )


def load_config(path: str | Path) -> OmsConfig:
    """Read and validate a TOML configuration file.

    Raises:
        ConfigError: the file is missing, not TOML, or a key is unknown / missing / bad.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(p)!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {str(p)!r} is not UTF-8 text") from None
    return parse_config(text)


def parse_config(text: str) -> OmsConfig:
    """Parse TOML ``text`` into :class:`OmsConfig` (see :func:`load_config`)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config is not valid TOML: {exc}") from None
    return _build(OmsConfig, data, "")


# --- generic, strict builder -----------------------------------------------------------------


def _key(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _build(cls: type, table: Any, where: str) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"{where or 'config'}: expected a table, got {_show(table)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for k in table:
        if k not in fields:
            if _SECRET_KEY.search(k):
                raise ConfigError(
                    f"{_key(where, k)}: secrets must not be written in the config file; set an "
                    f"environment variable and name it with '{k}_env'"
                )
            raise ConfigError(f"{_key(where, k)}: unknown key; expected one of {sorted(fields)}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        key = _key(where, name)
        if name not in table:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{key}: missing required key")
            continue
        kwargs[name] = _coerce(hints[name], table[name], key)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except InvalidInput as exc:
        raise ConfigError(f"{where or 'config'}: {exc}") from None


def _show(v: Any) -> str:
    return f"{type(v).__name__} {v!r}"[:80]


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, key)
    if hint is Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigError(f"{key}: expected a decimal number, got {_show(value)}")
        try:
            d = Decimal(repr(value) if isinstance(value, float) else str(value))
        except InvalidOperation:
            raise ConfigError(f"{key}: expected a decimal number, got {value!r}") from None
        if not d.is_finite():
            raise ConfigError(f"{key}: must be finite, got {value!r}")
        return d
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {_show(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {_show(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {_show(value)}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {_show(value)}")
        return value
    if origin in (frozenset, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected an array, got {_show(value)}")
        item = args[0]
        items = [_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
        if origin is frozenset:
            return frozenset(items)
        return tuple(items)
    if origin in (Mapping, dict) or origin is typing.get_origin(Mapping[str, int]):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table, got {_show(value)}")
        return {str(k): _coerce(args[1], v, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        where = key
        if isinstance(value, dict) and "name" in value and isinstance(value["name"], str):
            if not _NAME.match(value["name"]):
                raise ConfigError(f"{key}.name: {value['name']!r} must be lower-case a-z 0-9 _ -")
            where = f"{key.split('[')[0]}.{value['name']}"
        return _build(hint, value, where)  # type: ignore[arg-type]
    raise ConfigError(f"{key}: unsupported type {hint!r}")
