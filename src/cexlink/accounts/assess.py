"""From what a probe learned to one status: the checks a connection must pass, in the order a person fixes
them (the key works → it may trade → it is bound to our IPs → it lives long enough). Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..config import Settings
from ..domain.statuses import Status
from ..exchanges.capabilities import Capability
from ..exchanges.probes import KeyFacts

DAY_MS = 86_400_000


@dataclass
class Assessment:
    status: Status
    cause: str  # short machine word, e.g. "withdrawals_enabled", "egress_ip_missing"
    missing: list[str] = field(default_factory=list)  # permissions or IPs, in the words a person needs
    forbidden: list[str] = field(default_factory=list)  # permissions that must be off but are on
    detail: str = ""
    code: str | None = None  # the exchange's code, when one decided it
    warnings: list[str] = field(default_factory=list)


def _date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def assess(cap: Capability, facts: KeyFacts, settings: Settings, now_ms: int) -> Assessment:
    warnings: list[str] = []
    probe = facts.can_trade_probe
    if probe is not None and probe.status in (Status.AGREEMENT_REQUIRED, Status.ACCOUNT_SUSPENDED):
        return Assessment(probe.status, probe.cause, code=probe.code)
    if facts.kyc_required:
        return Assessment(Status.ACCOUNT_SUSPENDED, "kyc_required", detail="identity verification (KYC) required")
    present = set(facts.permissions)
    missing = [p for p in cap.required_permissions if p not in present]
    forbidden = [p for p in cap.forbidden_permissions if p in present]
    if forbidden:
        return Assessment(Status.INSUFFICIENT_PERMISSIONS, "withdrawals_enabled", missing=missing,
                          forbidden=forbidden)
    if missing:
        return Assessment(Status.INSUFFICIENT_PERMISSIONS, "permission_missing", missing=missing)
    if facts.trading_expires_at is not None and facts.trading_expires_at <= now_ms:
        return Assessment(Status.KEY_EXPIRED, "trading_expired", detail=f"since {_date(facts.trading_expires_at)}")
    if probe is not None and not probe.status.value.startswith(("exchange_", "rate_", "clock_", "unknown")):
        # The trading probe failed for a key reason the flags above did not show (e.g. Binance -2015 on
        # order/test while apiRestrictions reads fine: the trading right itself is refused).
        status = Status.INSUFFICIENT_PERMISSIONS if probe.ambiguous else probe.status
        return Assessment(status, probe.cause, missing=list(cap.required_permissions[-1:]), code=probe.code)
    if cap.ip_whitelist:
        refused = [ip for ip in facts.egress_refused if ip != "default"]
        reported_missing = [ip for ip in settings.egress_ips
                            if facts.ip_whitelist is not None and facts.ip_restricted and ip not in facts.ip_whitelist]
        if refused or reported_missing:
            return Assessment(Status.IP_NOT_WHITELISTED, "egress_ip_missing",
                              missing=sorted(set(refused) | set(reported_missing)))
        if facts.ip_restricted is False:
            cutoff = ""
            if cap.unrestricted_key_days:
                start = facts.key_created_at or now_ms
                if cap.unrestricted_rule == "after creation":
                    end = start + cap.unrestricted_key_days * DAY_MS
                    cutoff = f" {cap.name} stops this key trading on {_date(end)}"
                else:
                    cutoff = f" {cap.name} disables it after {cap.unrestricted_key_days} days without use"
            text = f"This key is not restricted to the platform's IPs.{cutoff}."
            if not settings.allow_unrestricted_ip_keys:
                return Assessment(Status.IP_NOT_WHITELISTED, "no_ip_restriction", missing=list(settings.egress_ips),
                                  detail=text.rstrip("."))
            warnings.append(text + f" Restrict it to: {', '.join(settings.egress_ips)}.")
    else:
        warnings.append(f"{cap.name} cannot bind API keys to IP addresses: anyone holding this key can use it.")
    unused = [p for p in facts.permissions
              if p not in cap.required_permissions and p not in cap.forbidden_permissions]
    if unused:
        # Least privilege: rights the platform never uses (futures, transfers, options) only widen what a leaked
        # key could do. A warning, not a refusal: the key works for everything the platform does.
        warnings.append(f"This key has permissions the platform never uses: {', '.join(unused)}. For least "
                        f"privilege, turn them off on {cap.name} (API Management, Edit restrictions).")
    if facts.trading_expires_at is not None:
        left = facts.trading_expires_at - now_ms
        if left < 14 * DAY_MS:
            warnings.append(f"This key stops trading on {_date(facts.trading_expires_at)}; rotate it before then.")
    return Assessment(Status.OK, "ok", warnings=warnings)


def expires_at(facts: KeyFacts) -> datetime | None:
    return None if facts.trading_expires_at is None else \
        datetime.fromtimestamp(facts.trading_expires_at / 1000, UTC)


def created_at(facts: KeyFacts) -> datetime | None:
    return None if facts.key_created_at is None else datetime.fromtimestamp(facts.key_created_at / 1000, UTC)

