"""Key permissions in each exchange's own vocabulary, built from one neutral set of words.

Neutral words (what the admin API and ``cexlink sandbox new-key --permissions`` take):
``read, spot, margin, futures, options, withdraw, transfer``. The tables below say what each becomes on
each exchange; ``allows`` answers whether a key may read or trade spot in that exchange's terms.
"""

from __future__ import annotations

from typing import Any

NEUTRAL = ("read", "spot", "margin", "futures", "options", "withdraw", "transfer")
DEFAULT = ("read", "spot")

BINANCE_FLAGS: dict[str, tuple[str, ...]] = {
    "read": ("enableReading",),
    "spot": ("enableSpotAndMarginTrading",),
    "margin": ("enableMargin",),
    "futures": ("enableFutures",),
    "options": ("enableVanillaOptions",),
    "withdraw": ("enableWithdrawals",),
    "transfer": ("enableInternalTransfer", "permitsUniversalTransfer"),
}
BINANCE_ALL_FLAGS = ("enableReading", "enableWithdrawals", "enableInternalTransfer", "enableMargin",
                     "enableFutures", "permitsUniversalTransfer", "enableVanillaOptions", "enableFixApiTrade",
                     "enableFixReadOnly", "enableSpotAndMarginTrading", "enablePortfolioMarginTrading")

OKX_PERMS: dict[str, str] = {
    "read": "read_only", "spot": "trade", "margin": "trade", "futures": "trade", "options": "trade",
    "withdraw": "withdraw", "transfer": "trade",
}

BYBIT_GROUPS: dict[str, tuple[str, str]] = {
    "spot": ("Spot", "SpotTrade"),
    "margin": ("Spot", "SpotTrade"),
    "futures": ("ContractTrade", "Order"),
    "options": ("Options", "OptionsTrade"),
    "withdraw": ("Wallet", "Withdraw"),
    "transfer": ("Wallet", "AccountTransfer"),
}


def parse(words: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """Split and check a neutral permission list; raise ValueError naming the unknown word."""
    if words is None:
        return list(DEFAULT)
    if not isinstance(words, (str, list, tuple)) or not all(isinstance(w, str) for w in words):
        raise ValueError("must be a list of permission words or one comma-separated string")
    items = [w.strip() for w in (words.split(",") if isinstance(words, str) else words) if w.strip()]
    for w in items:
        if w not in NEUTRAL:
            raise ValueError(f"unknown permission {w!r}; use any of {', '.join(NEUTRAL)}")
    return items


def native(exchange: str, words: list[str]) -> dict[str, Any]:
    if exchange == "binance":
        on = {flag for w in words for flag in BINANCE_FLAGS[w]}
        return {flag: flag in on for flag in BINANCE_ALL_FLAGS}
    if exchange == "okx":
        perms = ["read_only"] + sorted({OKX_PERMS[w] for w in words} - {"read_only"})
        return {"perm": perms}
    if exchange == "bybit":
        groups: dict[str, list[str]] = {}
        for w in words:
            if w in BYBIT_GROUPS:
                group, perm = BYBIT_GROUPS[w]
                groups.setdefault(group, [])
                if perm not in groups[group]:
                    groups[group].append(perm)
        if "transfer" in words:
            groups["Wallet"].append("SubMemberTransfer")
        read_only = not any(w in words for w in ("spot", "margin", "futures", "options", "withdraw", "transfer"))
        return {"readOnly": 1 if read_only else 0, "permissions": groups}
    raise ValueError(f"unknown exchange {exchange!r}")


def allows(exchange: str, permissions: dict[str, Any], access: str) -> bool:
    """May a key with these native permissions ``read`` or ``trade`` (spot)?"""
    if exchange == "binance":
        flag = "enableReading" if access == "read" else "enableSpotAndMarginTrading"
        return bool(permissions.get(flag))
    if exchange == "okx":
        return access == "read" or "trade" in permissions.get("perm", [])
    if exchange == "bybit":
        if access == "read":
            return True
        return permissions.get("readOnly") == 0 and "SpotTrade" in permissions.get("permissions", {}).get("Spot", [])
    return False


def grants(exchange: str, permissions: dict[str, Any], need: str) -> bool:
    """May a key with these native permissions do what ``need`` names: ``trade`` (any read-write use, as
    ``allows``), or the neutral ``withdraw`` / ``transfer``, each in the exchange's own terms (the flags,
    perm word or Wallet permission that neutral word becomes above, all of them)."""
    if need == "trade":
        return allows(exchange, permissions, "trade")
    if exchange == "binance":
        return all(permissions.get(flag) for flag in BINANCE_FLAGS[need])
    if exchange == "okx":
        return OKX_PERMS[need] in permissions.get("perm", [])
    if exchange == "bybit":
        group, perm = BYBIT_GROUPS[need]
        return permissions.get("readOnly") == 0 and perm in permissions.get("permissions", {}).get(group, [])
    return False
