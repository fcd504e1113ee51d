"""``cexlink accounts …`` and ``cexlink users …`` in processes, as a person and a script run them against a running
API: tables by default, ``--json`` for scripts, an error as one line with its remedy and a non-zero exit, set up
from the environment or the config file ``cexlink up`` writes, and no secret on the command line or in output."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cexlink.up import _cli_setup
from tests.support.platform import EGRESS, Platform, start_platform


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Cli:
    platform: Platform
    home: Path  # the working directory and $HOME of every run: no config file but the test's own
    secrets: list[str]  # every secret a test used: never in any output

    def env(self, user: str | None = "alice", **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("CEXLINK_")}
        base.update(HOME=str(self.home), XDG_CONFIG_HOME=str(self.home / ".config"), COLUMNS="200")
        if user is not None:
            base.update(CEXLINK_URL=self.platform.url, CEXLINK_TOKEN=self.platform.tokens[user])
        return {**base, **extra}

    def __call__(self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> Run:
        argv = [sys.executable, "-m", "cexlink.cli", *args]
        assert not any(s in a for s in self.secrets for a in argv)  # never a secret in argv (process lists)
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120, input=stdin,
                           env=self.env() if env is None else env, cwd=cwd or self.home)
        for secret in self.secrets:
            assert secret not in p.stdout and secret not in p.stderr
        return Run(p.returncode, p.stdout, p.stderr)


def one_line_error(run: Run, code: int, *words: str) -> str:
    """An error as a person reads it: non-zero exit, one line on stderr with the remedy, never a JSON dump."""
    assert run.code == code, (run.code, run.out, run.err)
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.err
    assert " — " in lines[0]  # message — remedy
    assert "{" not in lines[0] and "loc" not in lines[0] and "Traceback" not in run.err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def cli(sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    tmp = tmp_path_factory.mktemp("cli")
    platform = start_platform(tmp, sandbox.url)
    home = tmp / "home"
    home.mkdir()
    yield Cli(platform, home, [])
    platform.stop()
    platform.signer.stop()


def test_accounts_tables_json_and_the_whole_lifecycle(cli: Cli, new_key, admin) -> None:
    key = new_key("okx", ips=EGRESS)
    cli.secrets += [key["secret"], key["passphrase"]]
    secret_file = cli.home / "secret"
    secret_file.write_text(key["secret"] + "\n")
    run = cli("accounts", "connect", "--exchange", "okx", "--name", "cli okx", "--api-key", key["api_key"],
              "--secret-file", str(secret_file), "--passphrase-file", "-", "--json", stdin=key["passphrase"])
    assert run.code == 0, run.err
    account = run.json()
    assert account["status"] == "ok" and account["exchange_uid"] == key["uid"]
    assert key["api_key"] not in run.out  # only the masked key is ever shown

    table = cli("accounts", "list")
    assert table.code == 0, table.err
    for column in ("ID", "Exchange", "Name", "Status", "Needs action", "Key", "Balances", "Checked"):
        assert column in table.out
    assert account["masked_key"] in table.out and "cli okx" in table.out and "USDT" in table.out
    assert [a["id"] for a in cli("accounts", "list", "--json").json()] == [account["id"]]

    admin.patch(f"/keys/okx/{key['api_key']}", json={"ips": ["127.0.0.1"]})  # the user narrows the key's IPs
    run = cli("accounts", "refresh", str(account["id"]))
    assert run.code == 0 and "ip_not_whitelisted" in run.out and "Whitelist the platform's IPs" in run.out
    shown = cli("accounts", "show", str(account["id"]), "--json").json()
    assert shown["status"] == "ip_not_whitelisted"
    assert cli("accounts", "show", str(account["id"])).out.count("127.0.0.2")  # the remedy names the IPs

    newer = new_key("okx", ips=EGRESS, uid=key["uid"])
    cli.secrets += [newer["secret"], newer["passphrase"]]
    secret_file.write_text(newer["secret"])
    run = cli("accounts", "update-key", str(account["id"]), "--api-key", newer["api_key"], "--secret-file",
              str(secret_file), "--passphrase-file", "-", "--json", stdin=newer["passphrase"])
    assert run.code == 0, run.err
    assert run.json()["id"] == account["id"] and run.json()["status"] == "ok"

    assert cli("accounts", "refresh", "--all", "--json").json() == {"refreshed": 1, "statuses": {"ok": 1}}
    assert "Refreshed 1 account(s): ok 1." in cli("accounts", "refresh").out
    one_line_error(cli("accounts", "refresh", "--all-users"), 4, "administrator")  # alice is not one
    assert cli("accounts", "refresh", "--all-users", env=cli.env("root")).code == 0

    events = cli("accounts", "events", str(account["id"]))
    assert events.code == 0 and all(c in events.out for c in ("Time", "Severity", "Kind", "Message"))
    listed = cli("accounts", "events", "--json").json()
    assert isinstance(listed, list) and all({"time", "kind", "message"} <= set(e) for e in listed)

    run = cli("accounts", "delete", str(account["id"]), stdin="n\n")  # asked, answered no: nothing deleted
    question, _, answer = run.err.partition("[y/N]:")
    assert "'cli okx' also deletes: its bots (none), the history of its 0 deals" in question  # the API's list
    one_line_error(Run(run.code, run.out, answer), 1, "nothing deleted", "--yes")
    assert cli("accounts", "show", str(account["id"]), "--json").json()["id"] == account["id"]
    run = cli("accounts", "delete", str(account["id"]), "--yes")
    assert run.code == 0 and "Deleted." in run.out and "Delete the API key on OKX too" in run.out
    one_line_error(cli("accounts", "show", str(account["id"])), 5, "No such", "list yours")


def test_errors_are_one_line_with_the_remedy(cli: Cli, new_key) -> None:
    weak = new_key("binance", permissions="read", ips=EGRESS)
    cli.secrets.append(weak["secret"])
    run = cli("accounts", "connect", "--exchange", "binance", "--name", "weak", "--api-key", weak["api_key"],
              "--secret-file", "-", stdin=weak["secret"])
    line = one_line_error(run, 4, "Enable Spot & Margin Trading")
    assert "Refresh here" not in line and "Update API Key here" not in line  # nothing was saved
    run = cli("accounts", "connect", "--exchange", "binance", "--name", "weak", "--api-key", weak["api_key"],
              "--secret-file", "-", "--json", stdin=weak["secret"])
    assert run.code == 4 and not run.out  # scripts: same exit code, the line on stderr
    line = one_line_error(cli("accounts", "connect", "--exchange", "nowhere", "--name", "x", "--api-key", "k" * 64,
                              "--secret-file", "-", stdin="s" * 64), 2)
    assert line.startswith("error: exchange")  # names the field
    one_line_error(cli("accounts", "list", env=cli.env(CEXLINK_TOKEN="cxl_wrong")), 3, "token",
                   "cexlink users tokens create")
    one_line_error(cli("accounts", "list", env=cli.env(None)), 1, "CEXLINK_URL", "cexlink up")
    one_line_error(cli("accounts", "list", env=cli.env(CEXLINK_URL="http://127.0.0.1:9")), 1, "cannot reach",
                   "CEXLINK_URL")
    one_line_error(cli("accounts", "show", "0"), 2, "account_id")  # the API's 422, as a line


def test_config_file_written_by_up_sets_the_cli_up(cli: Cli) -> None:
    """``cexlink up`` writes ``var/cli.json`` (mode 600) and prints the one line that sets the CLI up elsewhere."""
    token = cli.platform.tokens["bob"]
    line = _cli_setup(cli.home / "var", cli.platform.url, token)
    config = cli.home / "var" / "cli.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert json.loads(config.read_text()) == {"url": cli.platform.url, "token": token}
    bare = cli.env(None)
    assert cli("accounts", "list", "--json", env=bare).json() == []  # read from var/cli.json in this directory
    assert "No exchange accounts yet" in cli("accounts", "list", env=bare).out

    elsewhere = cli.home / "elsewhere"
    elsewhere.mkdir()
    one_line_error(cli("accounts", "list", env=bare, cwd=elsewhere), 1, "CEXLINK_URL")
    exports = dict(word.split("=", 1) for word in shlex.split(line.split("export ", 1)[1].split("(")[0]))
    assert cli("accounts", "list", "--json", env={**bare, **exports}, cwd=elsewhere).json() == []
    assert cli("accounts", "list", "--json", env={**bare, "CEXLINK_CLI_CONFIG": str(config)}, cwd=elsewhere).code == 0

    config.write_text("not json")
    one_line_error(cli("accounts", "list", env=bare), 1, "cli.json", "CEXLINK_URL")


def test_tokens_through_the_cli(cli: Cli) -> None:
    """``cexlink users tokens``: list, create (shown once), revoke; a revoked token stops working at once."""
    made = cli("users", "tokens", "create", "--label", "ci", "--expires-in-days", "7", "--json", env=cli.env("bob"))
    assert made.code == 0, made.err
    new = made.json()
    assert new["token"].startswith("cxl_") and new["status"] == "active" and new["expires_at"]
    cli.secrets.append(new["token"])  # from here on: in no output
    table = cli("users", "tokens", "list", env=cli.env("bob"))
    assert all(c in table.out for c in ("ID", "Label", "Status", "Expires")) and "ci" in table.out
    assert {t["label"] for t in cli("users", "tokens", "list", "--json", env=cli.env("bob")).json()} >= {"ci"}
    one_line_error(cli("users", "tokens", "create", "--expires-in-days", "0", env=cli.env("bob")), 2,
                   "expires_in_days")
    one_line_error(cli("users", "tokens", "list", "--user-id", str(cli.platform.ids["root"]), env=cli.env("bob")),
                   4)
    run = cli("users", "tokens", "revoke", str(new["id"]), env=cli.env("bob"))
    assert run.code == 0 and "revoked" in run.out
    one_line_error(cli("accounts", "list", env=cli.env(CEXLINK_TOKEN=new["token"])), 3, "token")
    one_line_error(cli("users", "tokens", "revoke", "999999", env=cli.env("bob")), 5, "No such")
    shown = cli("users", "tokens", "create", "--label", "once", env=cli.env("bob"))
    assert shown.code == 0 and "shown this once" in shown.out and "cxl_" in shown.out


def test_users_create_on_the_server(cli: Cli) -> None:
    env = cli.env(None, CEXLINK_DATABASE_URL=cli.platform.settings.database_url)
    made = cli("users", "create", "carol", "--json", env=env)
    assert made.code == 0, made.err
    token = made.json()["token"]
    assert token.startswith("cxl_")
    assert cli("accounts", "list", "--json", env=cli.env(CEXLINK_TOKEN=token)).json() == []  # usable over the API
    one_line_error(cli("users", "create", "carol", env=env), 2, "exists")
    one_line_error(cli("users", "create", "erin", env={**env, "CEXLINK_EXCHANGE_URLS": "binance"}), 1,
                   "CEXLINK_EXCHANGE_URLS")


def test_secrets_are_not_plain_arguments(cli: Cli) -> None:
    for command in (("accounts", "connect"), ("accounts", "update-key")):
        out = cli(*command, "--help").out
        assert "--secret-file" in out and "--api-key" in out
        assert "--secret " not in out and "--passphrase TEXT" not in out  # a flag to prompt, a file to read
