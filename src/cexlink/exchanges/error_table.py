"""The one error table: (exchange, HTTP status, exchange code or message, ccxt class) → connection status.

A row matches when every field it sets matches what the exchange sent; ``classify()`` picks the most specific
matching row (see classify.py). Statuses carry the user message and remedy (``domain.statuses.STATUS_INFO``);
``cause`` is a short machine word for logs, events and tests.

Refusals of the *request* rather than the key or account (insufficient balance, filters, unknown order, bad
parameter) map to ``Status.OK``: the connection works, the cause says what was wrong with the request.
Errors that come from our own side of the wire (a signature or timestamp header not sent, a recvWindow over the
cap, an unknown route) map to ``UNKNOWN``: never the user's key.

Sources, cited per doubtful row: [errors.md] binance-spot-api-docs errors.md; [okx] okx.com/docs-v5/en/
#error-code-rest-api; [bybit] bybit-exchange/docs docs/v5/error.mdx; [kucoin] Kucoin kucoin-api-docs error
table; [kraken] support.kraken.com 360001491786 "API error messages"; [ccxt] ccxt 4.5.90 python/ccxt/<id>.py
``exceptions``; [ref] /work/shared/reference/exchanges.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..domain.statuses import Status

__all__ = ["ALIASES", "ANY", "BN", "BY", "KC", "KR", "OX", "SIGNER", "TABLE", "Row"]  # the row builders too

S = Status


@dataclass(frozen=True, kw_only=True)
class Row:
    exchange: str  # ccxt id of the exchange family, "*" for any, "sign_center" for our own signer
    status: Status
    cause: str  # "{code}" is replaced by the code seen (signer refusals carry their reason there)
    code: str | None = None  # the exchange's code as text: Binance "-2015", OKX "50113", Kraken "EAPI:Invalid key"
    http: int | range | None = None
    message: str | None = None  # case-insensitive substring of the exchange's message
    ccxt: str | None = None  # exception class name, matched anywhere in the exception's MRO
    ambiguous: bool = False  # the answer does not tell which of several causes: the caller probes further


def _on(exchange: str) -> Callable[..., Row]:
    def row(code: str | None, status: Status, cause: str, **more: Any) -> Row:
        return Row(exchange=exchange, code=code, status=status, cause=cause, **more)

    return row


BN, OX, BY, KC, KR, ANY, SIGNER = (_on(e) for e in ("binance", "okx", "bybit", "kucoin", "kraken", "*", "sign_center"))

# ccxt ids that speak the same error dialect as the family in the table.
ALIASES: dict[str, str] = {"binanceus": "binance", "binanceusdm": "binance", "binancecoinm": "binance",
                           "myokx": "okx", "okxus": "okx", "kucoinfutures": "kucoin"}

# Binance's order-engine refusals arrive as -2010 on a new order and -2011 on a cancel (errors.md); ccxt quotes
# only the message for these, so the rows also match a message seen without its code.
_ACCOUNT_MESSAGES: tuple[tuple[str, Status, str, bool], ...] = (
    # Only public wording for an API key without REST trading; the sandbox sends it for an unaccepted API
    # agreement, but a key whose Spot trading box is unticked reads the same: probe apiRestrictions.
    ("Rest API trading is not enabled.", S.AGREEMENT_REQUIRED, "rest_trading_not_enabled", True),
    # errors.md: "Contact customer support: trading operations have been disabled for this account."
    ("This account may not place or cancel orders.", S.ACCOUNT_SUSPENDED, "trading_disabled", False),
    # Seen when KYC or a compliance review blocks an account (python-binance#6, binance-trade-bot#159).
    ("This action is disabled on this account.", S.ACCOUNT_SUSPENDED, "action_disabled", False),
    # Pair closed to the account's region (errors.md); the same family as OKX 51155 and Bybit 170209.
    ("This symbol is not permitted for this account.", S.ACCOUNT_SUSPENDED, "symbol_not_permitted", False),
    ("This symbol is restricted for this account.", S.ACCOUNT_SUSPENDED, "symbol_restricted", False),
    ("Account has insufficient balance for requested action.", S.OK, "insufficient_funds", False),
    ("Duplicate order sent.", S.OK, "duplicate_order", False),
    ("Market is closed.", S.OK, "market_closed", False),
    ("Order would immediately match and take.", S.OK, "would_take", False),
)

BINANCE: tuple[Row, ...] = (
    *(BN(code, status, cause, message=msg, ambiguous=amb)
      for code in ("-2010", "-2011") for msg, status, cause, amb in _ACCOUNT_MESSAGES),
    BN("-2010", S.OK, "order_rejected"),
    BN("-2011", S.OK, "cancel_rejected"),
    BN("-2013", S.OK, "order_not_found"),
    # One answer for a bad key, a wrong IP, a missing permission and an expired trading right (errors.md).
    BN("-2015", S.INVALID_API_KEY, "key_ip_or_permission", ambiguous=True),
    BN("-2014", S.INVALID_API_KEY, "key_format"),
    BN("-2008", S.INVALID_API_KEY, "invalid_key_id"),
    BN("-1022", S.INVALID_API_KEY, "bad_signature"),
    # errors.md: "You are not authorized to execute this request." (ccxt: AuthenticationError); said both for a
    # request without a key and for a key not allowed on the endpoint.
    BN("-1002", S.INVALID_API_KEY, "unauthorized", ambiguous=True),
    BN("-1099", S.INVALID_API_KEY, "not_found_or_unauthorized", ambiguous=True),  # errors.md; ccxt spot table
    BN("-1021", S.CLOCK_SKEW, "timestamp_outside_recv_window"),
    BN("-1131", S.UNKNOWN, "recv_window_too_large"),  # our request's recvWindow: never the key
    BN("-1102", S.UNKNOWN, "signature_not_sent", message="'signature'"),
    BN("-1102", S.UNKNOWN, "timestamp_not_sent", message="'timestamp'"),
    BN("-1102", S.OK, "missing_parameter"),
    BN("-1100", S.OK, "bad_parameter"),
    BN("-1115", S.OK, "bad_time_in_force"),
    BN("-1116", S.OK, "bad_order_type"),
    BN("-1117", S.OK, "bad_side"),
    BN("-1121", S.OK, "bad_symbol"),
    BN("-1013", S.OK, "filter_failure"),
    BN("-1003", S.RATE_LIMITED, "ip_banned", http=418),
    BN("-1003", S.RATE_LIMITED, "request_weight"),
    BN("-1015", S.RATE_LIMITED, "order_rate"),
    BN("-1000", S.UNKNOWN, "unknown_error"),
    BN("-1001", S.EXCHANGE_UNAVAILABLE, "internal_error"),
    BN("-1006", S.EXCHANGE_UNAVAILABLE, "unexpected_response"),
    BN("-1007", S.EXCHANGE_UNAVAILABLE, "backend_timeout"),
    BN("-1008", S.EXCHANGE_UNAVAILABLE, "server_busy"),
    BN("-1016", S.EXCHANGE_UNAVAILABLE, "service_shutting_down"),
    BN("-3022", S.ACCOUNT_SUSPENDED, "trading_banned"),  # sapi margin "You account's trading is banned." (ccxt)
    BN(None, S.EXCHANGE_MAINTENANCE, "maintenance", message="System is under maintenance."),  # {"code":1,...} ccxt
    BN(None, S.INVALID_API_KEY, "unknown_key", message="API key does not exist"),  # ccxt exact message
    BN(None, S.INSUFFICIENT_PERMISSIONS, "no_permission", message="You don't have permission."),  # ccxt
    # HTTP 451 {"code":0,"msg":"Service unavailable from a restricted location ..."} (ccxt#19167).
    BN(None, S.ACCOUNT_SUSPENDED, "restricted_location", http=451),
    # rest-api.md: "HTTP 403 return code is used when the WAF Limit has been violated" — an IP-level block.
    BN(None, S.RATE_LIMITED, "waf_limit", http=403, ambiguous=True),
)

OKX: tuple[Row, ...] = (
    # API-key frozen by OKX ("API frozen, please contact customer service."): only support can lift it.
    OX("50100", S.ACCOUNT_SUSPENDED, "key_frozen"),
    OX("50101", S.INVALID_API_KEY, "wrong_environment"),  # a demo-trading key on live, or the reverse
    OX("50102", S.CLOCK_SKEW, "timestamp_expired"),
    OX("50103", S.INVALID_API_KEY, "key_not_sent"),
    OX("50104", S.INVALID_API_KEY, "passphrase_not_sent"),
    OX("50105", S.INVALID_API_KEY, "bad_passphrase"),
    OX("50106", S.UNKNOWN, "signature_not_sent"),  # our signer's fault, never the user's key
    OX("50107", S.UNKNOWN, "timestamp_not_sent"),
    OX("50112", S.UNKNOWN, "bad_timestamp_format"),
    OX("50111", S.INVALID_API_KEY, "key_format"),
    OX("50113", S.INVALID_API_KEY, "bad_signature"),
    OX("50114", S.INVALID_API_KEY, "invalid_authorization"),
    # 401 {"msg":"API key doesn't exist","code":"50119"} (freqtrade#9422); OKX deletes expired keys, so an
    # expired key reads as an unknown one (sandbox okx.py).
    OX("50119", S.INVALID_API_KEY, "unknown_key"),
    OX("50008", S.INVALID_API_KEY, "user_not_found"),  # ccxt: AuthenticationError
    OX("50110", S.IP_NOT_WHITELISTED, "ip_not_whitelisted"),
    OX("50035", S.IP_NOT_WHITELISTED, "ip_binding_required"),  # [ref] §4: endpoint requires an IP-bound key
    OX("50120", S.INSUFFICIENT_PERMISSIONS, "no_permission"),
    # [ref] §4 "50121/200 IP blocked" ("You can't access OKX with the IP"): the caller's IP refused by region.
    OX("50121", S.ACCOUNT_SUSPENDED, "ip_restricted_location", ambiguous=True),
    OX("50007", S.ACCOUNT_SUSPENDED, "account_blocked"),
    OX("50009", S.ACCOUNT_SUSPENDED, "account_suspended_liquidation"),  # ccxt: AccountSuspended
    OX("50027", S.ACCOUNT_SUSPENDED, "trading_restricted"),  # "The account is restricted from trading" (ccxt)
    OX("51009", S.ACCOUNT_SUSPENDED, "order_placement_blocked"),  # ccxt: AccountSuspended
    OX("51024", S.ACCOUNT_SUSPENDED, "trading_account_blocked"),  # ccxt: AccountSuspended
    OX("51155", S.ACCOUNT_SUSPENDED, "restricted_location"),  # "... due to local compliance restrictions."
    OX("4088", S.ACCOUNT_SUSPENDED, "kyc_required"),  # ccxt okx comment: "You can't trade or deposit until ..."
    OX("50011", S.RATE_LIMITED, "too_many_requests"),
    OX("50061", S.RATE_LIMITED, "order_rate"),  # [okx] order rate limit reached
    OX("51113", S.RATE_LIMITED, "market_order_rate"),  # ccxt: RateLimitExceeded
    OX("50001", S.EXCHANGE_MAINTENANCE, "service_unavailable"),  # ccxt: OnMaintenance
    OX("50004", S.EXCHANGE_UNAVAILABLE, "endpoint_timeout"),
    OX("50005", S.EXCHANGE_UNAVAILABLE, "api_offline"),
    OX("50013", S.EXCHANGE_UNAVAILABLE, "system_busy"),
    OX("50026", S.EXCHANGE_UNAVAILABLE, "system_error"),
    OX("50115", S.UNKNOWN, "bad_method"),  # our request's HTTP method
    OX("404", S.UNKNOWN, "not_found"),
    OX("51010", S.OK, "account_mode"),
    *(OX(code, S.OK, "insufficient_funds") for code in ("51008", "51119", "51127", "51131")),
    OX("51001", S.OK, "bad_symbol"),
    OX("51603", S.OK, "order_not_found"),
    OX("51400", S.OK, "cancel_rejected"),
    OX("51016", S.OK, "duplicate_order"),
    OX("51000", S.OK, "bad_parameter"),
    OX("50014", S.OK, "missing_parameter"),
    OX("50015", S.OK, "missing_parameter"),  # "Either parameter {param} or {other} is required."
    OX("50000", S.OK, "empty_body"),
    OX("50002", S.OK, "json_syntax"),
    *(OX(code, S.OK, "order_size") for code in ("51020", "51121", "51202", "51203")),
    OX("51111", S.OK, "batch_too_large"),
)

BYBIT: tuple[Row, ...] = (
    BY("10002", S.CLOCK_SKEW, "timestamp_outside_recv_window"),
    BY("10003", S.INVALID_API_KEY, "invalid_key"),  # also a key of another environment (mainnet/testnet/demo)
    BY("10004", S.INVALID_API_KEY, "bad_signature"),
    BY("10007", S.INVALID_API_KEY, "authentication_failed"),
    BY("10005", S.INSUFFICIENT_PERMISSIONS, "no_permission"),
    # [bybit] "The API can only be accessed by unified account users." — the account must be upgraded.
    BY("10028", S.INSUFFICIENT_PERMISSIONS, "unified_account_required"),
    BY("10010", S.IP_NOT_WHITELISTED, "ip_not_whitelisted"),
    # Expired key: 33004 (derivatives) / -2015 (spot) per docs/v5/user/create-subuid-apikey.mdx; ccxt's comment
    # on -2015 is Binance's "Invalid API-key, IP, or permissions", hence ambiguous.
    BY("33004", S.KEY_EXPIRED, "key_expired"),
    BY("-2015", S.KEY_EXPIRED, "key_expired", ambiguous=True),
    BY("10008", S.ACCOUNT_SUSPENDED, "user_banned"),
    # [bybit] "IP has been banned." (HTTP 403 also for US IPs): the caller's IP refused by region.
    BY("10009", S.ACCOUNT_SUSPENDED, "ip_restricted_location", ambiguous=True),
    BY("10024", S.ACCOUNT_SUSPENDED, "compliance"),
    BY("10027", S.ACCOUNT_SUSPENDED, "trading_banned"),
    BY("170201", S.ACCOUNT_SUSPENDED, "trading_restricted"),
    # ccxt: RestrictedLocation, "This trading pair is only available to the ... region."
    BY("170209", S.ACCOUNT_SUSPENDED, "restricted_location"),
    BY("10006", S.RATE_LIMITED, "too_many_visits"),
    BY("10018", S.RATE_LIMITED, "ip_rate_limit"),
    BY("170005", S.RATE_LIMITED, "order_rate"),
    BY("170222", S.RATE_LIMITED, "too_many_requests"),
    BY("10000", S.EXCHANGE_UNAVAILABLE, "server_timeout"),
    # [bybit] "Server error." (the sandbox answers maintenance with it, HTTP 503); no documented maintenance code.
    BY("10016", S.EXCHANGE_UNAVAILABLE, "server_error"),
    *(BY(code, S.EXCHANGE_UNAVAILABLE, "internal_error") for code in ("170001", "170007", "170032", "170234")),
    BY("10017", S.UNKNOWN, "route_not_found"),
    BY("10001", S.OK, "bad_parameter"),
    BY("10014", S.OK, "duplicate_request"),
    BY("10029", S.OK, "symbol_not_whitelisted"),
    BY("170157", S.OK, "symbol_not_api_tradable"),
    *(BY(code, S.OK, "insufficient_funds") for code in ("110004", "110007", "110012", "170131")),
    *(BY(code, S.OK, "order_not_found") for code in ("110001", "170213")),
    BY("170121", S.OK, "bad_symbol"),
    *(BY(code, S.OK, "order_size") for code in ("170124", "170134", "170135", "170136", "170137", "170140",
                                                "170148")),
    BY("170141", S.OK, "duplicate_order"),
    BY("170218", S.OK, "would_take"),
    BY(None, S.INVALID_API_KEY, "http_401", http=401, ambiguous=True),  # [bybit] wrong key or no auth headers
    BY(None, S.RATE_LIMITED, "ip_rate_limit", http=403, ambiguous=True),  # [bybit] IP rate limit (or US IP)
)

KUCOIN: tuple[Row, ...] = (
    KC("400001", S.INVALID_API_KEY, "auth_header_missing"),  # key, sign, timestamp or passphrase not sent
    KC("400002", S.CLOCK_SKEW, "timestamp_invalid"),
    KC("400003", S.INVALID_API_KEY, "unknown_key"),
    KC("400004", S.INVALID_API_KEY, "bad_passphrase"),
    KC("400005", S.INVALID_API_KEY, "bad_signature"),
    KC("400006", S.IP_NOT_WHITELISTED, "ip_not_whitelisted"),
    KC("400007", S.INSUFFICIENT_PERMISSIONS, "access_denied"),
    KC("411100", S.ACCOUNT_SUSPENDED, "user_frozen"),
    KC("400303", S.ACCOUNT_SUSPENDED, "kyc_required"),  # ccxt kucoin comment: "... complete the identity verification"
    KC("429000", S.RATE_LIMITED, "too_many_requests"),
    KC("400100", S.OK, "bad_parameter"),
)

KRAKEN: tuple[Row, ...] = (
    KR("EAPI:Invalid key", S.INVALID_API_KEY, "invalid_key"),
    KR("EAPI:Invalid signature", S.INVALID_API_KEY, "bad_signature"),
    KR("EAPI:Invalid nonce", S.CLOCK_SKEW, "invalid_nonce"),
    # [kraken] said for a missing permission; an IP outside the key's allowlist gets it too.
    KR("EGeneral:Permission denied", S.INSUFFICIENT_PERMISSIONS, "no_permission", ambiguous=True),
    KR("ETrade:User Locked", S.ACCOUNT_SUSPENDED, "user_locked"),  # ccxt kraken comment
    KR("ETrade:Locked", S.ACCOUNT_SUSPENDED, "user_locked"),  # kraapi KError::Locked
    # support.kraken.com 360000920026: some residents must pass trading_agreement=agree
    KR("EOrder:Trading agreement required", S.AGREEMENT_REQUIRED, "trading_agreement"),
    KR("EAPI:Rate limit exceeded", S.RATE_LIMITED, "api_rate_limit"),
    KR("EOrder:Rate limit exceeded", S.RATE_LIMITED, "order_rate"),
    KR("EGeneral:Temporary lockout", S.RATE_LIMITED, "temporary_lockout"),
    KR("EGeneral:Too many requests", S.RATE_LIMITED, "too_many_requests"),
    KR("EService:Unavailable", S.EXCHANGE_UNAVAILABLE, "service_unavailable"),
    KR("EService:Busy", S.EXCHANGE_UNAVAILABLE, "service_busy"),
    KR("EGeneral:Internal error", S.EXCHANGE_UNAVAILABLE, "internal_error"),
    KR("EService:Market in cancel_only mode", S.EXCHANGE_MAINTENANCE, "cancel_only"),
    KR("EService:Market in post_only mode", S.EXCHANGE_MAINTENANCE, "post_only"),
    KR("EOrder:Insufficient funds", S.OK, "insufficient_funds"),
    KR(None, S.OK, "bad_parameter", message="EGeneral:Invalid arguments"),
)

# The ccxt hierarchy (reference §2.1), most derived class wins; plus the transport errors of requests, aiohttp
# and httpx that may escape a client unwrapped.
GENERIC: tuple[Row, ...] = (
    ANY(None, S.EXCHANGE_UNAVAILABLE, "network", ccxt="NetworkError"),
    ANY(None, S.EXCHANGE_UNAVAILABLE, "timeout", ccxt="RequestTimeout"),
    ANY(None, S.EXCHANGE_UNAVAILABLE, "exchange_not_available", ccxt="ExchangeNotAvailable"),
    ANY(None, S.EXCHANGE_UNAVAILABLE, "operation_failed", ccxt="OperationFailed"),
    ANY(None, S.EXCHANGE_UNAVAILABLE, "bad_response", ccxt="BadResponse"),
    ANY(None, S.EXCHANGE_UNAVAILABLE, "checksum", ccxt="ChecksumError"),  # an InvalidNonce in ccxt, not a clock
    ANY(None, S.EXCHANGE_MAINTENANCE, "maintenance", ccxt="OnMaintenance"),
    ANY(None, S.RATE_LIMITED, "rate_limit", ccxt="RateLimitExceeded"),
    ANY(None, S.RATE_LIMITED, "ddos_protection", ccxt="DDoSProtection"),
    ANY(None, S.CLOCK_SKEW, "invalid_nonce", ccxt="InvalidNonce"),
    ANY(None, S.INVALID_API_KEY, "authentication", ccxt="AuthenticationError", ambiguous=True),
    ANY(None, S.INSUFFICIENT_PERMISSIONS, "permission_denied", ccxt="PermissionDenied", ambiguous=True),
    ANY(None, S.ACCOUNT_SUSPENDED, "account_suspended", ccxt="AccountSuspended"),
    ANY(None, S.ACCOUNT_SUSPENDED, "restricted_location", ccxt="RestrictedLocation"),
    ANY(None, S.ACCOUNT_SUSPENDED, "manual_interaction", ccxt="ManualInteractionNeeded", ambiguous=True),
    ANY(None, S.UNKNOWN, "not_supported", ccxt="NotSupported"),
    ANY(None, S.OK, "insufficient_funds", ccxt="InsufficientFunds"),
    ANY(None, S.OK, "invalid_order", ccxt="InvalidOrder"),
    ANY(None, S.OK, "order_not_found", ccxt="OrderNotFound"),
    ANY(None, S.OK, "bad_symbol", ccxt="BadSymbol"),
    ANY(None, S.OK, "bad_request", ccxt="BadRequest"),
    ANY(None, S.OK, "arguments_required", ccxt="ArgumentsRequired"),
    ANY(None, S.OK, "operation_rejected", ccxt="OperationRejected"),
    ANY(None, S.OK, "invalid_address", ccxt="InvalidAddress"),
    ANY(None, S.OK, "cancel_pending", ccxt="CancelPending"),
    *(ANY(None, S.EXCHANGE_UNAVAILABLE, "network", ccxt=name)
      for name in ("ConnectionError", "TimeoutError", "ClientConnectionError", "ConnectError", "TimeoutException")),
    ANY(None, S.INVALID_API_KEY, "http_401", http=401, ambiguous=True),
    ANY(None, S.EXCHANGE_UNAVAILABLE, "http_408", http=408),
    ANY(None, S.RATE_LIMITED, "http_418", http=418),
    ANY(None, S.RATE_LIMITED, "http_429", http=429),
    ANY(None, S.ACCOUNT_SUSPENDED, "restricted_location", http=451),
    ANY(None, S.EXCHANGE_UNAVAILABLE, "server_error", http=range(500, 600)),
)

# Our own Sign Center, seen through cexlink.errors (or the ccxt error the remote classes turn a refusal into).
SIGN_CENTER: tuple[Row, ...] = (
    SIGNER("credential_revoked", S.REVOKED, "credential_revoked"),
    SIGNER(None, S.UNKNOWN, "{code}", ccxt="SignerRefused"),
    SIGNER(None, S.UNKNOWN, "sign_center_unavailable", ccxt="SignerUnavailable"),
)

TABLE: tuple[Row, ...] = (*BINANCE, *OKX, *BYBIT, *KUCOIN, *KRAKEN, *GENERIC, *SIGN_CENTER)
