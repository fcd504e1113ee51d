"""``cexlink users create`` and ``cexlink accounts …`` in processes, as an operator and a user run them: the same
service as the REST API, secrets never taken as plain arguments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.platform import EGRESS, SIGNER_EGRESS
from tests.support.sandbox import SANDBOXED
from tests.support.signer import start_signer


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, Any, str]:
    out = subprocess.run([sys.executable, "-m", "cexlink.cli", *args], capture_output=True, text=True, timeout=120,
                         env={**os.environ, **env}, input=stdin)
    try:
        data = json.loads(out.stdout) if out.stdout.strip() else None
    except ValueError:
        data = out.stdout
    return out.returncode, data, out.stderr


@pytest.fixture(scope="module")
def env(sandbox, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("cli")
    signer = start_signer(tmp, sandbox.url, name="cli-signer", extra=SIGNER_EGRESS)
    environment = {"CEXLINK_DATABASE_URL": f"sqlite:///{tmp / 'app.db'}", "CEXLINK_SIGNER_SOCKET": str(signer.socket),
                   "CEXLINK_EGRESS_IPS": ",".join(EGRESS), "CEXLINK_RATE_LIMIT": "false",
                   "CEXLINK_EXCHANGE_URLS": ",".join(f"{ex}={sandbox.url}" for ex in SANDBOXED)}
    yield environment, tmp
    signer.stop()


def test_accounts_through_the_cli(env, new_key, admin) -> None:
    environment, tmp = env
    code, user, _ = cli(environment, "users", "create", "carol")
    assert code == 0 and user["token"].startswith("cxl_")
    environment = {**environment, "CEXLINK_TOKEN": user["token"]}
    key = new_key("okx", ips=EGRESS)
    secret_file = tmp / "secret"
    secret_file.write_text(key["secret"] + "\n")
    code, account, err = cli(environment, "accounts", "connect", "--exchange", "okx", "--name", "cli okx",
                             "--api-key", key["api_key"], "--secret-file", str(secret_file), "--passphrase-file", "-",
                             stdin=key["passphrase"])
    assert code == 0, err
    assert account["status"] == "ok" and account["exchange_uid"] == key["uid"]
    code, listed, _ = cli(environment, "accounts", "list")
    assert [a["id"] for a in listed] == [account["id"]]
    code, shown, _ = cli(environment, "accounts", "show", str(account["id"]))
    assert shown["name"] == "cli okx"
    admin.patch(f"/keys/okx/{key['api_key']}", json={"ips": ["127.0.0.1"]})
    code, refreshed, _ = cli(environment, "accounts", "refresh", str(account["id"]))
    assert refreshed["status"] == "ip_not_whitelisted"
    newer = new_key("okx", ips=EGRESS, uid=key["uid"])
    secret_file.write_text(newer["secret"])
    code, updated, err = cli(environment, "accounts", "update-key", str(account["id"]), "--api-key",
                             newer["api_key"], "--secret-file", str(secret_file), "--passphrase-file", "-",
                             stdin=newer["passphrase"])
    assert code == 0, err
    assert updated["id"] == account["id"] and updated["status"] == "ok"
    code, summary, _ = cli(environment, "accounts", "refresh")
    assert summary == {"refreshed": 1, "statuses": {"ok": 1}}
    code, deleted, _ = cli(environment, "accounts", "delete", str(account["id"]))
    assert deleted["deleted"] and "Delete the API key on OKX too" in deleted["reminder"]
    code, _, err = cli(environment, "accounts", "show", str(account["id"]))
    assert code == 5 and "no such exchange account" in err


def test_cli_refusals_and_bad_input(env, new_key) -> None:
    environment, tmp = env
    _, user, _ = cli(environment, "users", "create", "dave")
    environment = {**environment, "CEXLINK_TOKEN": user["token"]}
    weak = new_key("binance", permissions="read", ips=EGRESS)
    code, _, err = cli(environment, "accounts", "connect", "--exchange", "binance", "--name", "weak", "--api-key",
                       weak["api_key"], "--secret-file", "-", stdin=weak["secret"])
    refusal = json.loads(err)
    assert code == 4 and refusal["error"] == "insufficient_permissions"
    assert refusal["missing"] == ["Enable Spot & Margin Trading"]
    code, _, err = cli(environment, "accounts", "connect", "--exchange", "nowhere", "--name", "x", "--api-key",
                       "k" * 64, "--secret-file", "-", stdin="s" * 64)
    assert code == 2 and json.loads(err)["detail"][0]["loc"] == ["body", "exchange"]
    code, _, err = cli({**environment, "CEXLINK_TOKEN": "cxl_wrong"}, "accounts", "list")
    assert code == 3 and "token" in err
    assert weak["secret"] not in err
    code, _, err = cli(environment, "users", "create", "dave")
    assert code == 2 and "exists" in err


def test_secrets_are_not_plain_arguments(env) -> None:
    environment, _ = env
    out = subprocess.run([sys.executable, "-m", "cexlink.cli", "accounts", "connect", "--help"], capture_output=True,
                         text=True, env={**os.environ, **environment})
    assert "--secret-file" in out.stdout and "--secret " not in out.stdout and "--api-key" in out.stdout


def test_settings_errors_name_the_variable(tmp_path: Path) -> None:
    code, _, err = cli({"CEXLINK_EXCHANGE_URLS": "binance"}, "users", "create", "erin")
    assert code != 0 and "CEXLINK_EXCHANGE_URLS" in err


def test_tokens_through_the_cli(env) -> None:
    """``cexlink users tokens``: a user lists, creates (shown once, with an expiry) and revokes their own; an
    administrator anyone's. A revoked token stops working at once."""
    environment, _ = env
    _, frank, _ = cli(environment, "users", "create", "frank")
    _, boss, _ = cli(environment, "users", "create", "boss", "--admin")
    mine = {**environment, "CEXLINK_TOKEN": frank["token"]}
    code, made, err = cli(mine, "users", "tokens", "create", "--label", "ci", "--expires-in-days", "7")
    assert code == 0, err
    assert made["token"].startswith("cxl_") and made["status"] == "active" and made["expires_at"]
    code, listed, _ = cli(mine, "users", "tokens", "list")
    assert code == 0 and {t["label"] for t in listed} == {"cli", "ci"}
    assert made["token"] not in json.dumps(listed) and frank["token"] not in json.dumps(listed)
    code, _, err = cli(mine, "users", "tokens", "create", "--expires-in-days", "0")
    assert code == 2 and json.loads(err)["detail"][0]["loc"][-1] == "expires_in_days"
    code, _, err = cli(mine, "users", "tokens", "list", "--user-id", str(boss["user_id"]))
    assert code == 4 and json.loads(err)["error"] == "forbidden"
    code, out, _ = cli(mine, "users", "tokens", "revoke", str(made["id"]))
    assert code == 0 and out["status"] == "revoked"
    code, _, err = cli({**environment, "CEXLINK_TOKEN": made["token"]}, "users", "tokens", "list")
    assert code == 3 and "token" in err
    admin = {**environment, "CEXLINK_TOKEN": boss["token"]}
    first = next(t for t in listed if t["label"] == "cli")
    code, _, err = cli({**mine}, "users", "tokens", "revoke", "999999")
    assert code == 5 and "no such token" in err
    code, out, _ = cli(admin, "users", "tokens", "revoke", str(first["id"]))  # an administrator: anyone's
    assert code == 0 and out["user_id"] == frank["user_id"] and out["status"] == "revoked"
    code, _, _ = cli(mine, "users", "tokens", "list")
    assert code == 3  # frank's last token is gone
