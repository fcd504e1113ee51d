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
        "{exchange} does not accept this API key: it was deleted, mistyped, or the {credentials} is wrong.",
        "On {exchange}, open API Management and check the key still exists. If it does not, create a new one, "
        "{replace}. Paste the {pasted} with the exchange's copy buttons.", False),
    Status.INSUFFICIENT_PERMISSIONS: StatusInfo(
        "This API key lacks permissions the platform needs ({missing}).",
        "On {exchange}, open API Management, Edit restrictions for this key, enable {missing}, Save, {retry}.",
        False),
    Status.IP_NOT_WHITELISTED: StatusInfo(
        "{exchange} refuses requests from the platform's IP addresses for this key.",
        "On {exchange}, open API Management, Edit restrictions for this key, choose 'Restrict access to "
        "trusted IPs only' and add every one of these IPs: {ips}. Save, {retry}.", False),
    Status.AGREEMENT_REQUIRED: StatusInfo(
        "{exchange} requires you to accept its API trading agreement before this key can trade.",
        "Log in to {exchange}, open API Management and accept the API agreement (or the quiz/terms it shows), "
        "{retry}.", False),
    Status.KEY_EXPIRED: StatusInfo(
        "This API key has expired on {exchange}{detail}.",
        "On {exchange}, create a new API key restricted to these IPs: {ips} (keys bound to IPs do not expire), "
        "{replace}.", False),
    Status.REVOKED: StatusInfo(
        "This API key was revoked by the platform{detail}.",
        "Delete this key on {exchange}, create a new one restricted to these IPs: {ips}, {replace}.", False),
    Status.ACCOUNT_SUSPENDED: StatusInfo(
        "{exchange} has restricted this account (suspended, banned, regional restriction or KYC required){detail}.",
        "Log in to {exchange} and follow its notice (complete verification, or contact {exchange} support). "
        "Once the restriction is lifted, {retry}.", False),
    Status.EXCHANGE_MAINTENANCE: StatusInfo(
        "{exchange} is under maintenance.",
        "{auto} when {exchange} is back.", True),
    Status.RATE_LIMITED: StatusInfo(
        "{exchange} is limiting the platform's request rate.",
        "{auto} at a slower pace.", True),
    Status.CLOCK_SKEW: StatusInfo(
        "Requests reached {exchange} outside its time window even after the platform corrected its clock.",
        "Nothing to do on your side; if it persists, the platform's operators must check the server clock "
        "(NTP).", True),
    Status.EXCHANGE_UNAVAILABLE: StatusInfo(
        "{exchange} cannot be reached right now{detail}.",
        "{auto}.", True),
    Status.UNKNOWN: StatusInfo(
        "{exchange} answered with an error the platform does not recognise{detail}.",
        "{later}. If it persists, contact support with the time and this message.",
        True),
}


# Where one status has causes that need different words (same status, different fix).
CAUSE_INFO: dict[tuple[Status, str], StatusInfo] = {
    (Status.INSUFFICIENT_PERMISSIONS, "withdrawals_enabled"): StatusInfo(
        "This API key can withdraw funds ({forbidden} is on); the platform never withdraws and refuses keys that "
        "can, so that a leaked key cannot empty the account.",
        "On {exchange}, open API Management, Edit restrictions for this key, turn off {forbidden}, Save, {retry}.",
        False),
    (Status.IP_NOT_WHITELISTED, "no_ip_restriction"): StatusInfo(
        "This API key is not restricted to the platform's IP addresses{detail}.",
        "On {exchange}, open API Management, Edit restrictions for this key, choose 'Restrict access to trusted IPs "
        "only' and add every one of these IPs: {ips}. Save, {retry}.", False),
    (Status.ACCOUNT_SUSPENDED, "kyc_required"): StatusInfo(
        "{exchange} requires identity verification (KYC) on this account before it can trade.",
        "Log in to {exchange} and complete identity verification, {retry}.", False),
    # Binance -2015 "Invalid API-key, IP, or permissions for action" from every egress IP: two causes it does not
    # tell apart. Binance keys have no passphrase, so none is mentioned.
    (Status.INVALID_API_KEY, "key_ip_or_permission"): StatusInfo(
        "{exchange} refused this key from the platform's IP address ({ips}): either the key was deleted or "
        "mistyped (API key or secret), or {ips} is not on the key's IP list.",
        "On {exchange}, open API Management. If the key is not there, create a new one restricted to {ips}, "
        "{replace}. If it is, Edit restrictions for this key, choose 'Restrict access to trusted IPs only', add "
        "{ips}, Save, {retry}.", False),
    (Status.INVALID_API_KEY, "bad_passphrase"): StatusInfo(
        "{exchange} accepts this API key but says its passphrase is wrong{detail}.",
        "Enter the passphrase you chose when you created this key on {exchange} (it is not your login password and "
        "{exchange} cannot show it again). If you no longer know it, create a new key, {replace}.", False),
    (Status.INVALID_API_KEY, "passphrase_not_sent"): StatusInfo(
        "{exchange} needs this key's passphrase and none was given.",
        "Enter the passphrase you chose when you created this key on {exchange}, {retry}.", False),
}

# The same refusal reads differently by moment: a refused connect saved nothing (there is no "here" to press
# Refresh on), a refused update left the previous key in use, an existing connection can be refreshed.
MOMENTS: dict[str, dict[str, str]] = {
    "existing": {
        "retry": "then press Refresh here",
        "replace": "then use Update API Key here to replace it in place (do not delete this connection: that "
                   "would remove its bots and history)",
        "auto": "Your key is fine. Nothing to do: the platform retries automatically",
        "later": "Press Refresh in a few minutes",
        "note": ""},
    "connect": {
        "retry": "then connect it again",
        "replace": "then connect with the new key",
        "auto": "Nothing was saved: connect again",
        "later": "Try connecting again in a few minutes",
        "note": ""},
    "update": {
        "retry": "then submit the new key again",
        "replace": "then submit that new key instead",
        "auto": "The new key was not saved: submit it again",
        "later": "Submit the new key again in a few minutes",
        "note": " The new key was not saved: the connection still uses its previous key."},
}


def is_transient(status: Status) -> bool:
    return STATUS_INFO[status].transient


def render(status: Status, exchange: str, ips: list[str] | tuple[str, ...] = (), missing: str = "",
           detail: str = "", cause: str = "", forbidden: str = "", moment: str = "existing",
           passphrase: bool = True) -> tuple[str, str]:
    """(message, remedy) for a person, with the exchange, egress IPs and missing permissions filled in, worded for
    the moment it is shown (``existing`` connection, refused ``connect``, refused ``update``). ``passphrase``:
    the exchange's keys have one (OKX), so a wrong one is among the causes named."""
    info = CAUSE_INFO.get((status, cause)) or STATUS_INFO[status]
    words = MOMENTS[moment]
    fields = {"exchange": exchange, "ips": ", ".join(ips) or "(none configured)",
              "missing": missing or "the required permissions", "detail": f" ({detail})" if detail else "",
              "forbidden": forbidden or "withdrawals",
              "credentials": "secret or passphrase" if passphrase else "secret",
              "pasted": "key, secret and passphrase" if passphrase else "key and secret", **words}
    message = info.message.format(**fields)
    if status is not Status.OK:
        message += words["note"]
    return message, info.remedy.format(**fields)


# Not a connection status: the platform's own outage. Answered to the caller, never written into an account (its
# last real status stands), so a user is never told their key or their exchange failed when we did.
PLATFORM_SIGNER_DOWN = ("The platform's signing service is unavailable, so {exchange} could not be asked; "
                        "this connection keeps its last known status.")


def render_platform_down(exchange: str = "the exchange") -> str:
    return PLATFORM_SIGNER_DOWN.format(exchange=exchange)
