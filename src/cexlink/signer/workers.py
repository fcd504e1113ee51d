"""Several Sign Center processes behind one socket (``cexlink signer serve --workers N``).

One Python process signs on one core at a time. Workers are forked after the sockets are bound and each
accepts connections from them with an engine of its own: a replica in all but name (``<replica>.<n>``, its
own audit chain ``audit-<replica>.<n>.log``), sharing the store — so a revocation through one stops every
other at its next signature — and the token buckets (``buckets.SharedBuckets``). A worker that dies is
started again; one that fails before it is ready stops them all. Workers die with the supervisor
(``PR_SET_PDEATHSIG``), so killing it (even with SIGKILL) leaves no Sign Center process behind.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import sys
import time
from collections.abc import Callable

import click

from ..errors import CexlinkError

PR_SET_PDEATHSIG = 1
STOP_GRACE_S = 15.0

Target = Callable[[int, Callable[[], None]], None]  # (worker index, call when ready)


def _die_with(parent: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the supervisor's SIGTERM still reaches workers
        pass
    if os.getppid() != parent:  # the supervisor died before prctl took effect
        os._exit(1)


def _spawn(index: int, target: Target, parent: int, ready_r: int, ready_w: int) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.close(ready_r)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        _die_with(parent)
        def ready() -> None:
            os.write(ready_w, bytes([index]))

        target(index, ready)
        code = 0
    except BaseException as e:  # noqa: B036 - a worker never returns into the supervisor's code
        # Our own errors' messages are written never to hold a secret; anything else is named by class only.
        detail = f": {e}" if isinstance(e, CexlinkError | click.ClickException) else ""
        print(f"sign center worker {index} failed: {type(e).__name__}{detail}", file=sys.stderr, flush=True)
    finally:
        os._exit(code)


def supervise(workers: int, target: Target, on_ready: Callable[[], None] | None = None) -> int:
    """Run ``workers`` forked copies of ``target`` until SIGINT/SIGTERM; the exit status."""
    if workers > 255:
        raise ValueError("at most 255 workers")
    parent = os.getpid()
    ready_r, ready_w = os.pipe()
    pids: dict[int, int] = {}
    ready: set[int] = set()
    stopping_since: float | None = None  # set by a signal, or when a worker cannot start
    status, announced = 0, False

    def stop(*_: object) -> None:
        nonlocal stopping_since
        if stopping_since is None:
            stopping_since = time.monotonic()
            for pid in pids:
                os.kill(pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for index in range(workers):
            pids[_spawn(index, target, parent, ready_r, ready_w)] = index
        while pids:
            readable, _, _ = select.select([ready_r], [], [], 0.05)
            if readable:
                ready.update(os.read(ready_r, 256))
            if not announced and len(ready) >= workers and stopping_since is None:
                announced = True
                if on_ready is not None:
                    on_ready()
            while pids and (reaped := os.waitpid(-1, os.WNOHANG))[0]:
                pid, code = reaped
                index = pids.pop(pid)
                if stopping_since is not None:
                    continue
                if index not in ready:  # it never came up: the configuration is wrong, not the moment
                    print(f"sign center worker {index} failed to start; stopping", file=sys.stderr, flush=True)
                    status = 1
                    stop()
                    continue
                print(f"sign center worker {index} exited ({os.waitstatus_to_exitcode(code)}); starting it again",
                      file=sys.stderr, flush=True)
                ready.discard(index)
                pids[_spawn(index, target, parent, ready_r, ready_w)] = index
            if stopping_since is not None and time.monotonic() - stopping_since > STOP_GRACE_S:
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
                stopping_since = time.monotonic()  # and again only if they outlive another grace period
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(ready_r)
        os.close(ready_w)
    return status
