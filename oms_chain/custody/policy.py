"""Signing policy: what a signer may sign, enforced before any signature (defense in depth).

A :class:`PolicySigner` wraps any :class:`~oms_chain.custody.base.Signer` (local key, remote
signer, a Safe owner) and checks every request against that signer's :class:`SignerPolicy`
before passing it on: chains allowed, the contracts and function selectors it may call,
argument constraints (a swap's recipient must be the account itself, tokens from an allow-list,
a maximum amount), per-transaction value and rolling 24 h limits on value and on an argument's
amount (an injected clock). A refused request raises :class:`PolicyViolation` naming the rule,
and is reported as a :class:`~oms_chain.model.events.SigningRefused` event to ``on_refused``.

A raw digest cannot be inspected, so a policy signer does not sign digests
(``capabilities.digests`` is ``False``): Safe transactions reach it as EIP-712 typed data, whose
inner call (or MultiSend batch) is checked like a transaction. Other typed data is refused
unless its verifying contract is listed in ``typed_data_contracts``.

The policy file is TOML::

    [signers."0xSignerAddress"]
    account = "0xSafeOrSelf"           # what "self" means in argument rules (default: signer)
    chains = [1, 10]
    max_value = "1000000000000000000"  # wei per transaction
    max_value_24h = "5000000000000000000"
    transfers_to = ["self"]            # plain value transfers (empty calldata) allowed to

    [[signers."0xSignerAddress".rules]]
    name = "usdc-weth-swap"
    contract = "0xRouter"
    function = "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
    volume_arg = "0.5"                 # rolling 24 h volume counted on this argument
    max_volume_24h = "1000000000000"
    args."0.0" = { one_of = ["0xUSDC", "0xWETH"] }
    args."0.3" = { equals = "self" }
    args."0.5" = { max = "250000000000" }

Errors on load name the signer, the rule and the key. Nothing here ever sees key material.
"""

from __future__ import annotations

import contextlib
import tomllib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from eth_abi import decode as abi_decode
from eth_abi.abi import default_codec
from eth_abi.grammar import parse as parse_abi_type
from eth_typing import ChecksumAddress
from eth_utils import is_address, keccak, to_checksum_address

from oms_chain.custody.base import (
    SignedTransaction,
    Signer,
    SignerCapabilities,
    SignerUnsupported,
    TypedDataSigner,
)
from oms_chain.model.clock import Clock
from oms_chain.model.errors import ConfigError, FinalError, InvalidInput
from oms_chain.model.events import SigningRefused
from oms_chain.model.ids import EventId

__all__ = [
    "ArgRule",
    "CallRule",
    "PolicySigner",
    "PolicyViolation",
    "SignerPolicy",
    "SigningPolicy",
]

DAY_NS = 86_400 * 10**9
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


class PolicyViolation(FinalError, PermissionError):
    """A signing request is outside the signer's policy; ``rule`` names the rule it broke."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(f"signing refused by policy rule {rule!r}: {reason}")
        self.rule = rule
        self.reason = reason


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
        tuple_type = parse_abi_type(function[function.index("(") :])
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


def _at(decoded: Any, path: tuple[int, ...]) -> Any:
    value = decoded
    for i in path:
        value = value[i]
    return value


def _multisend_calls(data: bytes) -> list[tuple[int, str, int, bytes]]:
    """Decode ``multiSend(bytes)`` calldata into (operation, to, value, data) per call.

    Written by hand: the packed MultiSend layout is five fixed fields per call and the policy
    must not depend on the optional ``safe`` extra."""
    if data[:4] != keccak(text="multiSend(bytes)")[:4]:
        raise ValueError("not a multiSend call")
    (packed,) = abi_decode(["bytes"], data[4:])
    calls: list[tuple[int, str, int, bytes]] = []
    i = 0
    while i < len(packed):
        if i + 85 > len(packed):
            raise ValueError("truncated MultiSend entry")
        op = packed[i]
        to = to_checksum_address(packed[i + 1 : i + 21])
        value = int.from_bytes(packed[i + 21 : i + 53], "big")
        length = int.from_bytes(packed[i + 53 : i + 85], "big")
        body = bytes(packed[i + 85 : i + 85 + length])
        if len(body) != length:
            raise ValueError("truncated MultiSend data")
        calls.append((op, to, value, body))
        i += 85 + length
    return calls


OnRefused = Callable[[SigningRefused], None]


class PolicySigner:
    """A :class:`~oms_chain.custody.base.Signer` that signs only what ``policy`` allows."""

    def __init__(
        self,
        inner: Signer,
        policy: SigningPolicy,
        *,
        clock: Clock,
        on_refused: OnRefused | None = None,
        multisend_call_only: str | None = None,
    ) -> None:
        if not isinstance(inner, Signer):
            raise InvalidInput("PolicySigner wraps a Signer")
        if not isinstance(policy, SigningPolicy):
            raise InvalidInput("policy must be a SigningPolicy (SigningPolicy.load(path))")
        mine = policy.for_signer(inner.address)
        if mine is None:
            raise ConfigError(f"signing policy has no entry for signer {inner.address}")
        self._inner = inner
        self.policy = mine
        self._clock = clock
        self._on_refused = on_refused
        self._multisend = None if multisend_call_only is None else multisend_call_only.lower()
        self._value_window: deque[tuple[int, int]] = deque()
        self._volume: dict[str, deque[tuple[int, int]]] = {}
        self._seq = 0

    def __repr__(self) -> str:
        return f"PolicySigner({self._inner.address})"

    @property
    def address(self) -> ChecksumAddress:
        """The wrapped signer's address."""
        return self._inner.address

    @property
    def capabilities(self) -> SignerCapabilities:
        """The wrapped signer's, except raw digests (they cannot be inspected)."""
        c = self._inner.capabilities
        return SignerCapabilities(
            raw_transactions=c.raw_transactions,
            ecdsa_hashes=c.ecdsa_hashes,
            contract_account=c.contract_account,
            remote=c.remote,
            digests=False,
        )

    # --- checks ---------------------------------------------------------------------------

    def _refuse(self, rule: str, reason: str, chain_id: int | None, to: str | None) -> NoReturn:
        self._seq += 1
        now = self._clock.now_ns()
        if self._on_refused is not None:
            self._on_refused(
                SigningRefused(
                    event_id=EventId(f"policy-{self.address}-{now}-{self._seq}"),
                    ts_event=now,
                    ts_init=now,
                    signer=self.address,
                    rule=rule,
                    reason=reason,
                    chain_id=chain_id,
                    to=to,
                )
            )
        raise PolicyViolation(rule, reason)

    @staticmethod
    def _window_sum(window: deque[tuple[int, int]], now: int) -> int:
        while window and window[0][0] <= now - DAY_NS:
            window.popleft()
        return sum(v for _, v in window)

    def _check_call(
        self, chain_id: int, to: str, value: int, data: bytes, pending: list[tuple[str, int]]
    ) -> None:
        """Check one call; appends the (volume key, amount) it would consume to ``pending``."""
        p = self.policy
        now = self._clock.now_ns()
        if p.max_value is not None and value > p.max_value:
            self._refuse("max_value", f"value {value} wei exceeds {p.max_value} wei", chain_id, to)
        if value:
            pending.append(("", value))
        if not data:
            if to.lower() not in p.transfers_to:
                self._refuse("transfers_to", f"plain transfer to {to} is not allowed", chain_id, to)
            return
        selector = data[:4]
        for rule in p.rules:
            if rule.contract.lower() == to.lower() and rule.selector == selector:
                break
        else:
            self._refuse(
                "allowed_calls",
                f"call of selector 0x{selector.hex()} on {to} matches no rule",
                chain_id,
                to,
            )
        if rule.max_value is not None and value > rule.max_value:
            self._refuse(rule.name, f"value {value} wei exceeds {rule.max_value} wei", chain_id, to)
        try:
            decoded = abi_decode(list(rule.arg_types), data[4:])
        except Exception:
            self._refuse(rule.name, f"calldata does not decode as {rule.function}", chain_id, to)
        for arg in rule.args:
            why = arg.check(_at(decoded, arg.path), p.account)
            if why is not None:
                self._refuse(rule.name, why, chain_id, to)
        if rule.volume_arg is not None and rule.max_volume_24h is not None:
            amount = _at(decoded, rule.volume_arg)
            if not isinstance(amount, int):
                self._refuse(rule.name, "volume argument is not an integer", chain_id, to)
            window = self._volume.setdefault(rule.name, deque())
            used = self._window_sum(window, now) + sum(a for k, a in pending if k == rule.name)
            if used + amount > rule.max_volume_24h:
                self._refuse(
                    rule.name,
                    f"24 h volume would be {used + amount}, over {rule.max_volume_24h}",
                    chain_id,
                    to,
                )
            pending.append((rule.name, amount))

    def _check(self, chain_id: Any, calls: list[tuple[str, int, bytes]]) -> list[tuple[str, int]]:
        p = self.policy
        if isinstance(chain_id, bool) or not isinstance(chain_id, int):
            self._refuse("chains", "request carries no integer chain id", None, None)
        if chain_id not in p.chains:
            self._refuse("chains", f"chain {chain_id} is not allowed", chain_id, None)
        pending: list[tuple[str, int]] = []
        for to, value, data in calls:
            self._check_call(chain_id, to, value, data, pending)
        if p.max_value_24h is not None:
            total = sum(a for k, a in pending if k == "")
            used = self._window_sum(self._value_window, self._clock.now_ns())
            if used + total > p.max_value_24h:
                self._refuse(
                    "max_value_24h",
                    f"24 h value would be {used + total} wei, over {p.max_value_24h} wei",
                    chain_id,
                    None,
                )
        return pending

    def _reserve(
        self, pending: list[tuple[str, int]]
    ) -> list[tuple[deque[tuple[int, int]], tuple[int, int]]]:
        """Count ``pending`` in the rolling windows now, before the (awaited) signature, so
        concurrent requests cannot both pass a limit; :meth:`_release` undoes it on failure."""
        now = self._clock.now_ns()
        taken = []
        for key, amount in pending:
            window = self._value_window if key == "" else self._volume[key]
            entry = (now, amount)
            window.append(entry)
            taken.append((window, entry))
        return taken

    @staticmethod
    def _release(taken: list[tuple[deque[tuple[int, int]], tuple[int, int]]]) -> None:
        for window, entry in taken:
            with contextlib.suppress(ValueError):  # already pruned from the window
                window.remove(entry)

    @staticmethod
    def _tx_call(tx: dict[str, Any]) -> tuple[str, int, bytes]:
        to, value, data = tx.get("to"), tx.get("value", 0), tx.get("data", b"")
        if not isinstance(to, str) or not is_address(to):
            raise InvalidInput("transaction 'to' must be an address (contract creation is refused)")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput("transaction value must be an integer >= 0")
        if isinstance(data, str):
            try:
                data = bytes.fromhex(data.removeprefix("0x"))
            except ValueError:
                raise InvalidInput("transaction data is not hex") from None
        if not isinstance(data, bytes | bytearray):
            raise InvalidInput("transaction data must be bytes or hex")
        return to, value, bytes(data)

    def check_transaction(self, tx: dict[str, Any]) -> None:
        """Raise :class:`PolicyViolation` if ``tx`` is outside policy (consumes nothing)."""
        if not isinstance(tx, dict):
            raise InvalidInput("transaction must be a dict")
        self._check(tx.get("chainId"), [self._tx_call(tx)])

    # --- Signer ---------------------------------------------------------------------------

    async def sign_transaction(self, tx: dict[str, Any]) -> SignedTransaction:
        """Check ``tx`` against the policy, then sign it with the wrapped signer."""
        if not isinstance(tx, dict):
            raise InvalidInput("transaction must be a dict")
        taken = self._reserve(self._check(tx.get("chainId"), [self._tx_call(tx)]))
        try:
            return await self._inner.sign_transaction(tx)
        except BaseException:
            self._release(taken)
            raise

    async def sign_hash(self, digest: bytes) -> bytes:
        """Refused: a digest cannot be checked against a policy."""
        if not isinstance(digest, bytes | bytearray) or len(digest) != 32:
            raise InvalidInput("sign_hash needs exactly 32 bytes")
        raise SignerUnsupported(
            "a policy signer does not sign raw digests (they cannot be inspected); "
            "sign a transaction or typed data"
        )

    async def sign_typed_data(self, typed_data: dict[str, Any]) -> bytes:
        """Check typed data (a SafeTx's inner call or batch; else the verifying contract) and
        sign it with the wrapped signer, which must be a TypedDataSigner."""
        if not isinstance(self._inner, TypedDataSigner):
            raise SignerUnsupported(f"signer {self.address} does not sign typed data")
        if not isinstance(typed_data, dict) or not isinstance(typed_data.get("domain"), dict):
            raise InvalidInput("typed data must be a dict with a 'domain' table")
        domain = typed_data["domain"]
        chain_id = domain.get("chainId")
        if isinstance(chain_id, str) and chain_id.isdigit():
            chain_id = int(chain_id)
        if typed_data.get("primaryType") == "SafeTx":
            verifying = str(domain.get("verifyingContract", "")).lower()
            if verifying != self.policy.account.lower() and (
                verifying not in self.policy.typed_data_contracts
            ):
                self._refuse(
                    "safe",
                    f"Safe transaction for {verifying or 'no Safe'}, not the account "
                    f"{self.policy.account}",
                    chain_id if isinstance(chain_id, int) else None,
                    verifying or None,
                )
            pending = self._check(chain_id, self._safe_tx_calls(typed_data, chain_id))
        else:
            verifying = str(domain.get("verifyingContract", "")).lower()
            if verifying not in self.policy.typed_data_contracts:
                self._refuse(
                    "typed_data_contracts",
                    f"typed data for {verifying or 'no contract'} is not allowed",
                    chain_id if isinstance(chain_id, int) else None,
                    verifying or None,
                )
            pending = self._check(chain_id, [])
        taken = self._reserve(pending)
        try:
            return await self._inner.sign_typed_data(typed_data)
        except BaseException:
            self._release(taken)
            raise

    def _safe_tx_calls(self, typed: dict[str, Any], chain_id: Any) -> list[tuple[str, int, bytes]]:
        msg = typed.get("message")
        if not isinstance(msg, dict):
            raise InvalidInput("SafeTx typed data has no message")
        try:
            to = str(msg["to"])
            value = int(msg["value"])
            data = msg.get("data") or b""
            data = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else bytes(data)
            operation = int(msg["operation"])
        except (KeyError, TypeError, ValueError):
            raise InvalidInput("SafeTx typed data has a malformed message") from None
        if operation == 0:
            return [(to, value, data)]
        if self._multisend is None or to.lower() != self._multisend or value:
            self._refuse(
                "delegatecall",
                f"a DELEGATECALL is allowed only into MultiSendCallOnly, not {to}",
                chain_id if isinstance(chain_id, int) else None,
                to,
            )
        try:
            batch = _multisend_calls(data)
        except Exception:
            self._refuse("delegatecall", "MultiSend payload does not decode", None, to)
        out = []
        for op, call_to, call_value, call_data in batch:
            if op != 0:
                self._refuse("delegatecall", "a MultiSend entry may not DELEGATECALL", None, to)
            out.append((call_to, call_value, call_data))
        return out
