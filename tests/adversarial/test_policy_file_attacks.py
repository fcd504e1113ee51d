"""An attacker who can write the Sign Center's policy file (or talk an operator into an entry) tries to open a
forbidden family: every forbidden endpoint of the five built-in exchanges, as classified in
signer/families.json, is refused by the loader with the entry and its family named; a real ``cexlink signer
serve --policy-file`` refuses to start on one of each family for each exchange (exit 2, nothing served); and a
running Sign Center refuses each one at signing, over its real socket, with the family's reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cexlink.errors import InputError, SignerRefused
from cexlink.signer import families
from cexlink.signer.client import SignerClient
from cexlink.signer.families import FAMILIES, Endpoint
from cexlink.signer.policy import READ_TRADE, Reason, allowlists
from tests.support.signer import SignerProcess, start_signer

COVERED = ("binance", "okx", "bybit", "kucoin", "kraken")
# Keys of each exchange's shape (nothing is sent: every call here is refused before any request is built).
KEYS: dict[str, tuple[str, str, str | None]] = {
    "binance": ("vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEhA8",
                "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j", None),
    "okx": ("0b3a4c9e-2f1d-4e5a-8b7c-6d5e4f3a2b1c", "8C1F6D3B2A9E4F5C7D0B1A2E3F4C5D6B", "Passphrase-1"),
    "bybit": ("XQ7p2LmN4rT8vW1yZ3", "Kc9dF2gH5jL8mN1pQ4rS7tV0wX3yZ6aB9cD2", None),
    "kucoin": ("64f1c2d3e4a5b6c7d8e9f0a1", "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b", "Passphrase-1"),
    "kraken": ("K2r4kEnApIkEy0123456789abcdefghijklmnopqrstuvwxyzABCDE",
               "c2VjcmV0LWJ5dGVzLWZvci1hLWtyYWtlbi10ZXN0LWtleS0wMTIzNDU2Nzg5YWJjZGVm", None),
}


def forbidden_endpoints(exchange: str) -> list[tuple[Endpoint, str]]:
    classes = families.tables()[exchange].classes
    return sorted((e, cls) for e, cls in classes.items() if cls in FAMILIES)


def one_per_family() -> list[tuple[str, str, Endpoint]]:
    """The first forbidden endpoint of each family the table has, per exchange."""
    picked: dict[tuple[str, str], Endpoint] = {}
    for exchange in COVERED:
        for endpoint, family in forbidden_endpoints(exchange):
            picked.setdefault((exchange, family), endpoint)
    return [(exchange, family, endpoint) for (exchange, family), endpoint in sorted(picked.items())]


def test_every_family_is_on_every_exchange_it_exists_on() -> None:
    """The sample the server is started on covers what the issue names, on each exchange that has it."""
    pairs = {(exchange, family) for exchange, family, _ in one_per_family()}
    assert {(x, "withdrawal") for x in COVERED} | {(x, "transfer") for x in COVERED} <= pairs
    assert {("bybit", "position_move"), ("okx", "position_move"), ("binance", "payment"),
            ("kucoin", "subaccount"), ("bybit", "key_management")} <= pairs
    assert len(pairs) >= 20


@pytest.mark.parametrize("exchange", COVERED)
def test_the_loader_refuses_every_forbidden_endpoint(exchange: str) -> None:
    endpoints = forbidden_endpoints(exchange)
    assert endpoints
    harmless = sorted(READ_TRADE[exchange])[0]  # a valid entry first: the refusal names the bad one's index
    for (api, method, path), family in endpoints:
        for m in (method, method.lower()):  # the loader upper-cases methods: a lower-case one is the same entry
            with pytest.raises(InputError) as e:
                allowlists({"allow": {exchange: [list(harmless), [api, m, path]]}})
            assert e.value.field == f"allow.{exchange}[1]", (api, method, path)
            assert f"{api} {path} is never signed ({family}_forbidden)" in e.value.message


@pytest.mark.parametrize("exchange, entry", [
    ("binance", ["private", "GET", "myTrade"]),  # myTrades
    ("binance", ["private", "PUT", "order"]),  # a real path, with a method ccxt does not send it with
    ("okx", ["private", "GET", "account/balances"]),
    ("bybit", ["private", "POST", "v5/order/create-batchs"]),
    ("kucoin", ["Private", "GET", "accounts"]),  # the api is case-sensitive, as ccxt passes it
    ("kraken", ["private", "POST", "balance"]),
])
def test_the_loader_refuses_an_endpoint_ccxt_does_not_have(exchange: str, entry: list[str]) -> None:
    with pytest.raises(InputError) as e:
        allowlists({"allow": {exchange: [entry]}})
    assert e.value.field == f"allow.{exchange}[0]"
    assert f"is not an endpoint of ccxt's {exchange} API" in e.value.message


def _serve(tmp: Path, name: str, content: dict) -> subprocess.CompletedProcess[str]:
    policy = tmp / f"{name}.json"
    policy.write_text(json.dumps(content))
    return subprocess.run([sys.executable, "-m", "cexlink.cli", "signer", "serve", "--socket",
                           str(tmp / f"{name}.sock"), "--data-dir", str(tmp / f"{name}-data"), "--policy-file",
                           str(policy)],
                          capture_output=True, text=True, timeout=180, env={**os.environ, "COLUMNS": "400"})


@pytest.mark.slow
def test_the_sign_center_does_not_start_on_any_family(tmp_path: Path) -> None:
    """One real start per family per exchange (in parallel: each loads ccxt), and one for a typo."""
    cases: list[tuple[str, dict, str]] = []
    for exchange, family, (api, method, path) in one_per_family():
        entry = f"allow.{exchange}[0]: {api} {path} is never signed ({family}_forbidden)"
        cases.append((f"{exchange}-{family}", {"allow": {exchange: [[api, method, path]]}}, entry))
    cases.append(("binance-typo", {"allow": {"binance": [["private", "GET", "myTrade"]]}},
                  "allow.binance[0]: GET private myTrade is not an endpoint of ccxt's binance API"))
    with ThreadPoolExecutor(max_workers=4) as pool:
        outs = list(pool.map(lambda c: _serve(tmp_path, c[0], c[1]), cases))
    wrong = []
    for (name, _, says), out in zip(cases, outs, strict=True):
        if not (out.returncode == 2 and "--policy-file" in out.stderr and says in out.stderr
                and not (tmp_path / f"{name}.sock").exists()):
            wrong.append((name, out.returncode, out.stderr[-400:]))
    assert not wrong


@pytest.fixture(scope="module")
def bare_signer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignerProcess]:
    """A Sign Center with no exchange URLs: nothing it signs could be sent anywhere."""
    proc = start_signer(tmp_path_factory.mktemp("families"), None)
    yield proc
    proc.stop()


@pytest.mark.parametrize("exchange", COVERED)
def test_every_forbidden_endpoint_is_refused_at_signing(bare_signer: SignerProcess, exchange: str) -> None:
    client = SignerClient(socket_path=bare_signer.socket)
    try:
        key, secret, passphrase = KEYS[exchange]
        cred = client.store("attacker", exchange, key, secret, passphrase)["credential_id"]
        wrong = []
        for (api, method, path), family in forbidden_endpoints(exchange):
            # forward (sign and send) answers with the family; sign may refuse first because the exchange's
            # signature must not leave the Sign Center at all (forward_required) — either way nothing is signed.
            for call, also in ((client.forward, set()), (client.sign, {Reason.FORWARD_REQUIRED.value})):
                with pytest.raises(SignerRefused) as e:
                    call(cred, exchange, api.split("/"), method, path, {})
                if e.value.reason not in {f"{family}_forbidden"} | also:
                    wrong.append((call.__name__, api, method, path, e.value.reason))
        assert not wrong
    finally:
        client.close()
