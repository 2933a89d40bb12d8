"""A Safe v1.4.1 as an account: create it, read it, execute signed Safe transactions.

Custody sits below ``chain`` in the layers, so this module talks to the node and the relayer
through two small protocols (:class:`SafeRpc`, :class:`Relayer`) that
:class:`oms_chain.chain.rpc.RpcClient` and :class:`oms_chain.chain.sender.TxSender` satisfy.
The relayer is an ordinary account that pays the gas of ``execTransaction`` through the chain
sender (nonce manager, simulation, settlement tracking); the Safe's own nonce orders its
transactions.

For the engine (next step): :meth:`SafeAccount.execute_calls` turns the calls a venue would make
(approve, swap, wrap, fill) into one Safe transaction (MultiSendCallOnly when several), has the
owner signers sign it, checks the set and hands it to the relayer — one call in, one
``SentTransaction`` out, tracked like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address

from oms_chain.custody.base import Signer
from oms_chain.custody.safe.signatures import (
    OwnerSignature,
    SignatureKind,
    check_signatures,
    pack_signatures,
    sign_safe_transaction,
)
from oms_chain.custody.safe.transaction import (
    ZERO_ADDRESS,
    Call,
    SafeTransaction,
    _address,
)
from oms_chain.model.errors import FinalError, InvalidInput

__all__ = [
    "Relayer",
    "SafeAccount",
    "SafeAddresses",
    "SafeFactory",
    "SafeNonceMismatch",
    "SafeRpc",
    "SafeState",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
_SENTINEL = "0x0000000000000000000000000000000000000001"
_GUARD_SLOT = "0x4a204f620c8c5ccdca3fd54d003badd85ba500436a431f0cbda4f558c93c34c8"
_HANDLER_SLOT = "0x6c9a6c4a39284e37ed1cf53d337577d14212a4870fb976a4366c693b939918d5"
_DOMAIN_TYPEHASH = keccak(text="EIP712Domain(uint256 chainId,address verifyingContract)")
_MESSAGE_TYPEHASH = keccak(text="SafeMessage(bytes message)")
_LEGACY_1271_MAGIC = bytes.fromhex("20c13b0b")
_EXEC_TYPES = [
    "address", "uint256", "bytes", "uint8", "uint256", "uint256", "uint256", "address",
    "address", "bytes",
]  # fmt: skip


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


_EXEC = _selector(
    "execTransaction(address,uint256,bytes,uint8,uint256,uint256,uint256,address,address,bytes)"
)


class SafeNonceMismatch(FinalError, ValueError):
    """The Safe transaction's nonce is not the Safe's current nonce (already used, or a gap)."""


@runtime_checkable
class SafeRpc(Protocol):
    """The JSON-RPC call this module needs (``RpcClient.call`` has this shape)."""

    async def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        """One JSON-RPC request; returns its ``result``."""
        ...


class Relayer(Protocol[T_co]):
    """Sends a transaction from an account that pays gas (``TxSender`` has this shape)."""

    @property
    def signer(self) -> Signer:
        """The paying account's signer."""
        ...

    async def send(
        self,
        *,
        to: str,
        data: bytes | str = b"",
        value: int = 0,
        gas: int | None = None,
        what: str = "transaction",
    ) -> T_co:
        """Simulate, sign and broadcast a call."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SafeAddresses:
    """The Safe deployment on one chain (look them up in the chain's address book)."""

    singleton: ChecksumAddress
    proxy_factory: ChecksumAddress
    fallback_handler: ChecksumAddress
    multisend_call_only: ChecksumAddress

    def __post_init__(self) -> None:
        for name in ("singleton", "proxy_factory", "fallback_handler", "multisend_call_only"):
            object.__setattr__(self, name, _address(getattr(self, name), f"Safe {name}"))


@dataclass(frozen=True, slots=True)
class SafeState:
    """What a Safe looks like on chain right now."""

    address: ChecksumAddress
    version: str
    owners: tuple[ChecksumAddress, ...]
    threshold: int
    nonce: int
    modules: tuple[ChecksumAddress, ...]
    guard: ChecksumAddress | None
    fallback_handler: ChecksumAddress | None


async def _eth_call(rpc: SafeRpc, to: str, data: bytes, block: str = "latest") -> bytes:
    raw = await rpc.call("eth_call", [{"to": to, "data": "0x" + data.hex()}, block])
    return bytes.fromhex(str(raw).removeprefix("0x"))


def _slot_address(raw: Any) -> ChecksumAddress | None:
    value = int(str(raw), 16)
    return None if value == 0 else ChecksumAddress(to_checksum_address(value.to_bytes(20, "big")))


def _validate_owners(owners: Sequence[str], threshold: int) -> list[ChecksumAddress]:
    if not owners:
        raise InvalidInput("a Safe needs at least one owner")
    checked = [_address(o, f"owner {i + 1}") for i, o in enumerate(owners)]
    if len(set(checked)) != len(checked):
        raise InvalidInput("Safe owners must be distinct; an address is listed twice")
    for o in checked:
        if o in (ZERO_ADDRESS, to_checksum_address(_SENTINEL)):
            raise InvalidInput(f"{o} cannot be a Safe owner (reserved address)")
    if isinstance(threshold, bool) or not isinstance(threshold, int):
        raise InvalidInput(f"threshold must be an integer, got {threshold!r}")
    if not 1 <= threshold <= len(checked):
        raise InvalidInput(
            f"threshold must be between 1 and {len(checked)} owners, got {threshold}"
        )
    return checked


class SafeFactory:
    """Creates Safe proxies through ``SafeProxyFactory.createProxyWithNonce``.

    The address is deterministic: CREATE2 from the factory with salt
    ``keccak(keccak(initializer) || saltNonce)``; :meth:`predict` computes it offline (after
    one read of the factory's proxy creation code) and :meth:`create` checks the node agrees.
    """

    def __init__(self, rpc: SafeRpc, addresses: SafeAddresses, chain_id: int) -> None:
        self._rpc = rpc
        self.addresses = addresses
        self.chain_id = chain_id
        self._creation_code: bytes | None = None

    def initializer(self, owners: Sequence[str], threshold: int) -> bytes:
        """Calldata of ``Safe.setup``: owners, threshold and this factory's fallback handler."""
        checked = _validate_owners(owners, threshold)
        args = abi_encode(
            [
                "address[]",
                "uint256",
                "address",
                "bytes",
                "address",
                "address",
                "uint256",
                "address",
            ],
            [
                checked,
                threshold,
                ZERO_ADDRESS,
                b"",
                self.addresses.fallback_handler,
                ZERO_ADDRESS,
                0,
                ZERO_ADDRESS,
            ],
        )
        return (
            _selector("setup(address[],uint256,address,bytes,address,address,uint256,address)")
            + args
        )

    async def _proxy_creation_code(self) -> bytes:
        if self._creation_code is None:
            raw = await _eth_call(
                self._rpc, self.addresses.proxy_factory, _selector("proxyCreationCode()")
            )
            (code,) = abi_decode(["bytes"], raw)
            if not code:
                raise InvalidInput(
                    f"no SafeProxyFactory at {self.addresses.proxy_factory} on chain "
                    f"{self.chain_id}; check the address book"
                )
            self._creation_code = bytes(code)
        return self._creation_code

    async def predict(
        self, owners: Sequence[str], threshold: int, salt_nonce: int
    ) -> ChecksumAddress:
        """The address :meth:`create` will deploy for these arguments."""
        if (
            isinstance(salt_nonce, bool)
            or not isinstance(salt_nonce, int)
            or not (0 <= salt_nonce < 2**256)
        ):
            raise InvalidInput(f"salt_nonce must be an integer in [0, 2**256), got {salt_nonce!r}")
        init = self.initializer(owners, threshold)
        salt = keccak(keccak(init) + salt_nonce.to_bytes(32, "big"))
        code = await self._proxy_creation_code() + abi_encode(
            ["uint256"], [int(self.addresses.singleton, 16)]
        )
        digest = keccak(
            b"\xff" + bytes.fromhex(self.addresses.proxy_factory[2:]) + salt + keccak(code)
        )
        return ChecksumAddress(to_checksum_address(digest[12:]))

    async def create(
        self, relayer: Relayer[T], owners: Sequence[str], threshold: int, salt_nonce: int
    ) -> tuple[SafeAccount, T]:
        """Deploy the Safe through ``relayer``; returns the account and the relayer's receipt of
        sending (the deployment settles like any transaction). Refuses if the address is taken."""
        address = await self.predict(owners, threshold, salt_nonce)
        code = await self._rpc.call("eth_getCode", [address, "latest"])
        if code not in ("0x", "0x0", None):
            raise InvalidInput(f"a contract already exists at {address}; use another salt_nonce")
        data = _selector("createProxyWithNonce(address,bytes,uint256)") + abi_encode(
            ["address", "bytes", "uint256"],
            [self.addresses.singleton, self.initializer(owners, threshold), salt_nonce],
        )
        sent = await relayer.send(
            to=self.addresses.proxy_factory, data=data, what=f"create Safe {address}"
        )
        return SafeAccount(self._rpc, address, self.chain_id, self.addresses), sent


class SafeAccount:
    """One Safe on one chain: state reads, transaction building, checked execution."""

    def __init__(self, rpc: SafeRpc, address: str, chain_id: int, addresses: SafeAddresses) -> None:
        self._rpc = rpc
        self.address = _address(address, "Safe address")
        self.chain_id = chain_id
        self.addresses = addresses

    def __repr__(self) -> str:
        return f"SafeAccount({self.address}, chain {self.chain_id})"

    async def _read(self, signature: str, types: list[str], args: bytes = b"") -> Any:
        raw = await _eth_call(self._rpc, self.address, _selector(signature) + args)
        if not raw:
            raise InvalidInput(f"no Safe at {self.address} on chain {self.chain_id}")
        return abi_decode(types, raw)

    async def owners(self) -> tuple[ChecksumAddress, ...]:
        """The owners, in the Safe's linked-list order."""
        (owners,) = await self._read("getOwners()", ["address[]"])
        return tuple(ChecksumAddress(to_checksum_address(o)) for o in owners)

    async def threshold(self) -> int:
        """How many owner signatures a transaction needs."""
        return int((await self._read("getThreshold()", ["uint256"]))[0])

    async def nonce(self) -> int:
        """The nonce the next Safe transaction must carry."""
        return int((await self._read("nonce()", ["uint256"]))[0])

    async def modules(self, page_size: int = 50) -> tuple[ChecksumAddress, ...]:
        """Enabled modules (all pages)."""
        found: list[ChecksumAddress] = []
        start = _SENTINEL
        while True:
            page, nxt = await self._read(
                "getModulesPaginated(address,uint256)",
                ["address[]", "address"],
                abi_encode(["address", "uint256"], [start, page_size]),
            )
            found.extend(ChecksumAddress(to_checksum_address(m)) for m in page)
            if int(nxt, 16) in (0, 1) or not page:
                return tuple(found)
            start = nxt

    async def guard(self) -> ChecksumAddress | None:
        """The transaction guard, if one is set."""
        return _slot_address(
            await self._rpc.call("eth_getStorageAt", [self.address, _GUARD_SLOT, "latest"])
        )

    async def state(self) -> SafeState:
        """Everything above plus the version and fallback handler, in one snapshot."""
        (version,) = await self._read("VERSION()", ["string"])
        handler = _slot_address(
            await self._rpc.call("eth_getStorageAt", [self.address, _HANDLER_SLOT, "latest"])
        )
        return SafeState(
            address=self.address,
            version=str(version),
            owners=await self.owners(),
            threshold=await self.threshold(),
            nonce=await self.nonce(),
            modules=await self.modules(),
            guard=await self.guard(),
            fallback_handler=handler,
        )

    def message_hash(self, message: bytes) -> bytes:
        """EIP-712 ``SafeMessage`` hash of ``message`` for this Safe: what its owners sign when
        this Safe is itself an EIP-1271 owner of another Safe (the fallback handler checks it)."""
        if not isinstance(message, bytes | bytearray):
            raise InvalidInput("message must be bytes")
        domain = keccak(
            abi_encode(
                ["bytes32", "uint256", "address"],
                [_DOMAIN_TYPEHASH, self.chain_id, self.address],
            )
        )
        struct = keccak(abi_encode(["bytes32", "bytes32"], [_MESSAGE_TYPEHASH, keccak(message)]))
        return keccak(b"\x19\x01" + domain + struct)

    async def on_chain_hash(self, tx: SafeTransaction) -> bytes:
        """The contract's own ``getTransactionHash`` for ``tx`` (a cross-check; costs a call)."""
        args = abi_encode([*_EXEC_TYPES[:-1], "uint256"], [*tx.exec_args(b"")[:-1], tx.nonce])
        (h,) = await self._read(
            "getTransactionHash(address,uint256,bytes,uint8,uint256,uint256,uint256,address,"
            "address,uint256)",
            ["bytes32"],
            args,
        )
        return bytes(h)

    async def transaction(
        self, calls: Sequence[Call], *, nonce: int | None = None
    ) -> SafeTransaction:
        """One Safe transaction running ``calls`` (MultiSendCallOnly when several), at ``nonce``
        (default: the Safe's current nonce)."""
        if not calls or not all(isinstance(c, Call) for c in calls):
            raise InvalidInput("calls must be a non-empty sequence of Call")
        return SafeTransaction.batch(
            safe=self.address,
            chain_id=self.chain_id,
            nonce=await self.nonce() if nonce is None else nonce,
            calls=calls,
            multisend_call_only=self.addresses.multisend_call_only,
        )

    async def check(
        self,
        tx: SafeTransaction,
        signatures: Sequence[OwnerSignature],
        *,
        executor: str | None = None,
        ordered: bool = False,
    ) -> list[OwnerSignature]:
        """Check ``signatures`` for ``tx`` against the Safe's current owners, threshold and nonce
        (reads only); returns them sorted. Raises :class:`SignatureRejected` or
        :class:`SafeNonceMismatch`."""
        if tx.safe != self.address or tx.chain_id != self.chain_id:
            raise InvalidInput(
                f"Safe tx is for {tx.safe} on chain {tx.chain_id}, not {self.address} on chain "
                f"{self.chain_id}"
            )
        current = await self.nonce()
        if tx.nonce != current:
            raise SafeNonceMismatch(
                f"Safe tx nonce {tx.nonce} is not Safe {self.address}'s nonce {current}; "
                + ("it was already used" if tx.nonce < current else "an earlier one is pending")
            )
        owners = await self.owners()
        approved = []
        for sig in signatures:
            if not isinstance(sig, OwnerSignature):
                continue
            if sig.kind is SignatureKind.APPROVED_HASH and sig.owner in owners:
                (n,) = await self._read(
                    "approvedHashes(address,bytes32)",
                    ["uint256"],
                    abi_encode(["address", "bytes32"], [sig.owner, tx.safe_tx_hash]),
                )
                if n:
                    approved.append(sig.owner)
        contract_ok = await self.accepted_contract_signers(tx, signatures, owners)
        return check_signatures(
            signatures,
            tx,
            owners=owners,
            threshold=await self.threshold(),
            executor=executor,
            approved=approved,
            valid_contract_signers=contract_ok,
            ordered=ordered,
        )

    async def accepted_contract_signers(
        self,
        tx: SafeTransaction,
        signatures: Sequence[OwnerSignature],
        owners: Sequence[str] | None = None,
    ) -> list[ChecksumAddress]:
        """The contract owners (EIP-1271, e.g. a threshold group's account) among
        ``signatures`` whose contract accepts its signature for ``tx`` (reads only): what
        :func:`check_signatures` takes as ``valid_contract_signers``. ``owners``: the Safe's,
        if already read."""
        current = await self.owners() if owners is None else owners
        out: list[ChecksumAddress] = []
        for sig in signatures:
            if (
                isinstance(sig, OwnerSignature)
                and sig.kind is SignatureKind.CONTRACT
                and sig.owner in current
                and await self._contract_accepts(sig, tx)
            ):
                out.append(sig.owner)
        return out

    async def _contract_accepts(self, sig: OwnerSignature, tx: SafeTransaction) -> bool:
        """Safe 1.4.1 asks owner contracts ``isValidSignature(bytes preimage, bytes sig)``."""
        data = _selector("isValidSignature(bytes,bytes)") + abi_encode(
            ["bytes", "bytes"], [tx.hash_preimage, sig.data]
        )
        try:
            raw = await _eth_call(self._rpc, sig.owner, data)
        except Exception:  # a revert or a missing function: not accepted
            return False
        return len(raw) >= 4 and raw[:4] == _LEGACY_1271_MAGIC

    async def execute(
        self,
        tx: SafeTransaction,
        signatures: Sequence[OwnerSignature],
        relayer: Relayer[T],
        *,
        what: str = "Safe transaction",
    ) -> T:
        """Check the signatures, then have ``relayer`` send ``execTransaction``.

        Nothing is sent when a check fails (:class:`SignatureRejected`,
        :class:`SafeNonceMismatch`). The relayer's errors pass through unchanged.
        """
        checked = await self.check(tx, signatures, executor=relayer.signer.address)
        return await relayer.send(to=self.address, data=self.exec_data(tx, checked), what=what)

    def exec_data(self, tx: SafeTransaction, checked: Sequence[OwnerSignature]) -> bytes:
        """Calldata of ``execTransaction`` for ``tx`` with already-checked signatures."""
        return _EXEC + abi_encode(_EXEC_TYPES, tx.exec_args(pack_signatures(checked, tx)))

    async def execute_calls(
        self,
        calls: Sequence[Call],
        owners: Sequence[Signer],
        relayer: Relayer[T],
        *,
        what: str = "Safe transaction",
    ) -> tuple[SafeTransaction, T]:
        """Build one Safe transaction for ``calls`` at the current nonce, sign it with
        ``owners`` (local, remote or policy-wrapped signers), check and execute it."""
        tx = await self.transaction(calls)
        signatures = [await sign_safe_transaction(s, tx) for s in owners]
        return tx, await self.execute(tx, signatures, relayer, what=what)
