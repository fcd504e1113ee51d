"""The closed set of connection statuses (DESIGN.md §2), each with what a person is told and can do.

Messages and remedies are templates: ``{exchange}`` (display name), ``{ips}`` (the platform's egress IPs),
``{missing}`` (permissions in the exchange's words), ``{detail}``. Transient statuses never mark a key bad.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    OK = "ok"
    INVALID_API_KEY = "invalid_api_key"
    INSUFFICIENT_PERMISSIONS = "insufficient_permissions"
    IP_NOT_WHITELISTED = "ip_not_whitelisted"
    AGREEMENT_REQUIRED = "agreement_required"
    KEY_EXPIRED = "key_expired"
    REVOKED = "revoked"
    ACCOUNT_SUSPENDED = "account_suspended"
    EXCHANGE_MAINTENANCE = "exchange_maintenance"
    RATE_LIMITED = "rate_limited"
    CLOCK_SKEW = "clock_skew"
    EXCHANGE_UNAVAILABLE = "exchange_unavailable"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class StatusInfo:
    message: str
    remedy: str
    transient: bool  # the key is not at fault: keep it, retry later


STATUS_INFO: dict[Status, StatusInfo] = {
    Status.OK: StatusInfo("Connected.", "Nothing to do.", False),
    Status.INVALID_API_KEY: StatusInfo(
        "{exchange} does not accept this API key: it was deleted, mistyped, or the secret or passphrase is wrong.",
        "On {exchange}, open API Management and check the key still exists. If it does not, create a new one, "
        "then use Update API Key here (do not delete this connection: that would remove its bots and "
        "history). Paste the key, secret and passphrase with the exchange's copy buttons.", False),
    Status.INSUFFICIENT_PERMISSIONS: StatusInfo(
        "This API key lacks permissions the platform needs ({missing}), or has withdrawals enabled.",
        "On {exchange}, open API Management, Edit restrictions for this key, enable {missing}, make sure "
        "withdrawals are disabled, Save, then press Refresh here.", False),
    Status.IP_NOT_WHITELISTED: StatusInfo(
        "{exchange} refuses requests from the platform's IP addresses for this key.",
        "On {exchange}, open API Management, Edit restrictions for this key, choose 'Restrict access to "
        "trusted IPs only' and add every one of these IPs: {ips}. Save, then press Refresh here.", False),
    Status.AGREEMENT_REQUIRED: StatusInfo(
        "{exchange} requires you to accept its API trading agreement before this key can trade.",
        "Log in to {exchange}, open API Management and accept the API agreement (or the quiz/terms it shows), "
        "then press Refresh here.", False),
    Status.KEY_EXPIRED: StatusInfo(
        "This API key has expired on {exchange}{detail}.",
        "On {exchange}, create a new API key restricted to these IPs: {ips} (keys bound to IPs do not expire), "
        "then use Update API Key here to replace it in place.", False),
    Status.REVOKED: StatusInfo(
        "This API key was revoked by the platform{detail}.",
        "Delete this key on {exchange}, create a new one restricted to these IPs: {ips}, then use Update API "
        "Key here.", False),
    Status.ACCOUNT_SUSPENDED: StatusInfo(
        "{exchange} has restricted this account (suspended, banned, regional restriction or KYC required){detail}.",
        "Log in to {exchange} and follow its notice (complete verification, or contact {exchange} support). "
        "Press Refresh here once the restriction is lifted.", False),
    Status.EXCHANGE_MAINTENANCE: StatusInfo(
        "{exchange} is under maintenance.",
        "Nothing to do: the platform retries automatically when {exchange} is back. Your key is fine.", True),
    Status.RATE_LIMITED: StatusInfo(
        "{exchange} is limiting the platform's request rate.",
        "Nothing to do: the platform slows down and retries automatically. Your key is fine.", True),
    Status.CLOCK_SKEW: StatusInfo(
        "Requests reached {exchange} outside its time window even after the platform corrected its clock.",
        "Nothing to do on your side; if it persists, the platform's operators must check the server clock "
        "(NTP).", True),
    Status.EXCHANGE_UNAVAILABLE: StatusInfo(
        "{exchange} cannot be reached right now{detail}.",
        "Nothing to do: the platform retries automatically. Your key is fine.", True),
    Status.UNKNOWN: StatusInfo(
        "{exchange} answered with an error the platform does not recognise{detail}.",
        "Press Refresh in a few minutes. If it persists, contact support with the time and this message.",
        True),
}


# Where one status has causes that need different words (same status, different fix).
CAUSE_INFO: dict[tuple[Status, str], StatusInfo] = {
    (Status.INSUFFICIENT_PERMISSIONS, "withdrawals_enabled"): StatusInfo(
        "This API key can withdraw funds ({forbidden} is on); the platform never withdraws and refuses such keys.",
        "On {exchange}, open API Management, Edit restrictions for this key, turn off {forbidden}, Save, then try "
        "again (or press Refresh).", False),
    (Status.IP_NOT_WHITELISTED, "no_ip_restriction"): StatusInfo(
        "This API key is not restricted to the platform's IP addresses{detail}.",
        "On {exchange}, open API Management, Edit restrictions for this key, choose 'Restrict access to trusted IPs "
        "only' and add every one of these IPs: {ips}. Save, then try again.", False),
    (Status.ACCOUNT_SUSPENDED, "kyc_required"): StatusInfo(
        "{exchange} requires identity verification (KYC) on this account before it can trade.",
        "Log in to {exchange} and complete identity verification, then press Refresh here.", False),
}


def is_transient(status: Status) -> bool:
    return STATUS_INFO[status].transient


def render(status: Status, exchange: str, ips: list[str] | tuple[str, ...] = (), missing: str = "",
           detail: str = "", cause: str = "", forbidden: str = "") -> tuple[str, str]:
    """(message, remedy) for a person, with the exchange, egress IPs and missing permissions filled in."""
    info = CAUSE_INFO.get((status, cause)) or STATUS_INFO[status]
    fields = {"exchange": exchange, "ips": ", ".join(ips) or "(none configured)",
              "missing": missing or "the required permissions", "detail": f" ({detail})" if detail else "",
              "forbidden": forbidden or "withdrawals"}
    return info.message.format(**fields), info.remedy.format(**fields)


# Not a connection status: the platform's own outage. Answered to the caller, never written into an account (its
# last real status stands), so a user is never told their key or their exchange failed when we did.
PLATFORM_SIGNER_DOWN = ("The platform's signing service is unavailable, so {exchange} could not be asked; "
                        "this connection keeps its last known status.")


def render_platform_down(exchange: str = "the exchange") -> str:
    return PLATFORM_SIGNER_DOWN.format(exchange=exchange)
