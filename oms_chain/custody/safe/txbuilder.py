"""Safe{Wallet} Transaction Builder batch files: export our calls, import theirs.

A batch file (``version`` "1.0") carries the chain id, the Safe it was made for, and the calls
(``to``, ``value`` as a decimal string, ``data`` as hex — or ``data`` null with
``contractMethod`` + ``contractInputsValues``, which we ABI-encode). ``meta.checksum`` is what
the Transaction Builder app computes: keccak256 of its canonical serialization of the file with
``meta.name`` set to null and no checksum key. Written by hand because no Python library does
it; the serialization follows the app's rule (sorted keys listed first, then each value).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_abi.abi import default_codec
from eth_typing import ChecksumAddress
from eth_utils import is_address, keccak, to_checksum_address

from oms_chain.custody.safe.transaction import Call
from oms_chain.model.errors import InvalidInput

__all__ = ["TransactionBatch", "batch_checksum"]

TX_BUILDER_VERSION = "1.18.0"


def _js(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _serialize(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ",".join(_serialize(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value)
        return "{" + _js(keys) + "".join(_serialize(value[k]) + "," for k in keys) + "}"
    return _js(value)


def batch_checksum(batch: Mapping[str, Any]) -> str:
    """The Transaction Builder's checksum of ``batch`` (any ``meta.checksum`` is ignored)."""
    meta = {k: v for k, v in dict(batch.get("meta") or {}).items() if k != "checksum"}
    body = {**dict(batch), "meta": {**meta, "name": None}}
    return "0x" + keccak(text=_serialize(body)).hex()


def _encode_method(method: Any, values: Any, where: str) -> bytes:
    if not isinstance(method, Mapping) or not isinstance(method.get("name"), str):
        raise InvalidInput(f"{where}: contractMethod needs a name and inputs")
    inputs = method.get("inputs") or []
    if not isinstance(inputs, list) or not isinstance(values, Mapping | type(None)):
        raise InvalidInput(f"{where}: contractMethod inputs / contractInputsValues are malformed")
    types = [str(i.get("type")) for i in inputs]
    if not all(default_codec.is_encodable_type(t) for t in types):
        raise InvalidInput(f"{where}: unsupported argument types {types}")
    args: list[Any] = []
    for spec, typ in zip(inputs, types, strict=True):
        raw = (values or {}).get(spec.get("name"))
        if raw is None:
            raise InvalidInput(f"{where}: no value for argument {spec.get('name')!r}")
        try:
            if typ.endswith("]") or typ.startswith("("):
                args.append(json.loads(raw) if isinstance(raw, str) else raw)
            elif typ.startswith(("uint", "int")):
                args.append(int(raw))
            elif typ == "bool":
                args.append(str(raw).lower() == "true")
            elif typ.startswith("bytes"):
                args.append(bytes.fromhex(str(raw).removeprefix("0x")))
            else:
                args.append(raw)
        except ValueError:
            raise InvalidInput(f"{where}: argument {spec.get('name')!r} is not a {typ}") from None
    selector = keccak(text=f"{method['name']}({','.join(types)})")[:4]
    try:
        return selector + abi_encode(types, args)
    except Exception:
        raise InvalidInput(f"{where}: arguments do not encode as {types}") from None


@dataclass(frozen=True, slots=True)
class TransactionBatch:
    """A batch of calls for one Safe on one chain, as the Transaction Builder exchanges them."""

    chain_id: int
    safe: ChecksumAddress
    calls: tuple[Call, ...]
    name: str = "Transactions Batch"
    description: str = ""

    def to_json(self, created_at_ms: int) -> dict[str, Any]:
        """The batch file (checksum included); ``created_at_ms`` from the caller's clock."""
        batch: dict[str, Any] = {
            "version": "1.0",
            "chainId": str(self.chain_id),
            "createdAt": int(created_at_ms),
            "meta": {
                "name": self.name,
                "description": self.description,
                "txBuilderVersion": TX_BUILDER_VERSION,
                "createdFromSafeAddress": self.safe,
                "createdFromOwnerAddress": "",
            },
            "transactions": [
                {
                    "to": c.to,
                    "value": str(c.value),
                    "data": "0x" + c.data.hex(),
                    "contractMethod": None,
                    "contractInputsValues": None,
                }
                for c in self.calls
            ],
        }
        batch["meta"]["checksum"] = batch_checksum(batch)
        return batch

    @classmethod
    def from_json(cls, batch: Any) -> TransactionBatch:
        """Read a batch file (a dict or JSON text). A checksum, when present, must match.

        Raises :class:`InvalidInput` naming the field or transaction that is wrong."""
        if isinstance(batch, str | bytes):
            try:
                batch = json.loads(batch)
            except ValueError as exc:
                raise InvalidInput(f"Transaction Builder file is not JSON: {exc}") from None
        if not isinstance(batch, Mapping):
            raise InvalidInput("Transaction Builder file must be a JSON object")
        meta = batch.get("meta")
        if not isinstance(meta, Mapping):
            raise InvalidInput("Transaction Builder file has no 'meta' object")
        checksum = meta.get("checksum")
        if checksum is not None and str(checksum).lower() != batch_checksum(batch):
            raise InvalidInput(
                "Transaction Builder file checksum does not match its content; it was edited "
                "after export — re-export it from the app"
            )
        try:
            chain_id = int(str(batch.get("chainId")))
        except ValueError:
            raise InvalidInput("Transaction Builder file 'chainId' is not an integer") from None
        safe = meta.get("createdFromSafeAddress")
        if not isinstance(safe, str) or not is_address(safe):
            raise InvalidInput("Transaction Builder file meta.createdFromSafeAddress is not set")
        txs = batch.get("transactions")
        if not isinstance(txs, list) or not txs:
            raise InvalidInput("Transaction Builder file has no transactions")
        calls = []
        for i, tx in enumerate(txs, 1):
            where = f"transaction {i}"
            if not isinstance(tx, Mapping):
                raise InvalidInput(f"{where} is not an object")
            try:
                value = int(str(tx.get("value") or "0"))
            except ValueError:
                raise InvalidInput(f"{where}: value is not a decimal integer") from None
            data = tx.get("data")
            if data in (None, "") and tx.get("contractMethod"):
                body = _encode_method(tx["contractMethod"], tx.get("contractInputsValues"), where)
            elif isinstance(data, str):
                try:
                    body = bytes.fromhex(data.removeprefix("0x"))
                except ValueError:
                    raise InvalidInput(f"{where}: data is not hex") from None
            else:
                body = b""
            to = tx.get("to")
            if not isinstance(to, str) or not is_address(to):
                raise InvalidInput(f"{where}: 'to' is not an address")
            calls.append(Call(ChecksumAddress(to_checksum_address(to)), body, value))
        return cls(
            chain_id=chain_id,
            safe=ChecksumAddress(to_checksum_address(safe)),
            calls=tuple(calls),
            name=str(meta.get("name") or ""),
            description=str(meta.get("description") or ""),
        )

    @classmethod
    def of(
        cls, chain_id: int, safe: str, calls: Sequence[Call], name: str = ""
    ) -> TransactionBatch:
        """A batch of ``calls`` for ``safe`` (validated)."""
        if not is_address(safe):
            raise InvalidInput(f"Safe address is not an address: {safe!r}")
        if not calls or not all(isinstance(c, Call) for c in calls):
            raise InvalidInput("a batch needs at least one Call")
        return cls(
            chain_id=chain_id,
            safe=ChecksumAddress(to_checksum_address(safe)),
            calls=tuple(calls),
            name=name or "Transactions Batch",
        )
