"""Exchange-wide status: maintenance windows (announced ahead, ongoing, over) and status endpoints told to fail.

One board serves all three dialects. A window's state is worked out from the sandbox clock each time it is read,
so a window announced for later turns ``ongoing`` when the clock passes its begin and ``completed`` after its end,
with nobody switching anything. While a window is ongoing the exchange answers every request with its maintenance
error, except its status endpoint, which says why (``dialect.Endpoint.system_status``).

The three status endpoints, as ccxt 4.5.90's ``fetch_status()`` reads them:

- Binance ``GET /sapi/v1/system/status``: ``{"status": 0, "msg": "normal"}`` or
  ``{"status": 1, "msg": "system_maintenance"}`` (Binance's docs spell the message with an underscore); nothing
  about announced windows.
- OKX ``GET /api/v5/system/status``: windows ``scheduled``, ``ongoing`` and ``pre_open`` by default, any one
  state with ``?state=``; ccxt takes the *last* entry's state and ``end`` as the status and eta.
- Bybit ``GET /v5/system/status``: every window unless ``?id=`` or ``?state=`` narrows it; ccxt reports
  maintenance with eta ``end`` for an ongoing window, else eta ``begin`` of a scheduled one.

Both lists are newest first, as Bybit's documented example is, which puts an ongoing window after the ones
announced beyond it, where ccxt's OKX parse looks.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from .rejects import Reason, Reject

__all__ = ["BYBIT_STATES", "DEFAULT_TITLE", "FAILURE_MODES", "MAX_HANG_SECONDS", "OKX_DEFAULT_STATES", "OKX_STATES",
           "RENDERERS", "Failure", "SystemStatus", "Window", "binance_status", "bybit_status", "failure_body",
           "okx_status"]

OKX_STATES = ("scheduled", "ongoing", "pre_open", "completed", "canceled")
OKX_DEFAULT_STATES = frozenset({"scheduled", "ongoing", "pre_open"})  # what OKX lists when no state is asked
BYBIT_STATES = ("scheduled", "ongoing", "completed", "canceled")
DEFAULT_TITLE = "System maintenance"
FAILURE_MODES = ("error", "hang")
MAX_HANG_SECONDS = 600.0
MAX_WINDOWS = 200  # finished windows beyond this are forgotten, oldest first


@dataclass
class Window:
    """One maintenance window of one exchange. ``end`` None: until switched off (the admin switch)."""

    id: str
    exchange: str
    begin: int  # epoch ms
    end: int | None
    title: str
    href: str
    announced: bool  # given a begin or end ahead (OKX maintType 1, Bybit maintainType 1) or switched on at once
    canceled: bool = False

    def state(self, now: int) -> str:
        if self.canceled:
            return "canceled"
        if now < self.begin:
            return "scheduled"
        if self.end is None or now < self.end:
            return "ongoing"
        return "completed"

    def as_json(self, now: int) -> dict[str, Any]:
        return {"id": self.id, "exchange": self.exchange, "title": self.title, "href": self.href,
                "begin": self.begin, "end": self.end, "state": self.state(now)}


@dataclass
class Failure:
    """How an exchange's status endpoint fails: ``error`` answers ``http`` (5xx) from the gateway, ``hang`` holds
    the answer ``seconds`` first. ``times``: how many requests fail before it recovers by itself (None: until
    switched off)."""

    mode: str
    http: int = 503
    seconds: float = 0.0
    times: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "http_status": self.http, "seconds": self.seconds, "times": self.times}


@dataclass
class SystemStatus:
    windows: list[Window] = field(default_factory=list)
    failures: dict[str, Failure] = field(default_factory=dict)

    def of(self, exchange: str) -> list[Window]:
        """The exchange's windows, newest (latest begin) first."""
        return sorted((w for w in self.windows if w.exchange == exchange), key=lambda w: w.begin, reverse=True)

    def under_maintenance(self, exchange: str, now: int) -> bool:
        return any(w.state(now) == "ongoing" for w in self.windows if w.exchange == exchange)

    def exchanges_under_maintenance(self, now: int) -> list[str]:
        return sorted({w.exchange for w in self.windows if w.state(now) == "ongoing"})

    def switch_on(self, exchange: str, now: int, begin: int | None, end: int | None, title: str,
                  href: str) -> Window:
        """Maintenance from ``begin`` (now when None) to ``end`` (until switched off when None). Switching on at
        once what is already on at once changes nothing."""
        if begin is None and end is None:
            for w in self.windows:
                if w.exchange == exchange and w.end is None and w.state(now) == "ongoing":
                    return w
        window = Window(str(uuid.uuid4()), exchange, now if begin is None else begin, end, title, href,
                        announced=begin is not None or end is not None)
        self.windows.append(window)
        self._forget_old(now)
        return window

    def switch_off(self, exchange: str, now: int) -> None:
        """End what is ongoing now (completed, with now as its actual end) and cancel what was announced."""
        for w in self.windows:
            if w.exchange != exchange:
                continue
            state = w.state(now)
            if state == "ongoing":
                w.end = now
            elif state == "scheduled":
                w.canceled = True

    def _forget_old(self, now: int) -> None:
        finished = [w for w in self.windows if w.state(now) in ("completed", "canceled")]
        for w in sorted(finished, key=lambda w: w.begin)[:max(0, len(self.windows) - MAX_WINDOWS)]:
            self.windows.remove(w)

    def take_failure(self, exchange: str) -> Failure | None:
        """The failure this request meets, counting it against ``times``."""
        failure = self.failures.get(exchange)
        if failure is not None and failure.times is not None:
            failure.times -= 1
            if failure.times <= 0:
                del self.failures[exchange]
        return failure


def failure_body(http: int) -> str:
    """What a gateway in front of the API sends when the service behind it is down: a page, not the API's JSON."""
    try:
        phrase = HTTPStatus(http).phrase
    except ValueError:  # a 5xx with no standard name (e.g. 520)
        phrase = "Server Error"
    return f"<html><head><title>{http} {phrase}</title></head><body><h1>{http} {phrase}</h1></body></html>"


def _state_filter(query: Mapping[str, str], allowed: tuple[str, ...]) -> str | None:
    state = query.get("state") or None
    if state is not None and state not in allowed:
        raise Reject(Reason.BAD_PARAM, param="state")
    return state


def binance_status(board: SystemStatus, exchange: str, now: int, query: Mapping[str, str]) -> Any:
    if board.under_maintenance(exchange, now):
        return {"status": 1, "msg": "system_maintenance"}
    return {"status": 0, "msg": "normal"}


def okx_status(board: SystemStatus, exchange: str, now: int, query: Mapping[str, str]) -> Any:
    wanted = _state_filter(query, OKX_STATES)
    states = OKX_DEFAULT_STATES if wanted is None else frozenset({wanted})
    return [{"title": w.title, "state": w.state(now), "begin": str(w.begin), "end": "" if w.end is None else str(w.end),
             "preOpenBegin": "", "href": w.href, "serviceType": "5",  # 5: trading service
             "system": "unified", "scheDesc": "",
             "maintType": "1" if w.announced else "2",  # 1 scheduled, 2 unscheduled maintenance
             "env": "1"}  # 1: production trading
            for w in board.of(exchange) if w.state(now) in states]


def bybit_status(board: SystemStatus, exchange: str, now: int, query: Mapping[str, str]) -> Any:
    wanted = _state_filter(query, BYBIT_STATES)
    wanted_id = query.get("id") or None
    return {"list": [
        {"id": w.id, "title": w.title, "state": w.state(now), "begin": str(w.begin),
         "end": "" if w.end is None else str(w.end), "href": w.href,
         "serviceTypes": [1, 2, 3, 4, 5], "product": [1, 2, 3, 4], "uidSuffix": [],
         "maintainType": 1 if w.announced else 2,  # 1 planned, 2 temporary maintenance
         "env": 1}  # 1: production
        for w in board.of(exchange)
        if wanted in (None, w.state(now)) and wanted_id in (None, w.id)]}


# Each dialect's status answer (the data its envelope wraps), by exchange.
RENDERERS: dict[str, Callable[[SystemStatus, str, int, Mapping[str, str]], Any]] = {
    "binance": binance_status, "okx": okx_status, "bybit": bybit_status,
}
