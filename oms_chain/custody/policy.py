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
inner call (or MultiSend batch) is checked like a transaction, and a SafeTx that pays a gas
refund out of the Safe (``gasPrice`` or ``baseGas`` non-zero, or a ``gasToken`` /
``refundReceiver`` set) is refused under rule ``safe_refund``. Other typed data is refused
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
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from eth_abi import decode as abi_decode
from eth_typing import ChecksumAddress
from eth_utils import is_address, keccak, to_checksum_address

from oms_chain.custody._policy_file import ArgRule, CallRule, SignerPolicy, SigningPolicy
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


class PolicyViolation(FinalError, PermissionError):
    """A signing request is outside the signer's policy; ``rule`` names the rule it broke."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(f"signing refused by policy rule {rule!r}: {reason}")
        self.rule = rule
        self.reason = reason


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

    # --- a threshold account's own operations (ThresholdSigner) ---------------------------

    async def sign_execute(self, calls: Sequence[Any], nonce: int, deadline: int) -> bytes:
        """Check the calls of a threshold account's ``execute`` / ``executeBatch`` against the
        policy (each like a transaction, limits counted), then have the wrapped
        :class:`~oms_chain.custody.threshold.ThresholdSigner` sign it; a refusal starts no
        signing round."""
        sign = getattr(self._inner, "sign_execute", None)
        if not callable(sign):
            raise SignerUnsupported(f"signer {self.address} has no account execute to sign")
        if isinstance(calls, str | bytes) or not isinstance(calls, Sequence) or not calls:
            raise InvalidInput("execute needs a non-empty list of AccountCall")
        try:
            checked = [self._tx_call({"to": c.to, "value": c.value, "data": c.data}) for c in calls]
        except AttributeError:
            raise InvalidInput("execute calls must be AccountCall(to, value, data)") from None
        taken = self._reserve(self._check(getattr(self._inner, "chain_id", None), checked))
        try:
            result: bytes = await sign(calls, nonce, deadline)
            return result
        except BaseException:
            self._release(taken)
            raise

    async def sign_rotation(self, new_group_key: bytes, nonce: int, deadline: int) -> bytes:
        """Refused: a key rotation hands the account to another group, which no call policy
        can bound; rotate with the unwrapped ThresholdSigner under operator control."""
        chain_id = getattr(self._inner, "chain_id", None)
        self._refuse(
            "key_rotation",
            f"a policy signer does not sign key rotations of {self.address}; rotate with the "
            "unwrapped ThresholdSigner (operator action, see docs/threshold.md)",
            chain_id if isinstance(chain_id, int) else None,
            self.address,
        )

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
            gas_price = int(msg["gasPrice"])
            base_gas = int(msg["baseGas"])
            gas_token = str(msg["gasToken"])
            refund_receiver = str(msg["refundReceiver"])
            pays_token, pays_receiver = int(gas_token, 16), int(refund_receiver, 16)
        except (KeyError, TypeError, ValueError):
            raise InvalidInput("SafeTx typed data has a malformed message") from None
        # Safe v1.4.1 pays (gasUsed + baseGas) * gasPrice in gasToken to refundReceiver out of
        # the Safe: an allowed call could carry a refund that empties it. No refund is allowed.
        if gas_price or base_gas or pays_token or pays_receiver:
            self._refuse(
                "safe_refund",
                f"Safe transaction pays a gas refund (gasPrice {gas_price}, baseGas {base_gas}, "
                f"gasToken {gas_token}, refundReceiver {refund_receiver}); a policy signer signs "
                "only SafeTxs with gasPrice = baseGas = 0 and zero gasToken/refundReceiver",
                chain_id if isinstance(chain_id, int) else None,
                to,
            )
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
