"""The sandbox's forbidden-family endpoints (withdrawals, transfers, sub-account and API-key management, gift
cards, position moves) over real HTTP with stock ccxt: a correctly signed call by a key with the right is
accepted and listed by the admin API; a wrong signature, a signature made for other parameters or another path
(where the exchange's scheme binds them) and a key without the right are refused with the exchange's own code
and listed nowhere. Binance and Bybit sign parameters only: a signature made for an order endpoint is accepted at
the withdrawal endpoint, as on the real exchanges — the attack the Sign Center must make impossible."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from cexlink.sandbox import forbidden
from cexlink.sandbox.clients import ccxt_client
from cexlink.sandbox.server import SandboxServer

NEEDS = {"withdraw": ["read", "spot", "withdraw"], "transfer": ["read", "spot", "transfer"], "trade": ["read", "spot"]}
# OKX grants transfers with its trade permission, so a key without the transfer right must not trade either.
LACKS = {"withdraw": ["read", "spot", "transfer"], "transfer": ["read", "withdraw"], "trade": ["read"]}
# The refusal for a key without the right: (HTTP status, code).
NO_RIGHT = {"binance": (401, -1002), "okx": (200, "50120"), "bybit": (200, 10005)}
BAD_SIGNATURE = {"binance": (400, -1022), "okx": (401, "50113"), "bybit": (200, 10004)}

# (exchange, path, ccxt implicit method, parameters): one case for every row of forbidden.TABLES.
CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("binance", "/sapi/v1/capital/withdraw/apply", "sapi_post_capital_withdraw_apply",
     {"coin": "BTC", "address": "bc1qattacker", "amount": "0.5", "network": "BTC"}),
    ("binance", "/sapi/v1/asset/transfer", "sapi_post_asset_transfer",
     {"type": "MAIN_UMFUTURE", "asset": "USDT", "amount": "100"}),
    ("binance", "/sapi/v1/sub-account/universalTransfer", "sapi_post_sub_account_universaltransfer",
     {"fromAccountType": "SPOT", "toAccountType": "SPOT", "asset": "USDT", "amount": "100",
      "toEmail": "x@example.org"}),
    ("binance", "/sapi/v1/sub-account/transfer/subToMaster", "sapi_post_sub_account_transfer_subtomaster",
     {"asset": "USDT", "amount": "100"}),
    ("binance", "/sapi/v1/sub-account/virtualSubAccount", "sapi_post_sub_account_virtualsubaccount",
     {"subAccountString": "mule"}),
    ("binance", "/sapi/v1/sub-account/subAccountApi/ipRestriction", "",
     {"email": "x@example.org", "subAccountApiKey": "k" * 64, "status": "1"}),
    ("binance", "/sapi/v2/sub-account/subAccountApi/ipRestriction",
     "sapiv2_post_sub_account_subaccountapi_iprestriction",
     {"email": "x@example.org", "subAccountApiKey": "k" * 64, "status": "2", "ipAddress": "10.0.0.1"}),
    ("binance", "/sapi/v1/giftcard/createCode", "sapi_post_giftcard_createcode", {"token": "USDT", "amount": "1000"}),
    ("okx", "/api/v5/asset/withdrawal", "private_post_asset_withdrawal",
     {"ccy": "BTC", "amt": "0.5", "dest": "4", "toAddr": "bc1qattacker", "chain": "BTC-Bitcoin"}),
    ("okx", "/api/v5/asset/transfer", "private_post_asset_transfer",
     {"ccy": "USDT", "amt": "100", "from": "18", "to": "6"}),
    ("okx", "/api/v5/asset/subaccount/transfer", "private_post_asset_subaccount_transfer",
     {"ccy": "USDT", "amt": "100", "from": "18", "to": "18", "fromSubAccount": "a", "toSubAccount": "b"}),
    ("okx", "/api/v5/users/subaccount/create-subaccount", "private_post_users_subaccount_create_subaccount",
     {"subAcct": "mule1", "type": "1", "label": "x"}),
    ("okx", "/api/v5/users/subaccount/apikey", "private_post_users_subaccount_apikey",
     {"subAcct": "mule1", "label": "k", "passphrase": "Pass-phrase1", "perm": "withdraw"}),
    ("okx", "/api/v5/users/subaccount/modify-apikey", "private_post_users_subaccount_modify_apikey",
     {"subAcct": "mule1", "apiKey": "00000000-0000-0000-0000-000000000000", "perm": "withdraw"}),
    ("okx", "/api/v5/users/subaccount/delete-apikey", "private_post_users_subaccount_delete_apikey",
     {"subAcct": "mule1", "apiKey": "00000000-0000-0000-0000-000000000000"}),
    ("okx", "/api/v5/account/move-positions", "private_post_account_move_positions",
     {"fromAcct": "0", "toAcct": "mule1", "clientId": "m1",
      "legs": [{"from": {"posId": "1", "sz": "1", "side": "sell"}, "to": {"posSide": "net"}}]}),
    ("bybit", "/v5/asset/withdraw/create", "private_post_v5_asset_withdraw_create",
     {"coin": "BTC", "chain": "BTC", "address": "bc1qattacker", "amount": "0.5", "timestamp": 1}),
    ("bybit", "/v5/asset/transfer/inter-transfer", "private_post_v5_asset_transfer_inter_transfer",
     {"transferId": "42c0cfb0-6bca-c242-bc76-4e6df6cbcb16", "coin": "USDT", "amount": "100",
      "fromAccountType": "UNIFIED", "toAccountType": "FUND"}),
    ("bybit", "/v5/asset/transfer/universal-transfer", "private_post_v5_asset_transfer_universal_transfer",
     {"transferId": "52c0cfb0-6bca-c242-bc76-4e6df6cbcb16", "coin": "USDT", "amount": "100",
      "fromMemberId": 1, "toMemberId": 2, "fromAccountType": "UNIFIED", "toAccountType": "UNIFIED"}),
    ("bybit", "/v5/user/create-sub-member", "private_post_v5_user_create_sub_member",
     {"username": "mule1", "memberType": 1}),
    ("bybit", "/v5/user/create-sub-api", "private_post_v5_user_create_sub_api",
     {"subuid": 53888000, "readOnly": 0, "permissions": {"Wallet": ["Withdraw"]}}),
    ("bybit", "/v5/user/update-api", "private_post_v5_user_update_api",
     {"readOnly": 0, "ips": "*", "permissions": {"Wallet": ["Withdraw"]}}),
    ("bybit", "/v5/user/delete-api", "private_post_v5_user_delete_api", {}),
    ("bybit", "/v5/position/move-positions", "private_post_v5_position_move_positions",
     {"fromUid": "1", "toUid": "2", "list": [{"category": "linear", "symbol": "BTCUSDT", "price": "100",
                                             "side": "Sell", "qty": "1"}]}),
]
ROWS = {(ex, row.path): row for ex, rows in forbidden.TABLES.items() for row in rows}


def need_of(exchange: str, path: str) -> str:
    return forbidden.NEEDS.get(ROWS[(exchange, path)].family, "trade")


def test_every_forbidden_endpoint_has_a_case() -> None:
    assert {(ex, path) for ex, path, _, _ in CASES} == set(ROWS)


def call(ex: Any, method: str, path: str, params: dict[str, Any]) -> Any:
    """Send through ccxt's implicit method; the one path ccxt has no method for (Binance's v1 ipRestriction,
    replaced by v2) is sent as ccxt signs it for v2, on the v1 path."""
    if method:
        return getattr(ex, method)(params)
    return send(ex, signed(ex, "sapiv2_post_sub_account_subaccountapi_iprestriction", params), path=path).json()


class _Captured(Exception):
    pass


def signed(ex: Any, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """The request ccxt would send for ``method``, signed with the key, captured at ccxt's transport instead of
    being sent: the bytes an attacker holding a signature would have."""
    captured: dict[str, Any] = {}

    def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        captured.update(method=method, url=url, headers=dict(headers or {}), body=body)
        raise _Captured

    ex.fetch = fetch
    try:
        getattr(ex, method)(params)
    except _Captured:
        pass
    finally:
        del ex.fetch
    return captured


def send(ex: Any, req: dict[str, Any], path: str | None = None, body: str | None = None,
         headers: dict[str, str] | None = None) -> httpx.Response:
    url = httpx.URL(req["url"])
    if path is not None:
        url = url.copy_with(path=path)
    return httpx.request(req["method"], url, content=req["body"] if body is None else body,
                         headers={**req["headers"], **(headers or {})})


def status_and_code(r: httpx.Response, exchange: str) -> tuple[int, Any]:
    body = r.json()
    return r.status_code, body["retCode"] if exchange == "bybit" else body["code"]


def accepted(admin: httpx.Client, api_key: str, **query: str) -> list[dict[str, Any]]:
    r = admin.get("/accepted", params=query)
    assert r.status_code == 200, r.text
    return [a for a in r.json() if a["api_key"] == api_key]


def ok(exchange: str, answer: Any) -> Any:
    """The success data inside the exchange's envelope (Binance has none)."""
    if exchange == "okx":
        assert answer["code"] == "0", answer
        return answer["data"]
    if exchange == "bybit":
        assert answer["retCode"] == 0, answer
        return answer["result"]
    return answer


@pytest.mark.parametrize(("exchange", "path", "method", "params"), CASES, ids=[f"{c[0]}{c[1]}" for c in CASES])
def test_a_signed_call_with_the_right_is_accepted_and_listed(sandbox: SandboxServer, admin: httpx.Client,
                                                             new_key: Any, exchange: str, path: str, method: str,
                                                             params: dict[str, Any]) -> None:
    key = new_key(exchange, permissions=NEEDS[need_of(exchange, path)])
    ex = ccxt_client(exchange, sandbox.url, key)
    data = ok(exchange, call(ex, method, path, params))
    family = ROWS[(exchange, path)].family
    listed = accepted(admin, key["api_key"], exchange=exchange, family=family)
    assert [(a["path"], a["method"], a["uid"]) for a in listed] == [(path, "POST", key["uid"])]
    assert listed[0]["answer"] == data
    for name, value in params.items():  # the parameters as sent (Binance's form values are all text)
        assert listed[0]["params"][name] == (str(value) if exchange == "binance" else value)
    assert "signature" not in listed[0]["params"]
    assert key["secret"] not in str(listed)


@pytest.mark.parametrize(("exchange", "path", "method", "params"), [c for c in CASES if c[2]],
                         ids=[f"{c[0]}{c[1]}" for c in CASES if c[2]])
def test_a_key_without_the_right_is_refused_and_not_listed(sandbox: SandboxServer, admin: httpx.Client,
                                                           new_key: Any, exchange: str, path: str, method: str,
                                                           params: dict[str, Any]) -> None:
    key = new_key(exchange, permissions=LACKS[need_of(exchange, path)])
    ex = ccxt_client(exchange, sandbox.url, key)
    r = send(ex, signed(ex, method, params))
    assert status_and_code(r, exchange) == NO_RIGHT[exchange], r.text
    assert accepted(admin, key["api_key"]) == []


WITHDRAWALS = [c for c in CASES if ROWS[(c[0], c[1])].family == forbidden.WITHDRAWAL]
TRANSFERS = {c[0]: c for c in CASES if ROWS[(c[0], c[1])].family == forbidden.TRANSFER}


@pytest.mark.parametrize(("exchange", "path", "method", "params"), WITHDRAWALS, ids=[c[0] for c in WITHDRAWALS])
def test_a_wrong_or_misplaced_signature_is_refused_and_not_listed(sandbox: SandboxServer, admin: httpx.Client,
                                                                  new_key: Any, exchange: str, path: str,
                                                                  method: str, params: dict[str, Any]) -> None:
    key = new_key(exchange, permissions=NEEDS["withdraw"] + ["transfer"])
    ex = ccxt_client(exchange, sandbox.url, key)
    # A transfer the key may make, signed by ccxt and accepted: the material an attacker would hold.
    _, t_path, t_method, t_params = TRANSFERS[exchange]
    req = signed(ex, t_method, t_params)
    assert send(ex, req).status_code == 200
    body = req["body"]
    attempts: list[httpx.Response] = []
    if exchange == "binance":
        sig = body.rsplit("signature=", 1)[1]
        attempts.append(send(ex, req, body=body.replace(sig, sig[::-1])))  # a wrong signature
        attempts.append(send(ex, req, body=body.replace("amount=100", "amount=900")))  # signed for other params
    elif exchange == "okx":
        sig = req["headers"]["OK-ACCESS-SIGN"]
        attempts.append(send(ex, req, headers={"OK-ACCESS-SIGN": sig[:-6] + "AAAAA="}))
        attempts.append(send(ex, req, body=body.replace('"100"', '"900"')))
        # OKX signs the path: the transfer's signature is no good at the withdrawal path, even with a body
        # that would be a valid withdrawal.
        attempts.append(send(ex, req, path=path))
    else:
        sig = req["headers"]["X-BAPI-SIGN"]
        attempts.append(send(ex, req, headers={"X-BAPI-SIGN": sig[::-1]}))
        attempts.append(send(ex, req, body=body.replace('"100"', '"900"')))
    for r in attempts:
        assert status_and_code(r, exchange) == BAD_SIGNATURE[exchange], r.text
    assert [a["path"] for a in accepted(admin, key["api_key"])] == [t_path]


# Binance and Bybit sign the parameters, not the path: a request signed for an order endpoint, carrying a
# withdrawal's parameters, is a valid withdrawal. The sandbox must reproduce this exactly as the exchanges do,
# or the Sign Center's replay tests would prove nothing.
PARAM_ONLY = {
    "binance": ("sapi_post_capital_withdraw_apply", "private_post_order_test",
                {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}),
    "bybit": ("private_post_v5_asset_withdraw_create", "private_post_v5_order_create",
              {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "1"}),
}


@pytest.mark.parametrize("exchange", sorted(PARAM_ONLY))
def test_a_signature_for_an_order_endpoint_is_a_withdrawal_where_only_params_are_signed(
        sandbox: SandboxServer, admin: httpx.Client, new_key: Any, exchange: str) -> None:
    key = new_key(exchange, permissions=NEEDS["withdraw"])
    ex = ccxt_client(exchange, sandbox.url, key)
    _, order_method, order_params = PARAM_ONLY[exchange]
    withdrawal = {"coin": "BTC", "address": "bc1qattacker", "amount": "0.5"}
    req = signed(ex, order_method, {**order_params, **withdrawal})
    target = next(c[1] for c in WITHDRAWALS if c[0] == exchange)
    r = send(ex, req, path=target)
    assert r.status_code == 200, r.text
    assert [a["path"] for a in accepted(admin, key["api_key"], family="withdrawal")] == [target]


def test_the_listing_filters_and_names_a_bad_filter(admin: httpx.Client) -> None:
    for query, field in (({"exchange": "kraken"}, "exchange"), ({"family": "withdrawals"}, "family")):
        r = admin.get("/accepted", params=query)
        assert (r.status_code, r.json()["field"]) == (422, field)
    listed = admin.get("/accepted", params={"exchange": "okx", "family": "transfer"}).json()
    assert all(a["exchange"] == "okx" and a["family"] == "transfer" for a in listed)
    ids = [a["id"] for a in admin.get("/accepted").json()]
    assert ids == sorted(ids)  # newest last


def test_accepted_calls_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.json"
    first = SandboxServer(state_file=state).start()
    try:
        key = httpx.post(first.url + "/sandbox/v1/keys", json={"exchange": "bybit",
                                                               "permissions": NEEDS["withdraw"]}).json()
        ccxt_client("bybit", first.url, key).private_post_v5_asset_withdraw_create(
            {"coin": "BTC", "address": "bc1qattacker", "amount": "0.5"})
        before = httpx.get(first.url + "/sandbox/v1/accepted").json()
    finally:
        first.stop()
    second = SandboxServer(state_file=state).start()
    try:
        assert httpx.get(second.url + "/sandbox/v1/accepted").json() == before
        assert before[0]["path"] == "/v5/asset/withdraw/create"
    finally:
        second.stop()
