"""The signing-policy file: its model (frozen values) and its validating TOML loader.

Private to :mod:`oms_chain.custody.policy`, which documents the format and re-exports the
public names; split out to keep that module about enforcement.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_abi.abi import default_codec
from eth_abi.grammar import parse as parse_abi_type
from eth_typing import ChecksumAddress
from eth_utils import is_address, keccak, to_checksum_address

from oms_chain.model.errors import ConfigError

__all__ = ["ArgRule", "CallRule", "SignerPolicy", "SigningPolicy"]

_SIGNER_KEYS = {
    "account",
    "chains",
    "max_value",
    "max_value_24h",
    "transfers_to",
    "rules",
    "typed_data_contracts",
}
_RULE_KEYS = {"name", "contract", "function", "args", "max_value", "volume_arg", "max_volume_24h"}
_ARG_KEYS = {"equals", "one_of", "max"}


def _cfg_address(value: object, where: str) -> ChecksumAddress:
    if not isinstance(value, str) or not is_address(value):
        raise ConfigError(f"{where} must be an address, got {value!r}")
    return ChecksumAddress(to_checksum_address(value))


def _cfg_uint(value: object, where: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where} must be a non-negative integer (a string for big ones)")
    return value


def _cfg_path(value: object, where: str) -> tuple[int, ...]:
    if not isinstance(value, str) or not all(p.isdigit() for p in value.split(".")):
        raise ConfigError(f"{where} must be an argument path like '0' or '0.3', got {value!r}")
    return tuple(int(p) for p in value.split("."))


def _unknown(keys: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(keys) - allowed)
    if extra:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(extra)} (allowed: {sorted(allowed)})"
        )


@dataclass(frozen=True, slots=True)
class ArgRule:
    """A constraint on one decoded argument (``path`` indexes into tuples)."""

    path: tuple[int, ...]
    equals_self: bool = False
    one_of: frozenset[str] | None = None
    maximum: int | None = None

    def check(self, value: Any, account: str) -> str | None:
        """``None`` when ``value`` passes, else why not."""
        shown = ".".join(map(str, self.path))
        if self.equals_self and (not isinstance(value, str) or value.lower() != account.lower()):
            return f"argument {shown} must be the account itself ({account}), got {value}"
        if self.one_of is not None and (
            not isinstance(value, str) or value.lower() not in self.one_of
        ):
            return f"argument {shown} ({value}) is not in the allow-list"
        if self.maximum is not None and (not isinstance(value, int) or value > self.maximum):
            return f"argument {shown} ({value}) exceeds the maximum {self.maximum}"
        return None


@dataclass(frozen=True, slots=True)
class CallRule:
    """One contract function a signer may call, with argument constraints and limits."""

    name: str
    contract: ChecksumAddress
    function: str
    selector: bytes
    arg_types: tuple[str, ...]
    args: tuple[ArgRule, ...] = ()
    max_value: int | None = None
    volume_arg: tuple[int, ...] | None = None
    max_volume_24h: int | None = None


@dataclass(frozen=True, slots=True)
class SignerPolicy:
    """Everything one signer may sign."""

    signer: ChecksumAddress
    account: ChecksumAddress
    chains: frozenset[int]
    rules: tuple[CallRule, ...] = ()
    max_value: int | None = None
    max_value_24h: int | None = None
    transfers_to: frozenset[str] = frozenset()
    typed_data_contracts: frozenset[str] = frozenset()


def _parse_rule(raw: object, where: str, account: str) -> CallRule:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a table")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: 'name' is required (a non-empty string)")
    where = f"{where} ({name!r})"
    _unknown(raw, _RULE_KEYS, where)
    function = raw.get("function")
    if not isinstance(function, str) or "(" not in function or not function.endswith(")"):
        raise ConfigError(
            f"{where}: 'function' must be a signature like 'transfer(address,uint256)'"
        )
    try:
        args_text = function[function.index("(") :]
        if args_text == "()":  # a function without arguments, e.g. WETH's deposit()
            arg_types: tuple[str, ...] = ()
        else:
            tuple_type = parse_abi_type(args_text)
            arg_types = tuple(c.to_type_str() for c in tuple_type.components)  # type: ignore[attr-defined]
        if not all(default_codec.is_encodable_type(t) for t in arg_types):
            raise ValueError
    except Exception:
        raise ConfigError(f"{where}: 'function' has invalid argument types: {function!r}") from None
    args = []
    raw_args = raw.get("args", {})
    if not isinstance(raw_args, Mapping):
        raise ConfigError(f"{where}: 'args' must be a table of argument path -> constraint")
    for key, spec in raw_args.items():
        arg_where = f"{where} args.{key}"
        path = _cfg_path(key, arg_where)
        if path[0] >= len(arg_types):
            raise ConfigError(f"{arg_where}: {function} has only {len(arg_types)} arguments")
        if not isinstance(spec, Mapping) or not spec:
            raise ConfigError(f"{arg_where} must be a table with equals / one_of / max")
        _unknown(spec, _ARG_KEYS, arg_where)
        equals = spec.get("equals")
        if equals is not None and equals != "self":
            raise ConfigError(f"{arg_where}: 'equals' supports only \"self\"")
        one_of = spec.get("one_of")
        if one_of is not None:
            if not isinstance(one_of, list) or not one_of:
                raise ConfigError(f"{arg_where}: 'one_of' must be a non-empty list of addresses")
            one_of = frozenset(
                (account if a == "self" else _cfg_address(a, f"{arg_where} one_of")).lower()
                for a in one_of
            )
        maximum = None if "max" not in spec else _cfg_uint(spec["max"], f"{arg_where} max")
        args.append(ArgRule(path, equals == "self", one_of, maximum))
    volume_arg = None
    if "volume_arg" in raw:
        volume_arg = _cfg_path(raw["volume_arg"], f"{where} volume_arg")
    max_volume = raw.get("max_volume_24h")
    if (volume_arg is None) != (max_volume is None):
        raise ConfigError(f"{where}: 'volume_arg' and 'max_volume_24h' go together")
    return CallRule(
        name=name,
        contract=_cfg_address(raw.get("contract"), f"{where} contract"),
        function=function,
        selector=keccak(text=function.replace(" ", ""))[:4],
        arg_types=arg_types,
        args=tuple(args),
        max_value=None
        if "max_value" not in raw
        else _cfg_uint(raw["max_value"], f"{where} max_value"),
        volume_arg=volume_arg,
        max_volume_24h=None
        if max_volume is None
        else _cfg_uint(max_volume, f"{where} max_volume_24h"),
    )


@dataclass(frozen=True, slots=True)
class SigningPolicy:
    """Policies by signer address. A signer without one signs nothing through a PolicySigner."""

    signers: Mapping[str, SignerPolicy] = field(default_factory=dict)

    def for_signer(self, address: str) -> SignerPolicy | None:
        """The policy of ``address`` (any case), if any."""
        return self.signers.get(address.lower())

    @classmethod
    def load(cls, path: Path | str) -> SigningPolicy:
        """Read and validate a policy TOML file; errors name the signer, rule and key."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"signing policy {path} does not exist") from None
        return cls.from_toml(text, source=str(path))

    @classmethod
    def from_toml(cls, text: str, *, source: str = "policy") -> SigningPolicy:
        """Parse and validate policy TOML text."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"signing policy {source} is not valid TOML: {exc}") from None
        _unknown(data, {"signers"}, f"signing policy {source}")
        signers = data.get("signers", {})
        if not isinstance(signers, Mapping):
            raise ConfigError(f"signing policy {source}: 'signers' must be a table")
        out: dict[str, SignerPolicy] = {}
        for address, raw in signers.items():
            where = f"signing policy {source}: signer {address}"
            signer = _cfg_address(address, where)
            if not isinstance(raw, Mapping):
                raise ConfigError(f"{where} must be a table")
            _unknown(raw, _SIGNER_KEYS, where)
            account = _cfg_address(raw.get("account", signer), f"{where} account")
            chains = raw.get("chains")
            if not isinstance(chains, list) or not chains:
                raise ConfigError(f"{where}: 'chains' is required (a non-empty list of chain ids)")
            chain_set = frozenset(_cfg_uint(c, f"{where} chains") for c in chains)
            rules_raw = raw.get("rules", [])
            if not isinstance(rules_raw, list):
                raise ConfigError(f"{where}: 'rules' must be an array of tables")
            rules = tuple(
                _parse_rule(r, f"{where} rule {i + 1}", account) for i, r in enumerate(rules_raw)
            )
            names = [r.name for r in rules]
            if len(set(names)) != len(names):
                raise ConfigError(f"{where}: rule names must be unique")

            def addresses(
                key: str, where: str = where, account: str = account, raw: Mapping[str, Any] = raw
            ) -> frozenset[str]:
                items = raw.get(key, [])
                if not isinstance(items, list):
                    raise ConfigError(f"{where}: '{key}' must be a list of addresses")
                return frozenset(
                    (account if a == "self" else _cfg_address(a, f"{where} {key}")).lower()
                    for a in items
                )

            out[signer.lower()] = SignerPolicy(
                signer=signer,
                account=account,
                chains=chain_set,
                rules=rules,
                max_value=None
                if "max_value" not in raw
                else _cfg_uint(raw["max_value"], f"{where} max_value"),
                max_value_24h=None
                if "max_value_24h" not in raw
                else _cfg_uint(raw["max_value_24h"], f"{where} max_value_24h"),
                transfers_to=addresses("transfers_to"),
                typed_data_contracts=addresses("typed_data_contracts"),
            )
        return cls(out)
