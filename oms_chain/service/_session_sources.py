"""Where a :class:`~oms_chain.service.session.TradingSession` connects, read from the devnet's
runtime JSON (:func:`endpoints_from_runtime`) or from a configuration file and the environment
(:func:`endpoints_from_config`): chains, the exchange, the signer and the store URL. Its named
constructors call these; errors name the key or variable that is wrong."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from oms_chain.chain.addressbook import AddressBook
from oms_chain.custody.base import Signer
from oms_chain.custody.local import LocalSigner
from oms_chain.engine import OmsConfig
from oms_chain.model.errors import ConfigError, InvalidInput
from oms_chain.service.endpoints import (
    RUNTIME_SERVICES,
    ChainEndpoint,
    ExchangeEndpoint,
    SafeOwners,
    ThresholdGroup,
)

__all__ = [
    "endpoints_from_config",
    "endpoints_from_runtime",
    "safe_owners_from_config",
    "threshold_group_from_config",
]


def endpoints_from_runtime(
    runtime: Mapping[str, Any],
    *,
    chain_ids: Sequence[int] | None,
    with_exchange: bool,
    account: int,
) -> tuple[list[ChainEndpoint], ExchangeEndpoint | None]:
    """The chains (those of ``chain_ids``, default every one) and the exchange simulator (API
    key pair ``account``; none without ``with_exchange``) of a devnet runtime JSON.

    Raises:
        InvalidInput: the runtime JSON lacks a chain asked for, or is malformed.
    """
    world = runtime.get("chains", runtime)
    if not isinstance(world, Mapping):
        raise InvalidInput("devnet runtime JSON has no 'chains' table")
    chains: list[ChainEndpoint] = []
    try:
        for name, c in world.items():
            if name in RUNTIME_SERVICES:
                continue
            if chain_ids is not None and int(c["chain_id"]) not in chain_ids:
                continue
            book = AddressBook.from_json(c["address_book"], f"devnet runtime ({name})")
            chains.append(
                ChainEndpoint(
                    chain_id=int(c["chain_id"]),
                    rpc_url=str(c["rpc_url"]),
                    book=book,
                    option_makers=tuple(str(u) for u in c.get("options_makers", ())),
                )
            )
        exchange = None
        if with_exchange and "exchange" in world:
            ex = world["exchange"]
            creds = ex["accounts"][account]
            exchange = ExchangeEndpoint(
                exchange="binance",
                api_key=str(creds["api_key"]),
                secret=str(creds["secret"]),
                rest_url=str(ex["rest_url"]),
            )
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise InvalidInput(f"devnet runtime JSON is malformed ({exc!r}); restart it") from None
    have = sorted(int(c["chain_id"]) for n, c in world.items() if n not in RUNTIME_SERVICES)
    missing = sorted(set(chain_ids or ()) - set(have))
    if missing:
        raise InvalidInput(f"the running devnet has no chain {missing[0]}; it has {have}")
    return chains, exchange


def endpoints_from_config(
    config: OmsConfig,
    env: Mapping[str, str],
    *,
    account: str | None,
    store_url: str | None,
    with_exchange: bool,
) -> tuple[Any, Signer, list[ChainEndpoint], ExchangeEndpoint | None, str]:
    """``(account, signer, chains, exchange, store URL)`` of a configuration: the account
    named ``account`` (default: the first), its signer, every chain, the first ccxt venue as
    the exchange (unless ``with_exchange`` is false) and the store URL (``store_url`` if
    given), secrets read from ``env``.

    Raises:
        ConfigError: no account, an unsupported signer kind here, or a variable not set.
    """
    if not config.accounts:
        raise ConfigError("accounts: at least one [[accounts]] entry is needed to sign")
    acct = config.accounts[0]
    if account is not None:
        acct = next((a for a in config.accounts if a.name == account), None)  # type: ignore[assignment]
        if acct is None:
            known = [a.name for a in config.accounts]
            raise ConfigError(f"accounts: no account named {account!r}; known: {known}")
    signer = _signer_from_config(acct, env)
    chains = []
    for c in config.chains:
        url = c.rpc(env)
        if url is None:
            raise ConfigError(f"chains.{c.name}: set rpc_url or rpc_url_env")
        chains.append(ChainEndpoint(chain_id=c.chain_id, rpc_url=url.reveal()))
    exchange = None
    ccxt_venues = [v for v in config.venues if v.kind == "ccxt"]
    if ccxt_venues and with_exchange:
        v = ccxt_venues[0]
        creds = v.credentials(env)
        exchange = ExchangeEndpoint(
            exchange=v.exchange or v.name,
            venue_id=v.name,
            api_key=creds["api_key"].reveal() if "api_key" in creds else None,
            secret=creds["secret"].reveal() if "secret" in creds else None,
            password=creds["password"].reveal() if "password" in creds else None,
            rest_url=v.rest_url,
            sandbox=v.testnet,
            live=v.live,
        )
    if store_url is None and config.store.password_env is not None:
        password = env.get(config.store.password_env)
        if password is None:
            raise ConfigError(
                f"store.password_env: environment variable {config.store.password_env!r} is not set"
            )
        store_url = _with_password(config.store.url, password)
    elif store_url is None:
        store_url = config.store.url
    return acct, signer, chains, exchange, store_url


def _key_from_env(name: str, where: str, env: Mapping[str, str]) -> LocalSigner:
    value = env.get(name)
    if not value:
        raise ConfigError(f"{where}: {name!r} is not set")
    try:
        return LocalSigner(value.strip())
    except InvalidInput:
        raise ConfigError(f"{where}: {name!r} does not hold a valid key") from None


def safe_owners_from_config(acct: Any, env: Mapping[str, str]) -> SafeOwners | None:
    """The Safe an account trades from and its owners' signers (``None`` unless its signer is
    ``safe``). Raises :class:`ConfigError` naming an owner variable that is unset or bad."""
    if acct.signer != "safe":
        return None
    where = f"accounts.{acct.name}.owner_key_envs"
    owners = tuple(
        _key_from_env(n, f"{where}[{i}]", env) for i, n in enumerate(acct.owner_key_envs)
    )
    wait = getattr(acct, "await_signatures_s", None)
    return SafeOwners(
        address=acct.safe_address,
        owners=owners,
        await_signatures_ns=None if wait is None else wait * 1_000_000_000,
    )


def threshold_group_from_config(
    acct: Any, env: Mapping[str, str], chain_ids: Sequence[int]
) -> ThresholdGroup | None:
    """The threshold account an account trades from and the group signing for it (``None``
    unless its signer is ``threshold``): the roster in ``threshold_dir``, the coordinator key
    opened with the passphrase in ``coordinator_passphrase_env``. ``chain_ids``: the chains of
    the session, which must be the account's one chain.

    Raises:
        ConfigError: no group or no deployed account there, another ``address``, the
            passphrase unset or wrong, or a chain the account is not on (the key is named).
    """
    if acct.signer != "threshold":
        return None
    from oms_chain.custody.threshold import (
        Coordinator,
        GroupRoster,
        ShareStoreError,
        ThresholdError,
        ThresholdSigner,
    )

    where = f"accounts.{acct.name}"
    directory = Path(acct.threshold_dir).expanduser()
    try:
        roster = GroupRoster.load(directory)
    except (InvalidInput, ShareStoreError) as exc:
        raise ConfigError(f"{where}.threshold_dir: {exc}") from None
    if roster.account is None or roster.chain_id is None:
        raise ConfigError(
            f"{where}.threshold_dir: the group in {directory} has no account yet; create it "
            f"with `oms threshold deploy --dir {directory}`"
        )
    if acct.address is not None and acct.address.lower() != roster.account.lower():
        raise ConfigError(
            f"{where}.address: {acct.address} is not the group's account {roster.account}"
        )
    others = sorted(set(chain_ids) - {roster.chain_id})
    if roster.chain_id not in chain_ids or others:
        raise ConfigError(
            f"{where}.threshold_dir: the group's account lives on chain {roster.chain_id} only; "
            f"the configuration trades on {sorted(chain_ids)} (keep that one chain, or "
            f"--chain {roster.chain_id})"
        )
    var = acct.coordinator_passphrase_env
    passphrase = env.get(var)
    if not passphrase:
        raise ConfigError(f"{where}.coordinator_passphrase_env: {var!r} is not set")
    try:
        coordinator = Coordinator.from_directory(
            directory, passphrase.encode(), timeout_s=acct.threshold_timeout_s
        )
    except ThresholdError as exc:
        raise ConfigError(
            f"{where}.coordinator_passphrase_env: {var!r} does not open the group's "
            f"coordinator key ({exc})"
        ) from None
    signer = ThresholdSigner(coordinator, roster.account, roster.chain_id)
    return ThresholdGroup(signer=signer, group_key=roster.group_key, chain_id=roster.chain_id)


def _signer_from_config(acct: Any, env: Mapping[str, str]) -> Signer:
    where = f"accounts.{acct.name}"
    if acct.signer in ("env_key", "safe", "threshold"):  # a contract account's: its relayer
        return _key_from_env(acct.private_key_env, f"{where}.private_key_env", env)
    if acct.signer == "keystore":
        password = env.get(acct.password_env) if acct.password_env else None
        if password is None:
            raise ConfigError(f"{where}.password_env: set it to the keystore password variable")
        return LocalSigner.from_keystore(Path(acct.keystore_path).expanduser(), password)
    raise ConfigError(
        f"{where}.signer: {acct.signer!r} is not supported by TradingSession yet; use "
        f"'env_key', 'keystore', 'safe' or 'threshold'"
    )


def _with_password(url: str, password: str) -> str:
    from urllib.parse import quote

    scheme, rest = url.split("://", 1)
    user, sep, host = rest.partition("@")
    if not sep:
        raise ConfigError("store.password_env: the store URL has no user@ to attach a password to")
    return f"{scheme}://{user}:{quote(password, safe='')}@{host}"
