"""A Sign Center in its own process, as deployed: ``cexlink signer serve`` on a Unix socket; audit log helpers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cexlink.signer.checkpoint_key import default_checkpoint_key_path, open_checkpoint_key, public_key_text
from cexlink.signer.client import SignerClient
from tests.support.sandbox import SANDBOXED


@dataclass
class SignerProcess:
    proc: subprocess.Popen[bytes]
    socket: Path
    data_dir: Path
    log: Path

    def stop(self, kill: bool = False) -> None:
        if self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            self.proc.wait(timeout=15)


def start_signer(tmp: Path, sandbox_url: str | None, name: str = "signer", data_dir: Path | None = None,
                 extra: list[str] | None = None, replica: str = "0") -> SignerProcess:
    data_dir = data_dir or tmp / f"{name}-data"
    sock = tmp / f"{name}.sock"
    log = tmp / f"{name}.log"
    args = [sys.executable, "-m", "cexlink.cli", "signer", "serve", "--socket", str(sock), "--data-dir",
            str(data_dir), "--replica", replica, *(extra or [])]
    if "--checkpoint-key" not in args:  # beside the data directory, never in it (verify_cli finds it there)
        args += ["--checkpoint-key", str(default_checkpoint_key_path(data_dir))]
    for ex in SANDBOXED if sandbox_url else ():
        args += ["--exchange-url", f"{ex}={sandbox_url}"]
    if sock.exists():  # left by a killed process: wait for the new one's, not this
        sock.unlink()
    out = log.open("ab")
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"signer did not start: {log.read_text()}")
        time.sleep(0.02)
    time.sleep(0.05)
    return SignerProcess(proc, sock, data_dir, log)


def store(client: SignerClient, key: dict, exchange: str, owner: str = "user-1") -> str:
    """Hand a sandbox key (as the admin API returned it) to the Sign Center; return the credential id."""
    return client.store(owner, exchange, key["api_key"], key["secret"], key.get("passphrase"))["credential_id"]


def checkpoint_public_key(data_dir: Path, key: Path | None = None) -> str:
    """The public key of the checkpoint key start_signer gave a Sign Center on ``data_dir`` (base64)."""
    path = key or default_checkpoint_key_path(data_dir)
    return public_key_text(open_checkpoint_key(path, data_dir, create=False).public_key())


def verify_cli(data_dir: Path, anchor: Path | None = None, key: Path | None = None) -> tuple[int, dict]:
    """``cexlink signer audit verify`` on a data directory, against the public key of its checkpoint key (and
    the anchor file, if given): its exit status and its first log's result."""
    args = [sys.executable, "-m", "cexlink.cli", "signer", "audit", "verify", "--data-dir", str(data_dir),
            "--public-key", checkpoint_public_key(data_dir, key), *(["--anchor", str(anchor)] if anchor else [])]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return out.returncode, json.loads(out.stdout.splitlines()[0])


def audit_records(log: Path) -> list[dict]:
    """The lines of an audit log, parsed; a running or killed signer's reserve (NULs) left out."""
    return [json.loads(line) for line in log.read_bytes().rstrip(b"\0").splitlines()]
