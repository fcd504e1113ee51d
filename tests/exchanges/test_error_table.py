"""The error table, code by code, over synthetic bodies: every documented key, signature, timestamp, IP,
permission, ban and rate-limit code of Binance, OKX, Bybit (plus KuCoin and Kraken), every row of the table,
every error body the sandbox can send, and the rule that transient errors never mark a key bad."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import ccxt
import httpx
import pytest
import requests

from cexlink.domain.statuses import STATUS_INFO, Status, is_transient, render
from cexlink.errors import SignerRefused, SignerUnavailable
from cexlink.exchanges.classify import classify
from cexlink.exchanges.error_table import TABLE, Row
from cexlink.sandbox import binance, bybit, okx, okx_params
from cexlink.sandbox.dialect import ErrorSpec

S = Status


def body(exchange: str, code: str | None, message: str | None = None) -> str:
    """The exchange's own error envelope around ``code`` and ``message``."""
    msg = message or "error"
    shapes: dict[str, Any] = {
        "binance": lambda: {"code": int(code) if code else 0, "msg": msg},
        "okx": lambda: {"code": code, "msg": msg, "data": []},
        "bybit": lambda: {"retCode": int(code) if code else 0, "retMsg": msg, "result": {}, "retExtInfo": {}},
        "kucoin": lambda: {"code": code, "msg": msg},
        "kraken": lambda: {"error": [code or msg], "result": {}},
    }
    return json.dumps(shapes[exchange]())


# (exchange, HTTP status, code, message, expected status) — the documented codes (reference §2-§6, the
# exchanges' error pages) with an expectation written independently of the table.
DOCUMENTED: list[tuple[str, int | None, str, str | None, Status]] = [
    # Binance spot (errors.md; reference §3.5)
    ("binance", 400, "-1002", "You are not authorized to execute this request.", S.INVALID_API_KEY),
    ("binance", 429, "-1003", "Too much request weight used; current limit is 6000 request weight per 1 MINUTE.",
     S.RATE_LIMITED),
    ("binance", 418, "-1003", "Way too much request weight used; IP banned until 1700000000000.", S.RATE_LIMITED),
    ("binance", 429, "-1015", "Too many new orders; current limit is 100 orders per 10 SECOND.", S.RATE_LIMITED),
    ("binance", 400, "-1021", "Timestamp for this request is outside of the recvWindow.", S.CLOCK_SKEW),
    ("binance", 400, "-1021", "Timestamp for this request was 1000ms ahead of the server's time.", S.CLOCK_SKEW),
    ("binance", 400, "-1022", "Signature for this request is not valid.", S.INVALID_API_KEY),
    ("binance", 400, "-1131", "recvWindow must be less than 60000", S.UNKNOWN),
    ("binance", 400, "-2008", "Invalid Api-Key ID.", S.INVALID_API_KEY),
    ("binance", 401, "-2014", "API-key format invalid.", S.INVALID_API_KEY),
    ("binance", 401, "-2015", "Invalid API-key, IP, or permissions for action.", S.INVALID_API_KEY),
    ("binance", 401, "-2015", "Invalid API-key, IP, or permissions for action, request ip: 1.2.3.4",
     S.INVALID_API_KEY),
    ("binance", 400, "-2010", "Rest API trading is not enabled.", S.AGREEMENT_REQUIRED),
    ("binance", 400, "-2010", "This account may not place or cancel orders.", S.ACCOUNT_SUSPENDED),
    ("binance", 400, "-2011", "This account may not place or cancel orders.", S.ACCOUNT_SUSPENDED),
    ("binance", 400, "-2010", "This action is disabled on this account.", S.ACCOUNT_SUSPENDED),
    ("binance", 400, "-2010", "This symbol is not permitted for this account.", S.ACCOUNT_SUSPENDED),
    ("binance", 400, "-2010", "Account has insufficient balance for requested action.", S.OK),
    ("binance", 400, "-2010", "Duplicate order sent.", S.OK),
    ("binance", 400, "-2010", "Market is closed.", S.OK),
    ("binance", 400, "-2011", "Unknown order sent.", S.OK),
    ("binance", 400, "-2013", "Order does not exist.", S.OK),
    ("binance", 400, "-1013", "Filter failure: LOT_SIZE", S.OK),
    ("binance", 400, "-1121", "Invalid symbol.", S.OK),
    ("binance", 400, "-1102", "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.", S.UNKNOWN),
    ("binance", 400, "-1102", "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.", S.OK),
    ("binance", 451, "0", "Service unavailable from a restricted location according to 'b. Eligibility'.",
     S.ACCOUNT_SUSPENDED),
    ("binance", 503, "1", "System is under maintenance.", S.EXCHANGE_MAINTENANCE),
    ("binance", 500, "-1001", "Internal error; unable to process your request. Please try again.",
     S.EXCHANGE_UNAVAILABLE),
    ("binance", 400, "-1016", "This service is no longer available.", S.EXCHANGE_UNAVAILABLE),
    ("binance", 400, "-3022", "You account's trading is banned.", S.ACCOUNT_SUSPENDED),
    # OKX v5 (docs-v5 "Error Code"; reference §4)
    ("okx", 400, "50100", "API frozen, please contact customer service.", S.ACCOUNT_SUSPENDED),
    ("okx", 401, "50101", "APIKey does not match current environment.", S.INVALID_API_KEY),
    ("okx", 401, "50102", "Timestamp request expired.", S.CLOCK_SKEW),
    ("okx", 401, "50103", 'Request header "OK-ACCESS-KEY" cannot be empty.', S.INVALID_API_KEY),
    ("okx", 401, "50104", 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.', S.INVALID_API_KEY),
    ("okx", 401, "50105", 'Request header "OK-ACCESS-PASSPHRASE" incorrect.', S.INVALID_API_KEY),
    ("okx", 401, "50106", 'Request header "OK-ACCESS-SIGN" cannot be empty.', S.UNKNOWN),
    ("okx", 401, "50107", 'Request header "OK-ACCESS-TIMESTAMP" cannot be empty.', S.UNKNOWN),
    ("okx", 401, "50110", "Your IP 1.2.3.4 is not included in your API key's IP whitelist.", S.IP_NOT_WHITELISTED),
    ("okx", 401, "50111", "Invalid OK-ACCESS-KEY.", S.INVALID_API_KEY),
    ("okx", 401, "50112", "Invalid OK-ACCESS-TIMESTAMP.", S.UNKNOWN),
    ("okx", 401, "50113", "Invalid signature.", S.INVALID_API_KEY),
    ("okx", 401, "50114", "Invalid authorization.", S.INVALID_API_KEY),
    ("okx", 401, "50119", "API key doesn't exist", S.INVALID_API_KEY),
    ("okx", 200, "50120", "This API key doesn't have permission to use this function", S.INSUFFICIENT_PERMISSIONS),
    ("okx", 200, "50121", "You can't access OKX with the IP 1.2.3.4", S.ACCOUNT_SUSPENDED),
    ("okx", 403, "50035", "This endpoint requires that APIKey must be bound to IP", S.IP_NOT_WHITELISTED),
    ("okx", 429, "50011", "Too Many Requests", S.RATE_LIMITED),
    ("okx", 503, "50001", "Service temporarily unavailable. Please try again later.", S.EXCHANGE_MAINTENANCE),
    ("okx", 500, "50026", "System error. Try again later", S.EXCHANGE_UNAVAILABLE),
    ("okx", 503, "50013", "Systems are busy. Please try again later.", S.EXCHANGE_UNAVAILABLE),
    ("okx", 200, "50007", "Account blocked.", S.ACCOUNT_SUSPENDED),
    ("okx", 200, "51155", "You can't trade this pair or borrow this crypto due to local compliance restrictions.",
     S.ACCOUNT_SUSPENDED),
    ("okx", 200, "4088", "You can't trade or deposit until you've verified your identity again.",
     S.ACCOUNT_SUSPENDED),
    ("okx", 200, "51008", "Order failed. Insufficient USDT balance in account.", S.OK),
    # Bybit v5 (docs/v5/error.mdx; reference §5)
    ("bybit", 200, "10002", "invalid request, please check your server timestamp or recv_window param.",
     S.CLOCK_SKEW),
    ("bybit", 401, "10003", "API key is invalid.", S.INVALID_API_KEY),
    ("bybit", 200, "10004", "error sign! origin_string[1700000000000somekey5000category=spot]", S.INVALID_API_KEY),
    ("bybit", 200, "10005", "Permission denied, please check your API key permissions.",
     S.INSUFFICIENT_PERMISSIONS),
    ("bybit", 200, "10006", "Too many visits!", S.RATE_LIMITED),
    ("bybit", 401, "10007", "User authentication failed.", S.INVALID_API_KEY),
    ("bybit", 200, "10008", "Common banned, please check your account mode", S.ACCOUNT_SUSPENDED),
    ("bybit", 403, "10009", "IP has been banned.", S.ACCOUNT_SUSPENDED),
    ("bybit", 200, "10010", "Unmatched IP, please check your API key's bound IP addresses.", S.IP_NOT_WHITELISTED),
    ("bybit", 503, "10016", "Server error.", S.EXCHANGE_UNAVAILABLE),
    ("bybit", 404, "10017", "Route not found.", S.UNKNOWN),
    ("bybit", 403, "10018", "Exceeded the IP Rate Limit.", S.RATE_LIMITED),
    ("bybit", 200, "10024", "Compliance rules triggered", S.ACCOUNT_SUSPENDED),
    ("bybit", 200, "10027", "Transactions are banned.", S.ACCOUNT_SUSPENDED),
    ("bybit", 200, "10028", "The API can only be accessed by unified account users.", S.INSUFFICIENT_PERMISSIONS),
    ("bybit", 200, "33004", "Your api key has expired.", S.KEY_EXPIRED),
    ("bybit", 200, "-2015", "Your api key has expired.", S.KEY_EXPIRED),
    ("bybit", 200, "170209", "This trading pair is only available to the Brunei region.", S.ACCOUNT_SUSPENDED),
    ("bybit", 200, "170131", "Insufficient balance.", S.OK),
    # KuCoin (reference §6)
    ("kucoin", 401, "400001", "Any of KC-API-KEY, KC-API-SIGN, KC-API-TIMESTAMP, KC-API-PASSPHRASE is missing",
     S.INVALID_API_KEY),
    ("kucoin", 401, "400002", "KC-API-TIMESTAMP Invalid", S.CLOCK_SKEW),
    ("kucoin", 401, "400003", "KC-API-KEY not exists", S.INVALID_API_KEY),
    ("kucoin", 401, "400004", "KC-API-PASSPHRASE error", S.INVALID_API_KEY),
    ("kucoin", 401, "400005", "Signature error", S.INVALID_API_KEY),
    ("kucoin", 401, "400006", "The requested ip address is not in the api whitelist", S.IP_NOT_WHITELISTED),
    ("kucoin", 401, "400007", "Access Denied", S.INSUFFICIENT_PERMISSIONS),
    ("kucoin", 403, "411100", "User are frozen", S.ACCOUNT_SUSPENDED),
    ("kucoin", 429, "429000", "Too many requests. System-level rate limit exceeded.", S.RATE_LIMITED),
    # Kraken (reference §6)
    ("kraken", 200, "EAPI:Invalid key", None, S.INVALID_API_KEY),
    ("kraken", 200, "EAPI:Invalid signature", None, S.INVALID_API_KEY),
    ("kraken", 200, "EAPI:Invalid nonce", None, S.CLOCK_SKEW),
    ("kraken", 200, "EGeneral:Permission denied", None, S.INSUFFICIENT_PERMISSIONS),
    ("kraken", 200, "ETrade:User Locked", None, S.ACCOUNT_SUSPENDED),
    ("kraken", 200, "EAPI:Rate limit exceeded", None, S.RATE_LIMITED),
    ("kraken", 200, "EGeneral:Temporary lockout", None, S.RATE_LIMITED),
    ("kraken", 200, "EService:Unavailable", None, S.EXCHANGE_UNAVAILABLE),
    ("kraken", 200, "EOrder:Trading agreement required", None, S.AGREEMENT_REQUIRED),
]


@pytest.mark.parametrize(("exchange", "http", "code", "message", "status"), DOCUMENTED,
                         ids=[f"{c[0]}:{c[2]}:{i}" for i, c in enumerate(DOCUMENTED)])
def test_documented_code(exchange: str, http: int | None, code: str, message: str | None, status: Status) -> None:
    got = classify(exchange, http_status=http, body=body(exchange, code, message))
    assert got.status is status, got
    assert got.http_status == http
    # The same answer arriving as a ccxt exception whose message carries the body (no body handed over).
    alone = classify(exchange, ccxt.ExchangeError(f"{exchange} {body(exchange, code, message)}"), http_status=http)
    assert alone.status is status, alone


def test_binance_2015_is_ambiguous_and_other_key_codes_are_not() -> None:
    assert classify("binance", http_status=401, body=body("binance", "-2015")).ambiguous
    assert not classify("binance", http_status=400, body=body("binance", "-1022")).ambiguous
    assert not classify("okx", http_status=401, body=body("okx", "50113")).ambiguous


def _row_id(row: Row) -> str:
    return f"{row.exchange}:{row.code or row.message or row.ccxt or row.http}:{row.cause}"


def _exception_named(name: str) -> BaseException:
    others: dict[str, type[BaseException]] = {
        "ConnectionError": requests.ConnectionError, "TimeoutError": TimeoutError,
        "ClientConnectionError": aiohttp.ClientConnectionError, "ConnectError": httpx.ConnectError,
        "TimeoutException": httpx.TimeoutException, "SignerUnavailable": SignerUnavailable,
    }
    if name == "SignerRefused":
        return SignerRefused("endpoint_not_allowed", "no")
    cls = others.get(name) or getattr(ccxt, name)
    return cls("boom")


def _case_for(row: Row) -> tuple[str, BaseException | None, int | None, str | None]:
    """(exchange, error, http, body) that this very row, and no more specific one, should answer."""
    exchange = "binance" if row.exchange == "*" else row.exchange
    http = row.http.start if isinstance(row.http, range) else row.http
    if row.exchange == "sign_center":
        err = SignerRefused(row.code, "no") if row.code else _exception_named(row.ccxt or "")
        return "okx", err, None, None
    if row.ccxt is not None:
        return exchange, _exception_named(row.ccxt), None, None
    if row.code is None and row.message is None:
        return exchange, None, http, "<html>Forbidden</html>"
    return exchange, None, http, body(exchange, row.code, row.message)


@pytest.mark.parametrize("row", TABLE, ids=[_row_id(r) for r in TABLE])
def test_every_row_is_reachable(row: Row) -> None:
    exchange, error, http, raw = _case_for(row)
    got = classify(exchange, error, http_status=http, body=raw)
    assert (got.status, got.cause, got.ambiguous) == (row.status, row.cause.format(code=got.code or "unknown"),
                                                      row.ambiguous), got


def test_rows_are_unique_and_render() -> None:
    keys = [(r.exchange, r.code, r.message, r.http, r.ccxt) for r in TABLE]
    assert len(keys) == len(set(keys))
    for row in TABLE:
        message, remedy = render(row.status, "Binance", ["203.0.113.7"], detail=row.cause.format(code="x"))
        assert message and remedy and "{" not in message + remedy
        assert row.cause and " " not in row.cause
    for status in Status:
        assert STATUS_INFO[status].message and STATUS_INFO[status].remedy


def _sandbox_specs() -> list[tuple[str, ErrorSpec]]:
    """Every (exchange, ErrorSpec) the sandbox's dialects can answer with: their tables and their one-off rows."""
    found: list[tuple[str, ErrorSpec]] = []
    for name, module in (("binance", binance), ("okx", okx), ("okx", okx_params), ("bybit", bybit)):
        table = getattr(module, "ERRORS", {})
        specs = [*table.values(), *(v for v in vars(module).values() if isinstance(v, ErrorSpec))]
        found += [(name, spec) for spec in dict.fromkeys(specs)]
    found.append(("binance", ErrorSpec(400, -2011, binance.ERRORS[binance.Reason.ACCOUNT_SUSPENDED].msg)))
    return found


SANDBOX_SPECS = _sandbox_specs()


@pytest.mark.parametrize(("exchange", "spec"), SANDBOX_SPECS,
                         ids=[f"{e}:{s.http}:{s.code}:{s.msg[:24]}" for e, s in SANDBOX_SPECS])
def test_every_sandbox_error_body_has_a_row(exchange: str, spec: ErrorSpec) -> None:
    raw = json.dumps({"binance": {"code": spec.code, "msg": spec.msg},
                      "okx": {"code": spec.code, "msg": spec.msg, "data": []},
                      "bybit": {"retCode": spec.code, "retMsg": spec.msg, "result": {}}}[exchange])
    got = classify(exchange, http_status=spec.http, body=raw)
    assert got.cause != "unrecognised", (exchange, spec, got)


# ---- transient statuses never mark a key bad ----

TRANSIENT = {S.EXCHANGE_MAINTENANCE, S.RATE_LIMITED, S.CLOCK_SKEW, S.EXCHANGE_UNAVAILABLE, S.UNKNOWN}


def test_transient_statuses_are_exactly_these() -> None:
    assert {s for s in Status if is_transient(s)} == TRANSIENT


def _ccxt_classes() -> list[type[BaseException]]:
    return [c for c in vars(ccxt).values() if isinstance(c, type) and issubclass(c, ccxt.BaseError)]


@pytest.mark.parametrize("cls", [c for c in _ccxt_classes() if issubclass(c, ccxt.NetworkError)],
                         ids=lambda c: c.__name__)
def test_every_ccxt_network_error_is_transient(cls: type[BaseException]) -> None:
    got = classify("binance", cls("binance GET https://api.binance.com/api/v3/account"))
    assert got.transient and not got.key_fault, got


@pytest.mark.parametrize("error", [requests.ConnectionError("refused"), TimeoutError(), httpx.ConnectError("x"),
                                   aiohttp.ClientConnectionError("x"), SignerUnavailable("socket gone")],
                         ids=lambda e: type(e).__name__)
def test_transport_failures_are_transient(error: BaseException) -> None:
    got = classify("okx", error)
    assert got.status in (S.EXCHANGE_UNAVAILABLE, S.UNKNOWN) and got.transient


def test_a_network_failure_never_borrows_an_older_body() -> None:
    """ccxt raised NetworkError from a socket error: the instance's last body (a key refusal) is not its cause."""
    try:
        try:
            raise requests.ConnectionError("connection reset")
        except requests.ConnectionError as e:
            raise ccxt.NetworkError("binance GET https://api.binance.com/api/v3/account") from e
    except ccxt.NetworkError as err:
        got = classify("binance", err, http_status=401, body=body("binance", "-2015"))
    assert got.status is S.EXCHANGE_UNAVAILABLE and got.transient


@pytest.mark.parametrize("row", [r for r in TABLE if r.cause in {"network", "timeout", "rate_limit", "maintenance",
                                                                     "too_many_requests", "server_error"}],
                         ids=_row_id)
def test_transient_causes_map_to_transient_statuses(row: Row) -> None:
    assert is_transient(row.status)


# ---- Sign Center ----

def test_signer_refusals() -> None:
    revoked = classify("binance", SignerRefused("credential_revoked", "revoked at 12:00"))
    assert (revoked.status, revoked.cause, revoked.transient) == (S.REVOKED, "credential_revoked", False)
    other = classify("binance", SignerRefused("endpoint_not_allowed", "withdraw"))
    assert (other.status, other.cause) == (S.UNKNOWN, "endpoint_not_allowed")
    down = classify("binance", SignerUnavailable("no socket"))
    assert (down.status, down.cause) == (S.UNKNOWN, "sign_center_unavailable")


def test_signer_refusal_seen_through_the_remote_ccxt_classes() -> None:
    """cexlink.ccxt turns a refusal into SignCenterRefused, a ccxt.PermissionDenied carrying the reason and
    chained: still REVOKED, not a permission. Text alone is not evidence: nobody parses messages back."""
    from cexlink.ccxt import SignCenterRefused

    try:
        try:
            raise SignerRefused("credential_revoked", "revoked")
        except SignerRefused as refused:
            raise SignCenterRefused("binance", refused.reason, refused.message) from refused
    except ccxt.PermissionDenied as err:
        assert isinstance(err, SignCenterRefused) and err.reason == "credential_revoked"
        assert type(err.__cause__) is SignerRefused  # chained, not `from None`
        assert classify("binance", err).status is S.REVOKED
        assert str(err) == "binance Sign Center refused: credential_revoked: revoked"
    lookalike = ccxt.PermissionDenied("binance Sign Center refused: credential_revoked: revoked")
    assert classify("binance", lookalike).status is S.INSUFFICIENT_PERMISSIONS


def test_a_signer_outage_under_a_network_error_is_the_sign_center() -> None:
    try:
        try:
            try:
                raise SignerUnavailable("socket gone")
            except SignerUnavailable as e:
                raise requests.ConnectionError(str(e)) from None
        except requests.ConnectionError as e:
            raise ccxt.NetworkError("okx GET http://x") from e
    except ccxt.NetworkError as err:
        got = classify("okx", err)
    assert (got.status, got.cause) == (S.UNKNOWN, "sign_center_unavailable")


# ---- evidence ----

def test_messages_never_echo_key_material() -> None:
    api_key = "Zq3kV9xR2mN7pL4tH8wB1cF6yJ0sD5gA"
    got = classify("bybit", body=body("bybit", "10004", f"error sign! origin_string[1700000000000{api_key}5000]"))
    assert api_key not in (got.exchange_message or "") and api_key not in " ".join(got.render("Bybit"))
    leaked = classify("okx", body=body("okx", "50113", f"bad key {api_key}"))
    assert api_key not in (leaked.exchange_message or "")


def test_http_status_read_from_ccxt_messages() -> None:
    err = ccxt.ExchangeNotAvailable('binance GET https://api.binance.com/api/v3/account 451  {"code":0,"msg":"x"}')
    got = classify("binance", err)
    assert (got.http_status, got.status) == (451, S.ACCOUNT_SUSPENDED)
    got = classify("binance", ccxt.DDoSProtection('binance 418 I\'m a teapot {"code":-1003,"msg":"banned"}'))
    assert (got.http_status, got.status, got.cause) == (418, S.RATE_LIMITED, "ip_banned")


def test_okx_per_order_code_wins_over_the_outer_one() -> None:
    raw = json.dumps({"code": "1", "msg": "", "data": [{"sCode": "51155", "sMsg": "compliance"}]})
    assert classify("okx", http_status=200, body=raw).status is S.ACCOUNT_SUSPENDED


def test_aliases_and_unknown_answers() -> None:
    assert classify("binanceusdm", body=body("binance", "-2015")).status is S.INVALID_API_KEY
    assert classify("myokx", body=body("okx", "50110")).status is S.IP_NOT_WHITELISTED
    nothing = classify("binance", http_status=400, body=body("binance", "-9999", "odd"))
    assert (nothing.status, nothing.cause, nothing.code) == (S.UNKNOWN, "unrecognised", "-9999")
    assert classify("gate").status is S.UNKNOWN


def test_render_carries_what_the_exchange_said() -> None:
    got = classify("okx", http_status=200, body=body("okx", "50007", "Account blocked."))
    message, remedy = got.render("OKX")
    assert "50007: Account blocked." in message and "OKX" in remedy
