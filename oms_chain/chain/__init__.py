"""Chain layer: RPC clients (HTTP and websocket, with subscriptions), address books, chain
registry, fees, nonces, Chainlink-style oracle feeds, revert decoding, sending, and settlement
tracking through confirmations and reorgs."""

from oms_chain.chain.addressbook import (
    AddressBook,
    PoolEntry,
    TokenEntry,
    UnknownAddress,
    deployments_dir,
    load_address_book,
)
from oms_chain.chain.fees import FeeCapExceeded, FeeHistory, FeePolicy, FeeQuote, suggest_fees
from oms_chain.chain.nonces import NonceManager, NonceSync, StoreNonceJournal
from oms_chain.chain.oracle import (
    ANSWER_UPDATED_TOPIC,
    OracleAnswer,
    oracle_answers,
    read_latest_answer,
)
from oms_chain.chain.registry import ChainInfo, FinalityModel, chain_info, register_chain
from oms_chain.chain.revert import RevertReason, TransactionWouldRevert, decode_revert
from oms_chain.chain.rpc import RpcClient, RpcError, RpcUnavailable
from oms_chain.chain.sender import BroadcastRejected, BroadcastUncertain, SentTransaction, TxSender
from oms_chain.chain.tracker import (
    MalformedReceipt,
    SettlementReport,
    SettlementTracker,
    lookup_settlement,
    receipt_status,
)
from oms_chain.chain.types import Receipt
from oms_chain.chain.ws import Head, LogEntry, LogFilter, Subscription, WsRpcClient

__all__ = [
    "ANSWER_UPDATED_TOPIC",
    "AddressBook",
    "BroadcastRejected",
    "BroadcastUncertain",
    "ChainInfo",
    "FeeCapExceeded",
    "FeeHistory",
    "FeePolicy",
    "FeeQuote",
    "FinalityModel",
    "Head",
    "LogEntry",
    "LogFilter",
    "MalformedReceipt",
    "NonceManager",
    "NonceSync",
    "OracleAnswer",
    "PoolEntry",
    "Receipt",
    "RevertReason",
    "RpcClient",
    "RpcError",
    "RpcUnavailable",
    "SentTransaction",
    "SettlementReport",
    "SettlementTracker",
    "StoreNonceJournal",
    "Subscription",
    "TokenEntry",
    "TransactionWouldRevert",
    "TxSender",
    "UnknownAddress",
    "WsRpcClient",
    "chain_info",
    "decode_revert",
    "deployments_dir",
    "load_address_book",
    "lookup_settlement",
    "oracle_answers",
    "read_latest_answer",
    "receipt_status",
    "register_chain",
    "suggest_fees",
]
