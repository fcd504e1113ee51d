"""What each exchange a user can connect offers and demands: one data table, served at GET /api/v1/exchanges.

The rows cover the sixteen exchanges of 3Commas' security table plus two more still in ccxt. Facts come from
the exchanges' docs as gathered in shared/reference/exchange-keys.md (section numbers in ``source``); the
calls are the ones the probes make. Permissions are in the exchange's own words, as its API-key page shows
them, so a message can tell a person exactly which box to tick.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .signing import returns_signature

__all__ = ["BY_ID", "CAPABILITIES", "SANDBOXED", "Capability", "get"]


@dataclass(frozen=True, kw_only=True)
class Capability:
    """One exchange. Rows state only what differs from the defaults (no call known, no Fast Connect, …)."""

    id: str  # our id: the ccxt id where ccxt has one
    name: str
    in_ccxt: bool = True  # connectable only if ccxt still supports it
    passphrase: bool = False  # credentials need a passphrase besides key and secret
    permissions_call: str | None = None  # the call that reports the key's permissions (None: not reported)
    ip_list_call: str | None = None  # the call that reports the key's IP whitelist
    uid_call: str | None = None  # the call that reports the account's uid
    subaccount_call: str | None = None  # the call that tells a sub-account's key from a master's
    ip_whitelist: bool = True  # can a key be bound to IPs at all
    fast_connect: bool = False  # an OAuth-style flow creates a key and hands it to the platform
    required_permissions: tuple[str, ...]  # in the exchange's words
    forbidden_permissions: tuple[str, ...]
    unrestricted_key_days: int | None = None  # how long a key without IP restriction keeps trading
    unrestricted_rule: str = ""  # "after creation", "of inactivity", or "" when there is no such rule
    source: str
    notes: str = ""
    sandbox: bool = False  # the sandbox exchange speaks its wire format
    aliases: tuple[str, ...] = field(default=())

    @property
    def forwarded(self) -> bool:
        """The Sign Center sends this exchange's requests itself (signing.py says why)."""
        return not returns_signature(self.id)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["connectable"] = self.in_ccxt
        return out


CAPABILITIES: tuple[Capability, ...] = (
    Capability(
        id="binance", name="Binance", fast_connect=True, sandbox=True,
        permissions_call="GET /sapi/v1/account/apiRestrictions",
        # no ip_list_call: only `ipRestrict: true/false`; the platform probes from each egress IP instead
        uid_call="GET /api/v3/account (uid)",
        required_permissions=("Enable Reading", "Enable Spot & Margin Trading"),
        forbidden_permissions=("Enable Withdrawals",), unrestricted_key_days=30, unrestricted_rule="after creation",
        source="exchange-keys.md §1.1, §2, §4; exchanges.md §3.1",
        notes="Spot & Margin Trading is unticked 30 days after activation on keys without trusted IPs "
              "(tradingAuthorityExpirationTime). No self-describing sub-account flag."),
    Capability(
        id="okx", name="OKX", passphrase=True, fast_connect=True, sandbox=True,
        permissions_call="GET /api/v5/account/config (perm)", ip_list_call="GET /api/v5/account/config (ip)",
        uid_call="GET /api/v5/account/config (uid)",
        subaccount_call="GET /api/v5/account/config (mainUid differs from uid)",
        required_permissions=("Read", "Trade"), forbidden_permissions=("Withdraw",),
        unrestricted_key_days=14, unrestricted_rule="of inactivity",
        source="exchange-keys.md §1.2, §2, §5; exchanges.md §4",
        notes="Fast Connect keys are bound to the broker's IP allowlist (bindApp)."),
    Capability(
        id="bybit", name="Bybit", fast_connect=True, sandbox=True,
        permissions_call="GET /v5/user/query-api (permissions, readOnly)",
        ip_list_call="GET /v5/user/query-api (ips)", uid_call="GET /v5/user/query-api (userID)",
        subaccount_call="GET /v5/user/query-api (isMaster, parentUid)",
        required_permissions=("Spot: Trade",), forbidden_permissions=("Wallet: Withdraw",),
        unrestricted_key_days=90, unrestricted_rule="after creation",
        source="exchange-keys.md §1.3, §2, §5; exchanges.md §5",
        notes="query-api reports expiredAt for keys without IPs; such keys also die 7 days after a password "
              "change."),
    Capability(
        id="kucoin", name="KuCoin", passphrase=True, fast_connect=True,
        permissions_call="GET /api/v1/user/api-key (permission)",
        ip_list_call="GET /api/v1/user/api-key (ipWhitelist)", uid_call="GET /api/v1/user/api-key (uid)",
        subaccount_call="GET /api/v1/user/api-key (isMaster, subName)",
        required_permissions=("General", "Spot"), forbidden_permissions=("Withdrawal",),
        unrestricted_key_days=30, unrestricted_rule="of inactivity", source="exchange-keys.md §1.4, §2, §3"),
    Capability(
        id="coinbase", name="Coinbase", permissions_call="GET /api/v3/brokerage/key_permissions",
        uid_call="GET /api/v3/brokerage/key_permissions (portfolio_uuid)",
        required_permissions=("View", "Trade"), forbidden_permissions=("Transfer",),
        source="exchange-keys.md §2, §3, §4",
        notes="No endpoint exposes the IP allowlist; keys are scoped to one portfolio."),
    Capability(
        id="binancetr", name="Binance TR", in_ccxt=False,
        required_permissions=("Enable Reading", "Enable Spot Trading"), forbidden_permissions=("Enable Withdrawals",),
        source="3Commas security table", notes="Not in ccxt 4.5.90: listed, not connectable."),
    Capability(
        id="binanceus", name="Binance US", permissions_call="GET /sapi/v1/account/apiRestrictions",
        uid_call="GET /api/v3/account",
        required_permissions=("Enable Reading", "Enable Spot Trading"), forbidden_permissions=("Enable Withdrawals",),
        source="3Commas security table; Binance API family"),
    Capability(
        id="bitfinex", name="Bitfinex", permissions_call="POST /v2/auth/r/permissions",
        uid_call="POST /v2/auth/r/info/user", subaccount_call="POST /v2/auth/r/info/user (master/sub flags)",
        required_permissions=("Account History: read", "Orders: read, write", "Wallets: read"),
        forbidden_permissions=("Withdrawals: write",), source="3Commas security table"),
    Capability(
        id="bitstamp", name="Bitstamp",
        required_permissions=("Account balance", "User transactions", "Open orders", "Buy/Sell orders"),
        forbidden_permissions=("Withdrawals",), source="3Commas security table"),
    Capability(
        id="cryptocom", name="Crypto.com",
        required_permissions=("Can Read", "Enable Trading"), forbidden_permissions=("Enable Withdrawal",),
        source="3Commas security table"),
    Capability(
        id="deribit", name="Deribit", permissions_call="public/auth (scope)",
        uid_call="private/get_account_summary (id)", subaccount_call="private/get_account_summary (type)",
        required_permissions=("account:read", "trade:read_write"), forbidden_permissions=("wallet:read_write",),
        source="3Commas security table"),
    Capability(
        id="gate", name="Gate", permissions_call="GET /api/v4/account/main_keys (perms)",
        ip_list_call="GET /api/v4/account/detail (ip_whitelist)", uid_call="GET /api/v4/account/detail (user_id)",
        required_permissions=("Spot: read/write",), forbidden_permissions=("Withdrawal",),
        unrestricted_key_days=90, unrestricted_rule="after creation", source="exchange-keys.md §2, §3, §4",
        notes="The detail calls need the key's 'account' permission."),
    Capability(
        id="gemini", name="Gemini", permissions_call="POST /v1/roles", ip_whitelist=False,
        required_permissions=("Trader",), forbidden_permissions=("Fund Manager",), source="3Commas security table",
        notes="Keys cannot be bound to IPs: accepted with a warning."),
    Capability(
        id="htx", name="HTX (Huobi)", uid_call="GET /v2/user/uid", aliases=("huobi",),
        required_permissions=("Read-only", "Trade"), forbidden_permissions=("Withdraw",),
        unrestricted_key_days=90, unrestricted_rule="after creation", source="3Commas security table"),
    Capability(
        id="kraken", name="Kraken", fast_connect=True, permissions_call="POST /0/private/GetApiKeyInfo",
        ip_list_call="POST /0/private/GetApiKeyInfo (restrictions)",
        required_permissions=("Query Funds", "Query Open Orders & Trades", "Query Closed Orders & Trades",
                              "Create & Modify Orders", "Cancel/Close Orders"),
        forbidden_permissions=("Withdraw Funds",), source="exchange-keys.md §1.4, §2, §3, §4",
        notes="No account uid: connections are told apart by key."),
    Capability(
        id="bitget", name="Bitget", passphrase=True,
        permissions_call="GET /api/v2/spot/account/info (authorities)",
        ip_list_call="GET /api/v2/spot/account/info (ips)", uid_call="GET /api/v2/spot/account/info (userId)",
        subaccount_call="GET /api/v2/spot/account/info (parentId)",
        required_permissions=("stor", "stow"), forbidden_permissions=("wwow",), source="exchange-keys.md §3"),
    Capability(
        id="mexc", name="MEXC", uid_call="GET /api/v3/account",
        required_permissions=("Account: read", "Spot trading"), forbidden_permissions=("Withdrawal",),
        unrestricted_key_days=90, unrestricted_rule="after creation", source="exchange listing (ccxt)"),
)

BY_ID: dict[str, Capability] = {c.id: c for c in CAPABILITIES} | {a: c for c in CAPABILITIES for a in c.aliases}


def get(exchange: str) -> Capability | None:
    return BY_ID.get(exchange)


# The exchanges the sandbox speaks, in table order: what tests, benchmarks and `cexlink up` point at it.
SANDBOXED: tuple[str, ...] = tuple(c.id for c in CAPABILITIES if c.sandbox)
