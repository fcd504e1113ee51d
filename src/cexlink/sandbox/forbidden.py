"""The endpoints a platform must never reach: withdrawals, transfers, sub-account and API-key management, gift
cards and position moves, on each exchange's real path.

They exist so that tests can replay whatever the platform's Sign Center ever produced against them and show
that none is accepted. So each is checked exactly as the exchange checks it — the dialect's own authentication
(signature, key, IP whitelist, expiry), then the account, then the permission the family needs — and a call
that passes every check is *accepted*: recorded in the ledger (``Ledger.accepted``, listed by the admin API's
``GET /sandbox/v1/accepted``) and answered with a success body in the exchange's format. No balance moves:
the record is the point.

Permissions: a withdrawal needs the key's withdraw permission and a transfer its transfer permission, as the
exchanges do; the other families need a key that may trade (the documents name no narrower right the sandbox
models). A key without it gets the exchange's refusal: OKX 50120 and Bybit 10005 (their NO_PERMISSION rows), and
Binance -1002 "You are not authorized to execute this request.", which is what /sapi answers a key without the
withdrawal right (binance/binance-connector-js#82); its HTTP status is not documented, 401 is assumed here.
"""

from __future__ import annotations

import secrets
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from . import permissions
from .dialect import READ, TRADE, Call, Endpoint, ErrorSpec
from .rejects import Reason, Reject

if TYPE_CHECKING:
    from .dialect import Dialect

WITHDRAWAL, TRANSFER, SUB_ACCOUNT, API_KEY, GIFT_CARD, POSITION_MOVE = (
    "withdrawal", "transfer", "sub_account", "api_key", "gift_card", "position_move")
FAMILIES = (WITHDRAWAL, TRANSFER, SUB_ACCOUNT, API_KEY, GIFT_CARD, POSITION_MOVE)
# The permission (permissions.grants vocabulary) each family needs; the others need "trade".
NEEDS = {WITHDRAWAL: "withdraw", TRANSFER: "transfer"}
# Dialects whose refusal for a missing right differs from their NO_PERMISSION row.
NO_RIGHT = {"binance": ErrorSpec(401, -1002, "You are not authorized to execute this request.")}
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Ref:
    """What a success body may show besides the parameters: a fresh number, the time, the caller's key."""

    n: int
    now: int
    api_key: str

    def token(self, length: int, alphabet: str = string.ascii_letters + string.digits) -> str:
        return "".join(secrets.choice(alphabet) for _ in range(length))


Answer = Callable[[dict[str, Any], Ref], Any]


@dataclass(frozen=True)
class Row:
    path: str
    family: str
    required: tuple[str, ...]  # each refused as missing when absent or blank, with the exchange's code
    answer: Answer  # the success data, from the parameters (shaped as the exchange's documentation shows)
    amount: str | None = None  # the parameter that must be a positive decimal


def _s(p: dict[str, Any], name: str, default: str = "") -> str:
    value = p.get(name)
    return default if value is None else str(value)


def _okx_key(p: dict[str, Any], r: Ref) -> list[dict[str, Any]]:
    return [{"subAcct": _s(p, "subAcct"), "label": _s(p, "label"), "apiKey": str(uuid.uuid4()),
             "secretKey": r.token(32, "0123456789ABCDEF"), "passphrase": _s(p, "passphrase"),
             "perm": _s(p, "perm", "read_only"), "ip": _s(p, "ip"), "ts": str(r.now)}]


def _bybit_key(p: dict[str, Any], r: Ref, api_key: str | None = None, secret: bool = True) -> dict[str, Any]:
    return {"id": str(1_000_000 + r.n), "note": _s(p, "note"), "apiKey": api_key or r.token(18),
            "readOnly": p.get("readOnly", 0), "secret": r.token(36) if secret else "",
            "permissions": p.get("permissions") or {}, "ips": p.get("ips") or ["*"]}


def _binance_ip(p: dict[str, Any], r: Ref) -> dict[str, Any]:
    ips = [ip for ip in _s(p, "ipAddress").split(",") if ip]
    return {"status": _s(p, "status"), "ipList": ips, "updateTime": r.now, "apiKey": _s(p, "subAccountApiKey")}


def _okx_transfer(p: dict[str, Any], r: Ref) -> list[dict[str, Any]]:
    return [{"transId": str(754_147_000 + r.n), "ccy": _s(p, "ccy"), "clientId": _s(p, "clientId"),
             "from": _s(p, "from"), "amt": _s(p, "amt"), "to": _s(p, "to")}]


def _bybit_transfer(p: dict[str, Any], r: Ref) -> dict[str, Any]:
    return {"transferId": _s(p, "transferId"), "status": "SUCCESS"}


TABLES: dict[str, tuple[Row, ...]] = {
    # Binance spot wallet and sub-account API (binance-spot-api-docs, ccxt's sapi/sapiV2 tree).
    "binance": (
        Row("/sapi/v1/capital/withdraw/apply", WITHDRAWAL, ("coin", "address", "amount"),
            lambda p, r: {"id": r.token(32, "0123456789abcdef")}, "amount"),
        Row("/sapi/v1/asset/transfer", TRANSFER, ("type", "asset", "amount"),
            lambda p, r: {"tranId": 13_526_853_000 + r.n}, "amount"),
        Row("/sapi/v1/sub-account/universalTransfer", TRANSFER, ("fromAccountType", "toAccountType", "asset", "amount"),
            lambda p, r: {"tranId": 11_945_860_000 + r.n, "clientTranId": _s(p, "clientTranId")}, "amount"),
        Row("/sapi/v1/sub-account/transfer/subToMaster", TRANSFER, ("asset", "amount"),
            lambda p, r: {"txnId": str(2_966_662_000 + r.n)}, "amount"),
        Row("/sapi/v1/sub-account/virtualSubAccount", SUB_ACCOUNT, ("subAccountString",),
            lambda p, r: {"email": f"{_s(p, 'subAccountString')}_virtual@{r.token(8).lower()}noemail.com"}),
        # v1 was replaced by v2 (what ccxt calls); both are served, as old clients still send v1.
        Row("/sapi/v1/sub-account/subAccountApi/ipRestriction", API_KEY, ("email", "subAccountApiKey", "status"),
            _binance_ip),
        Row("/sapi/v2/sub-account/subAccountApi/ipRestriction", API_KEY, ("email", "subAccountApiKey", "status"),
            _binance_ip),
        Row("/sapi/v1/giftcard/createCode", GIFT_CARD, ("token", "amount"),
            lambda p, r: {"code": "000000", "message": "success", "success": True,
                          "data": {"referenceNo": f"{r.n:016d}", "code": r.token(16, string.ascii_uppercase
                                                                                  + string.digits),
                                   "expiredTime": r.now + 30 * DAY_MS}}, "amount"),
    ),
    # OKX v5 funding, sub-account and account API (docs-v5; paths as ccxt's private tree names them).
    "okx": (
        Row("/api/v5/asset/withdrawal", WITHDRAWAL, ("ccy", "amt", "dest", "toAddr"),
            lambda p, r: [{"amt": _s(p, "amt"), "wdId": str(67_485_000 + r.n), "ccy": _s(p, "ccy"),
                           "clientId": _s(p, "clientId"), "chain": _s(p, "chain")}], "amt"),
        Row("/api/v5/asset/transfer", TRANSFER, ("ccy", "amt", "from", "to"), _okx_transfer, "amt"),
        Row("/api/v5/asset/subaccount/transfer", TRANSFER,
            ("ccy", "amt", "from", "to", "fromSubAccount", "toSubAccount"),
            lambda p, r: [{"transId": str(754_147_000 + r.n)}], "amt"),
        Row("/api/v5/users/subaccount/create-subaccount", SUB_ACCOUNT, ("subAcct", "type"),
            lambda p, r: [{"subAcct": _s(p, "subAcct"), "label": _s(p, "label"), "acctLv": _s(p, "acctLv", "1"),
                           "uid": str(4_487_000_000_000_000 + r.n), "ts": str(r.now)}]),
        Row("/api/v5/users/subaccount/apikey", API_KEY, ("subAcct", "label", "passphrase"), _okx_key),
        Row("/api/v5/users/subaccount/modify-apikey", API_KEY, ("subAcct", "apiKey"),
            lambda p, r: [{"subAcct": _s(p, "subAcct"), "label": _s(p, "label"), "apiKey": _s(p, "apiKey"),
                           "perm": _s(p, "perm", "read_only"), "ip": _s(p, "ip"), "ts": str(r.now)}]),
        Row("/api/v5/users/subaccount/delete-apikey", API_KEY, ("subAcct", "apiKey"),
            lambda p, r: [{"subAcct": _s(p, "subAcct")}]),
        Row("/api/v5/account/move-positions", POSITION_MOVE, ("fromAcct", "toAcct", "legs", "clientId"),
            lambda p, r: [{"blockTdId": str(2_000_000_000 + r.n), "clientId": _s(p, "clientId"),
                           "state": "filled", "ts": str(r.now), "fromAcct": _s(p, "fromAcct"),
                           "toAcct": _s(p, "toAcct")}]),
    ),
    # Bybit v5 asset, user and position API (bybit-exchange/docs docs/v5).
    "bybit": (
        Row("/v5/asset/withdraw/create", WITHDRAWAL, ("coin", "address", "amount"),
            lambda p, r: {"id": str(10_195_000 + r.n)}, "amount"),
        Row("/v5/asset/transfer/inter-transfer", TRANSFER,
            ("transferId", "coin", "amount", "fromAccountType", "toAccountType"), _bybit_transfer, "amount"),
        Row("/v5/asset/transfer/universal-transfer", TRANSFER,
            ("transferId", "coin", "amount", "fromMemberId", "toMemberId", "fromAccountType", "toAccountType"),
            _bybit_transfer, "amount"),
        Row("/v5/user/create-sub-member", SUB_ACCOUNT, ("username", "memberType"),
            lambda p, r: {"uid": str(53_888_000 + r.n), "username": _s(p, "username"),
                          "memberType": p.get("memberType"), "status": 1, "remark": _s(p, "note")}),
        Row("/v5/user/create-sub-api", API_KEY, ("subuid", "readOnly", "permissions"), _bybit_key),
        Row("/v5/user/update-api", API_KEY, (), lambda p, r: _bybit_key(p, r, r.api_key, secret=False)),
        Row("/v5/user/delete-api", API_KEY, (), lambda p, r: {}),
        Row("/v5/position/move-positions", POSITION_MOVE, ("fromUid", "toUid", "list"),
            lambda p, r: {"blockTradeId": str(uuid.uuid4()), "status": "Processing", "rejectParty": ""}),
    ),
}


def endpoints(dialect: Dialect) -> list[Endpoint]:
    """The dialect's forbidden-family endpoints, authenticated as any private read is, then checked here."""
    return [Endpoint("POST", row.path, partial(accept, dialect, row), READ) for row in TABLES[dialect.name]]


def accept(dialect: Dialect, row: Row, call: Call) -> Any:
    key = call.key
    assert key is not None, "authenticated first"
    dialect.check_account(call, TRADE)  # an account barred from trading moves nothing either
    if not permissions.grants(dialect.name, key.permissions, NEEDS.get(row.family, "trade")):
        raise Reject(Reason.NO_PERMISSION, **({"spec": NO_RIGHT[dialect.name]} if dialect.name in NO_RIGHT else {}))
    params = dialect.request_params(call)
    for name in row.required:
        if params.get(name) is None or params.get(name) == "":
            raise Reject(Reason.MISSING_PARAM, param=name)
    if row.amount:
        dialect.decimal(params, row.amount, positive=True)
    answer = row.answer(params, Ref(len(dialect.ledger.accepted) + 1, dialect.ctx.now_ms(), key.api_key))
    recorded = {k: v for k, v in params.items() if k != "signature"}
    dialect.ledger.record_accepted(key, call.method, call.path, row.family, recorded, answer)
    return answer
