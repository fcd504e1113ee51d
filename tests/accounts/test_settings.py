"""Operator settings change what a connection accepts: sub-accounts, keys without an IP restriction."""

from __future__ import annotations

from pathlib import Path

from tests.support.platform import EGRESS, body, start_platform


def test_operator_choices(sandbox, new_key, tmp_path: Path) -> None:
    platform = start_platform(tmp_path, sandbox.url, allow_sub_accounts=False, allow_unrestricted_ip_keys=True)
    try:
        with platform.client() as c:
            for exchange in ("okx", "bybit"):
                r = c.post("/api/v1/accounts", json=body(new_key(exchange, ips=EGRESS, sub_account=True), exchange))
                assert r.status_code == 400 and r.json()["error"] == "sub_account_not_allowed", r.text
            r = c.post("/api/v1/accounts", json=body(new_key("bybit"), "bybit"))  # no IP restriction
            assert r.status_code == 201, r.text
            [warning] = r.json()["warnings"]
            assert "not restricted to the platform's IPs" in warning and "Bybit stops this key trading on" in warning
            assert "127.0.0.1, 127.0.0.2" in warning
    finally:
        platform.stop()
        platform.signer.stop()


def test_sub_accounts_are_recognised(sandbox, new_key, tmp_path: Path) -> None:
    platform = start_platform(tmp_path, sandbox.url)
    try:
        with platform.client() as c:
            for exchange in ("okx", "bybit"):
                r = c.post("/api/v1/accounts", json=body(new_key(exchange, ips=EGRESS, sub_account=True), exchange))
                assert r.status_code == 201 and r.json()["is_sub_account"] is True, r.text
    finally:
        platform.stop()
        platform.signer.stop()


def test_api_server_with_a_remote_sign_center_over_http(sandbox, new_key, tmp_path: Path) -> None:
    """The Sign Center on another host: the API server reaches it over HTTP with a bearer token."""
    import socket

    from tests.support.platform import start_http_platform

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    platform = start_http_platform(tmp_path, sandbox.url, port)
    try:
        with platform.client() as c:
            for exchange in ("binance", "okx"):
                r = c.post("/api/v1/accounts", json=body(new_key(exchange, ips=EGRESS), exchange))
                assert r.status_code == 201 and r.json()["status"] == "ok", r.text
    finally:
        platform.stop()
        platform.signer.stop()
