"""Classify every endpoint of ccxt's API tree for the five built-in exchanges into the table the Sign Center
reads (src/cexlink/signer/families.json): allowed / a forbidden family / unlisted.

    .venv/bin/python scripts/classify_endpoints.py          # rewrite the table
    .venv/bin/python scripts/classify_endpoints.py --check  # exit 1 if the table differs from what this makes

The rules, in order, for each (api path, METHOD, path):
1. an explicit override below (each says why);
2. on the built-in READ_TRADE allowlist: allowed;
3. the name patterns (families.NET) match: a read (GET, or a public API) is unlisted and recorded as reviewed
   with the reason; anything else is that family;
4. everything else: unlisted.

The output is then read through by a person (the forbidden and unlisted lists of each exchange), and what
reads wrong becomes an override here, never a hand edit of the JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import ccxt

from cexlink.signer.families import ALLOWED, CLASSES, TABLE_FILE, UNLISTED, Endpoint, ccxt_endpoints, net
from cexlink.signer.policy import READ_TRADE

EXCHANGES = ("binance", "okx", "bybit", "kucoin", "kraken")
OUT = Path(__file__).resolve().parent.parent / "src" / "cexlink" / "signer" / TABLE_FILE

KRAKEN_READ = "a read: Kraken sends every private call as POST"
# (exchange) -> endpoint -> (class, why). Each corrects what the rules would say.
OVERRIDES: dict[str, dict[Endpoint, tuple[str, str]]] = {
    "binance": {
        ("sapi", "POST", "managed-subaccount/deposit"): ("transfer", "moves funds to a managed sub-account"),
        ("sapi", "POST", "managed-subaccount/withdraw"): ("transfer", "moves funds out of a managed sub-account"),
        ("sapi", "POST", "giftcard/redeemCode"): ("payment", "gift cards are one family, whichever way"),
    },
    "okx": {
        ("private", "POST", "tradingBot/grid/withdraw-income"): (
            "transfer", "moves a grid bot's income to the trading account: between products, not out"),
    },
    "bybit": {
        ("private", "POST", "v5/broker/award/distribute-award"): ("payment", "hands vouchers to other users"),
        # ccxt lists these as GET, yet the names are actions on sub-accounts: never signed, whatever the method.
        ("private", "GET", "v5/user/del-submember"): ("subaccount", "deletes a sub-account"),
        ("private", "GET", "user/v3/private/frozen-sub-member"): ("subaccount", "freezes a sub-account"),
        ("private", "POST", "v5/user/create-demo-member"): ("subaccount", "creates a (demo) sub-account"),
    },
    "kucoin": {
        # Margin taken off a futures position goes back to the futures account: between products, not out.
        ("futuresPrivate", "POST", "margin/withdrawMargin"): ("transfer", "moves margin from a position"),
        ("futuresPrivate", "POST", "copy-trade/futures/position/margin/withdraw-margin"): (
            "transfer", "moves margin from a copy-trade position"),
    },
    "kraken": {
        ("private", "POST", "GetApiKeyInfo"): (UNLISTED, KRAKEN_READ),
        ("private", "POST", "WithdrawAddresses"): (UNLISTED, KRAKEN_READ),
        ("private", "POST", "WithdrawInfo"): (UNLISTED, KRAKEN_READ),
        ("private", "POST", "WithdrawMethods"): (UNLISTED, KRAKEN_READ),
        ("private", "POST", "WithdrawStatus"): (UNLISTED, KRAKEN_READ),
    },
}
READ = "a read (GET or public): it moves and changes nothing"


def classify(exchange: str, endpoint: Endpoint) -> tuple[str, str | None]:
    """(class, why it is reviewed) — the reason only for an allowed/unlisted endpoint the net matches."""
    api, method, path = endpoint
    caught = net(api, path)
    if endpoint in OVERRIDES[exchange]:
        cls, why = OVERRIDES[exchange][endpoint]
        return cls, (why if caught and cls in (ALLOWED, UNLISTED) else None)
    if endpoint in READ_TRADE[exchange]:
        return ALLOWED, ("on the built-in allowlist" if caught else None)
    if caught and (method == "GET" or "public" in api.lower()):
        return UNLISTED, READ
    return caught or UNLISTED, None


def table() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for exchange in EXCHANGES:
        endpoints = sorted(ccxt_endpoints(exchange))
        stale = (set(OVERRIDES[exchange]) | READ_TRADE[exchange]) - set(endpoints)
        if stale:
            sys.exit(f"{exchange}: overrides or allowlist entries ccxt does not have: {sorted(stale)}")
        classes: dict[str, list[Any]] = {cls: [] for cls in CLASSES}
        reviewed = []
        for endpoint in endpoints:
            cls, why = classify(exchange, endpoint)
            classes[cls].append(list(endpoint))
            if why:
                reviewed.append([*endpoint, why])
        out[exchange] = {**classes, "reviewed": reviewed}
    return {"generated_by": "scripts/classify_endpoints.py (edit its rules, not this file)",
            "ccxt": ccxt.__version__, "exchanges": out}


def dump(data: dict[str, Any]) -> str:
    """JSON with one endpoint a line, so that a review and a diff read line by line."""
    lines = ["{", f'  "generated_by": {json.dumps(data["generated_by"])},', f'  "ccxt": {json.dumps(data["ccxt"])},',
             '  "exchanges": {']
    exchanges = list(data["exchanges"].items())
    for i, (exchange, classes) in enumerate(exchanges):
        lines.append(f"    {json.dumps(exchange)}: {{")
        items = list(classes.items())
        for j, (cls, rows) in enumerate(items):
            body = ",\n".join(f"        {json.dumps(row)}" for row in rows)
            tail = "," if j < len(items) - 1 else ""
            lines.append(f"      {json.dumps(cls)}: [\n{body}\n      ]{tail}" if rows else f'      "{cls}": []{tail}')
        lines.append("    }" + ("," if i < len(exchanges) - 1 else ""))
    lines += ["  }", "}", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed table is not up to date")
    text = dump(table())
    if parser.parse_args().check:
        sys.exit(0 if OUT.exists() and OUT.read_text() == text else "families.json is not what the rules make")
    OUT.write_text(text)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
