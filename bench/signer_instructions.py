"""Instructions the Sign Center executes per signature, counted by callgrind: steady whatever else the machine
is doing, unlike a wall-clock rate on a shared VM.

The work of one signature as the socket thread does it — parse the line, check the arguments, sign through the
policy and ccxt, append the audit record, write the answer line — run in-process N times under
``valgrind --tool=callgrind``, for two values of N; the difference divided by the difference of N leaves out
start-up. Beside it, the same for ccxt's own ``sign()`` of the same request (the floor). Needs valgrind
(Debian's package). Run: ``python -m bench.signer_instructions``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import report

RUNS = (300, 1300)


def _loop(what: str, n: int) -> None:
    from cexlink.signer.engine import SignCenter, SignerConfig
    from cexlink.signer.protocol import Forwarder, Service
    from cexlink.signer.wire import line, parse

    # KuCoin: the sign operation answers only where the signature binds the whole request.
    engine = SignCenter(SignerConfig(Path(tempfile.mkdtemp(prefix="bench-instr-")), rate_per_credential=1e9,
                                     burst_per_credential=1e9))
    cred = engine.store_credential("o", "kucoin", "64f1a2b3c4d5e6f708192a3b", "1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b",
                                   "kc-pass-123")["credential_id"]
    if what == "ccxt":
        ex = engine._entry(cred, "kucoin").exchange
        for _ in range(n):
            ex.sign("accounts", ["private"], "GET", {})
        return
    service = Service(engine, Forwarder())
    raw = line({"id": 1, "op": "sign", "args": {"credential_id": cred, "exchange": "kucoin", "api": ["private"],
                                                "method": "GET", "path": "accounts", "params": {}, "context": {}}})
    for _ in range(n):
        line(service.answer_many([parse(raw)])[0])


def _count(what: str, n: int) -> int:
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-m",
                          "bench.signer_instructions", "--loop", what, str(n)], capture_output=True, text=True,
                         check=True)
    found = re.search(r"refs:\s*([\d,]+)", out.stderr)
    if found is None:
        raise RuntimeError("callgrind printed no instruction count")
    return int(found.group(1).replace(",", ""))


def per_call(what: str) -> float:
    low, high = (_count(what, n) for n in RUNS)
    return (high - low) / (RUNS[1] - RUNS[0])


def main() -> None:
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind): skipped")
        return
    floor = per_call("ccxt")
    sign = per_call("sign")
    report("signer: instructions per signature", sign, "instr", floor, "ccxt sign() alone")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--loop"]:
        _loop(sys.argv[2], int(sys.argv[3]))
    else:
        main()
