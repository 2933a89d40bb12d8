"""Shared helpers of the AMM integration tests: batched raw eth_calls to QuoterV2 and Router02."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from oms_chain.devnet.artifacts import load_protocol_artifact
from oms_chain.devnet.deploy import ERC20_ABI
from oms_chain.devnet.world import DevnetChain

WETH_DEPOSIT_ABI = [
    {
        "type": "function",
        "name": "deposit",
        "stateMutability": "payable",
        "inputs": [],
        "outputs": [],
    }
]


def _type_str(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_type_str(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return str(param["type"])


class RawContract:
    """Encodes calls from an artifact ABI with eth-abi and decodes results (no web3 layers)."""

    def __init__(self, name: str, address: str) -> None:
        self.address = address
        self._fns: dict[str, tuple[bytes, list[str], list[str]]] = {}
        for item in load_protocol_artifact(name).abi:
            if item.get("type") != "function":
                continue
            ins = [_type_str(p) for p in item["inputs"]]
            outs = [_type_str(p) for p in item["outputs"]]
            selector = keccak(text=f"{item['name']}({','.join(ins)})")[:4]
            self._fns[item["name"]] = (selector, ins, outs)

    def call_data(self, fn: str, *args: Any) -> str:
        selector, ins, _ = self._fns[fn]
        return "0x" + (selector + abi_encode(ins, list(args))).hex()

    def decode(self, fn: str, result_hex: str) -> tuple[Any, ...]:
        return tuple(abi_decode(self._fns[fn][2], bytes.fromhex(result_hex[2:])))


def batch_call(
    chain: DevnetChain,
    contract: RawContract,
    calls: Sequence[tuple[str, tuple[Any, ...]]],
    chunk: int = 500,
) -> list[tuple[Any, ...] | None]:
    """eth_call every ``(function, args)`` at the latest block; ``None`` where the call reverts."""
    block = hex(chain.w3.eth.block_number)
    out: list[tuple[Any, ...] | None] = []
    for start in range(0, len(calls), chunk):
        part = calls[start : start + chunk]
        requests = [
            ("eth_call", [{"to": contract.address, "data": contract.call_data(fn, *args)}, block])
            for fn, args in part
        ]
        responses = chain.w3.provider.make_batch_request(requests)  # type: ignore[attr-defined]
        assert isinstance(responses, list) and len(responses) == len(part)
        for (fn, _), response in zip(part, responses, strict=True):
            if "result" in response:
                out.append(contract.decode(fn, response["result"]))
            else:
                out.append(None)
    return out


def encode_path(tokens: Sequence[str], fees: Sequence[int]) -> bytes:
    """A Uniswap V3 path: token, fee (3 bytes), token, ..."""
    raw = bytes.fromhex(tokens[0][2:])
    for fee, token in zip(fees, tokens[1:], strict=True):
        raw += fee.to_bytes(3, "big") + bytes.fromhex(token[2:])
    return raw


def contract(chain: DevnetChain, name: str, address: str | None = None) -> Any:
    """A web3 contract from a protocol artifact, at its address-book address by default."""
    art = load_protocol_artifact(name)
    where = to_checksum_address(address) if address else chain.book.address(name)
    return chain.w3.eth.contract(address=where, abi=art.abi)


def erc20(chain: DevnetChain, symbol: str) -> Any:
    return chain.w3.eth.contract(address=chain.book.address(symbol), abi=ERC20_ABI)


def transact(chain: DevnetChain, fn: Any, sender: str, value: int = 0) -> Any:
    tx = fn.transact({"from": sender, "value": value})
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1
    return receipt


def token_at(chain: DevnetChain, address: str) -> Any:
    """An ERC-20 contract at ``address``."""
    return chain.w3.eth.contract(address=to_checksum_address(address), abi=ERC20_ABI)


def fund_with_weth(chain: DevnetChain, account: str, amount: int) -> None:
    """Wrap ``amount`` wei of ``account``'s ETH into WETH."""
    weth = chain.w3.eth.contract(address=chain.book.address("WETH"), abi=WETH_DEPOSIT_ABI)
    transact(chain, weth.functions.deposit(), account, value=amount)
