"""From probe facts to one status: the rules that need no exchange (settings, exchanges without IP binding)."""

from __future__ import annotations

from cexlink.accounts.assess import DAY_MS, assess
from cexlink.config import Settings
from cexlink.domain.statuses import Status, render
from cexlink.exchanges.capabilities import BY_ID
from cexlink.exchanges.probes import KeyFacts

NOW = 1_800_000_000_000
SETTINGS = Settings(egress_ips=["203.0.113.7", "203.0.113.8"])


def facts(**kw) -> KeyFacts:
    base = {"permissions": list(BY_ID["binance"].required_permissions), "ip_restricted": True,
            "ip_whitelist": None, "key_created_at": NOW - 2 * DAY_MS}
    return KeyFacts(**{**base, **kw})


def test_a_key_bound_to_our_ips_with_the_right_permissions_is_ok() -> None:
    assert assess(BY_ID["binance"], facts(), SETTINGS, NOW).status is Status.OK


def test_unrestricted_key_refused_by_default_and_warned_when_allowed() -> None:
    f = facts(ip_restricted=False)
    refused = assess(BY_ID["binance"], f, SETTINGS, NOW)
    assert (refused.status, refused.cause) == (Status.IP_NOT_WHITELISTED, "no_ip_restriction")
    assert refused.missing == SETTINGS.egress_ips
    relaxed = Settings(egress_ips=SETTINGS.egress_ips, allow_unrestricted_ip_keys=True)
    ok = assess(BY_ID["binance"], f, relaxed, NOW)
    assert ok.status is Status.OK
    cutoff = "2027-02-12"  # 30 days after creation (NOW - 2 days), Binance's rule
    assert any(cutoff in w and "203.0.113.7, 203.0.113.8" in w for w in ok.warnings), ok.warnings
    okx = assess(BY_ID["okx"], facts(permissions=["Read", "Trade"], ip_restricted=False), relaxed, NOW)
    assert any("14 days without use" in w for w in okx.warnings)


def test_exchange_without_ip_binding_is_accepted_with_a_warning() -> None:
    gemini = BY_ID["gemini"]
    result = assess(gemini, facts(permissions=list(gemini.required_permissions), ip_restricted=None), SETTINGS, NOW)
    assert result.status is Status.OK
    assert result.warnings == ["Gemini cannot bind API keys to IP addresses: anyone holding this key can use it."]


def test_reported_whitelist_missing_one_egress_ip() -> None:
    okx = BY_ID["okx"]
    r = assess(okx, facts(permissions=["Read", "Trade"], ip_whitelist=["203.0.113.7"]), SETTINGS, NOW)
    assert (r.status, r.missing) == (Status.IP_NOT_WHITELISTED, ["203.0.113.8"])


def test_order_of_checks_follows_what_a_person_fixes_first() -> None:
    both = facts(permissions=["Enable Reading", "Enable Withdrawals"], ip_restricted=False)
    r = assess(BY_ID["binance"], both, SETTINGS, NOW)
    assert (r.status, r.cause, r.forbidden) == (Status.INSUFFICIENT_PERMISSIONS, "withdrawals_enabled",
                                                ["Enable Withdrawals"])
    lapsed = assess(BY_ID["binance"], facts(trading_expires_at=NOW - 1), SETTINGS, NOW)
    assert lapsed.status is Status.KEY_EXPIRED
    soon = assess(BY_ID["binance"], facts(trading_expires_at=NOW + 3 * DAY_MS), SETTINGS, NOW)
    assert soon.status is Status.OK and "rotate it" in soon.warnings[0]
    kyc = assess(BY_ID["okx"], facts(permissions=["Read", "Trade"], kyc_required=True), SETTINGS, NOW)
    assert (kyc.status, kyc.cause) == (Status.ACCOUNT_SUSPENDED, "kyc_required")


def test_every_status_renders_a_message_and_a_remedy() -> None:
    for status in Status:
        message, remedy = render(status, "Binance", SETTINGS.egress_ips, missing="Enable Reading")
        assert message and remedy and "{" not in message + remedy


def test_permissions_the_platform_never_uses_get_a_least_privilege_warning_not_a_refusal() -> None:
    wide = facts(permissions=[*BY_ID["binance"].required_permissions, "Enable Futures", "Permits Universal Transfer"])
    r = assess(BY_ID["binance"], wide, SETTINGS, NOW)
    assert r.status is Status.OK
    assert any("never uses: Enable Futures, Permits Universal Transfer" in w and "least privilege" in w
               for w in r.warnings), r.warnings
    assert not any("never uses" in w for w in assess(BY_ID["binance"], facts(), SETTINGS, NOW).warnings)


def test_refusals_are_worded_for_the_moment_they_are_shown() -> None:
    import re

    existing_only = re.compile(r"\bRefresh\b|Update API Key|\bhere\b")
    for status in Status:
        if status is Status.OK:
            continue
        for cause in ("", "withdrawals_enabled", "no_ip_restriction", "kyc_required", "key_ip_or_permission",
                      "bad_passphrase"):
            message, remedy = render(status, "Binance", SETTINGS.egress_ips, cause=cause, moment="connect")
            assert not existing_only.search(message + remedy), (status, cause, message, remedy)
            message, _ = render(status, "Binance", SETTINGS.egress_ips, cause=cause, moment="update")
            assert "still uses its previous key" in message
    _, remedy = render(Status.IP_NOT_WHITELISTED, "Binance", SETTINGS.egress_ips)
    assert "press Refresh here" in remedy  # an existing connection does have a Refresh button


def test_binance_has_no_passphrase_to_blame() -> None:
    message, remedy = render(Status.INVALID_API_KEY, "Binance", ["203.0.113.7"], cause="key_ip_or_permission",
                             moment="connect", passphrase=False)
    assert "deleted or mistyped" in message and "203.0.113.7 is not on the key's IP list" in message
    assert "passphrase" not in (message + remedy).lower()
    plain, _ = render(Status.INVALID_API_KEY, "Binance", moment="connect", passphrase=False)
    assert "passphrase" not in plain
