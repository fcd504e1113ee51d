"""The health monitor: the platform re-checks connections by itself, so "the platform retries automatically" is
true. Run by ``cexlink serve`` (unless CEXLINK_MONITOR=false) or alone as ``cexlink worker``.

Each round: ask each exchange in use whether it is well (its status endpoint and a public canary call, no key:
incidents.py turns that into incidents that start and end by themselves), then claim the connections that are
due and refresh them. Due means: a transient status, retried with backoff (the first retry within a minute,
doubling to at most 15 minutes); every other connection daily; every connection of an exchange at once when an
incident there ends. Several workers share the rows on PostgreSQL (``FOR UPDATE SKIP LOCKED`` plus a lease);
on SQLite one worker does. After each check the key's lifecycle is brought up to date (expiry, rotation), with
events raised ahead of time and withdrawn when no longer true. The clock and every interval are injectable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import ccxt
import ccxt.async_support as ccxt_async
from sqlalchemy import select

from ..domain.statuses import Status, is_transient
from ..errors import CexlinkError, ConfigError, SignerUnavailable
from ..exchanges.classify import classify
from ..exchanges.endpoints import point_ccxt
from ..storage.repositories import Accounts, Events
from ..storage.tables import ExchangeAccount

if TYPE_CHECKING:
    from .service import AccountService

__all__ = ["Monitor", "MonitorConfig", "Schedule", "key_lifecycle", "monitor_config_from_env", "running"]

log = logging.getLogger(__name__)
DAY_S = 86_400.0


@dataclass(frozen=True)
class Schedule:
    """When a connection is checked next, from its status and its transient failures in a row."""

    first_retry_s: float = 45.0  # within a minute, as the transient statuses' remedies promise
    max_retry_s: float = 900.0  # backoff doubles up to 15 minutes
    routine_s: float = DAY_S  # every connection at least daily

    def delay_s(self, status: Status, failures: int) -> float:
        if not is_transient(status):
            return self.routine_s
        return min(self.first_retry_s * 2 ** max(0, failures - 1), self.max_retry_s)


@dataclass(frozen=True)
class MonitorConfig:
    interval_s: float = 15.0  # one round this often
    batch: int = 200  # connections claimed per round and worker
    lease_s: float = 300.0  # a claimed connection is this worker's until then (a crashed worker's comes back)
    concurrency: int = 8  # checks at once per exchange
    call_timeout_s: float = 10.0  # status and canary calls
    rotate_after_days: int = 90  # a rotation reminder after this key age (CEXLINK_ROTATE_AFTER_DAYS)
    expire_soon_days: int = 14  # key_state expire_soon this long before the exchange's cut-off
    notice_days: int = 7  # the rotation reminder comes this long ahead


def monitor_config_from_env(env: dict[str, str] | None = None) -> MonitorConfig | None:
    """The monitor's settings from CEXLINK_MONITOR (true/false) and CEXLINK_ROTATE_AFTER_DAYS; None: off."""
    env = dict(os.environ if env is None else env)
    switch = env.get("CEXLINK_MONITOR", "true").strip().lower()
    if switch not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise ConfigError("CEXLINK_MONITOR: use true or false")
    if switch in ("0", "false", "no", "off"):
        return None
    raw = env.get("CEXLINK_ROTATE_AFTER_DAYS", "90").strip()
    if not raw.isdigit() or not 1 <= int(raw) <= 3650:
        raise ConfigError("CEXLINK_ROTATE_AFTER_DAYS: a whole number of days from 1 to 3650")
    return MonitorConfig(rotate_after_days=int(raw))


def _date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def key_lifecycle(created: datetime | None, expires: datetime | None, connected: datetime, now: datetime,
                  config: MonitorConfig) -> tuple[str, dict[str, str]]:
    """(key_state, the notices that are true now: kind -> message). Pure."""
    notices: dict[str, str] = {}
    state = "ok"
    if expires is not None:
        if expires <= now:
            state = "expired"
            notices["key_expired"] = (f"The exchange stopped this API key on {_date(expires)} (its cut-off date). "
                                      "Create a new key and use Update API Key.")
        elif expires - now <= timedelta(days=config.expire_soon_days):
            state = "expire_soon"
            notices["key_expire_soon"] = (f"The exchange stops this API key on {_date(expires)} (its cut-off "
                                          "date). Create a new key and use Update API Key before then.")
    born = created or connected
    due = born + timedelta(days=config.rotate_after_days)
    if now >= due - timedelta(days=config.notice_days):
        age = int((now - born).total_seconds() // DAY_S)
        notices["key_rotation_due"] = (f"This API key is {age} days old; rotate it by {_date(due)} (keys are rotated "
                                       f"every {config.rotate_after_days} days): create a new key, then Update API "
                                       "Key.")
    return state, notices


NOTICE_SEVERITY = {"key_expired": "critical", "key_expire_soon": "warning", "key_rotation_due": "info"}


@dataclass
class _Watch:
    """Public (keyless) ccxt instances, one per exchange: the status endpoint and the canary need no Sign
    Center, so they keep telling the truth about the exchange while the Sign Center is down."""

    exchange_urls: dict[str, str]
    rate_limit: bool
    timeout_s: float
    _instances: dict[str, Any] = field(default_factory=dict)

    def _instance(self, exchange: str) -> Any:
        ex = self._instances.get(exchange)
        if ex is None:
            ex = getattr(ccxt_async, exchange)({"enableRateLimit": self.rate_limit,
                                                "timeout": int(self.timeout_s * 1000)})
            if exchange in self.exchange_urls:
                point_ccxt(ex, self.exchange_urls[exchange])
            self._instances[exchange] = ex
        return ex

    async def call(self, exchange: str, fn: Callable[[Any], Awaitable[Any]]) -> tuple[Any, Status | None, str]:
        """(answer, None, "") or (None, the failure's status, what was said)."""
        ex = self._instance(exchange)
        try:
            return await asyncio.wait_for(fn(ex), self.timeout_s), None, ""
        except TimeoutError:
            return None, Status.EXCHANGE_UNAVAILABLE, "timeout"
        except ccxt.BaseError as e:
            c = classify(exchange, e, body=ex.last_http_response)
            return None, c.status, c.exchange_message or c.cause

    async def close(self) -> None:
        for ex in self._instances.values():
            await ex.close()
        self._instances.clear()


class Monitor:
    def __init__(self, service: AccountService, config: MonitorConfig | None = None,
                 clock: Callable[[], float] | None = None, worker: str = "") -> None:
        self.service = service
        self.config = config or MonitorConfig()
        self.clock = clock or service.clock
        self.worker = worker or f"pid{os.getpid()}"
        settings = service.settings
        self.watch = _Watch(settings.exchange_urls, settings.rate_limit, self.config.call_timeout_s)
        self.last_error: str | None = None

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # ---- exchanges ----

    def _exchanges(self) -> list[str]:
        with self.service.sessions() as db:
            return list(db.scalars(select(ExchangeAccount.exchange).distinct().order_by(ExchangeAccount.exchange)))

    async def watch_exchange(self, exchange: str) -> dict[str, str]:
        """Ask the exchange itself (status endpoint, canary) and update its incidents."""
        incidents = self.service.incidents
        status, failure, said = await self.watch.call(exchange, lambda ex: ex.fetch_status())
        if failure is None:
            state = str((status or {}).get("status") or "ok")
            seen = incidents.status_seen(exchange, state, (status or {}).get("info"))
        elif failure is Status.EXCHANGE_MAINTENANCE:  # the status endpoint itself answered "under maintenance"
            seen = incidents.status_seen(exchange, "maintenance", {"error": said[:300]})
        else:
            seen = "unknown"  # a status endpoint that fails says nothing either way: the canary decides
        _, canary, said = await self.watch.call(exchange, lambda ex: ex.fetch_time())
        return {"status_endpoint": seen, "canary": incidents.canary_seen(exchange, canary, said)}

    # ---- connections ----

    def _claim(self) -> list[tuple[int, str, str, int, str, int]]:
        with self.service.sessions() as db, db.begin():
            rows = Accounts(db).claim_due(self._now(), timedelta(seconds=self.config.lease_s), self.config.batch)
            return [(a.id, a.exchange, a.credential_id, a.owner_id, a.status, a.check_failures) for a in rows]

    async def _check(self, target: tuple[int, str, str, int, str, int]) -> str:
        try:
            out = await self.service._refresh(*target)
        except SignerUnavailable:
            return "platform_unavailable"  # nothing written; the account was postponed with backoff
        self._lifecycle(target[0])
        return str(out["status"])

    def _lifecycle(self, account_id: int) -> None:
        now = self._now()
        with self.service.sessions() as db, db.begin():
            a = db.get(ExchangeAccount, account_id)
            if a is None:
                return
            state, notices = key_lifecycle(a.key_created_at, a.key_expires_at, a.created_at, now, self.config)
            before = set(a.key_notices or [])
            events = Events(db, lambda: now)
            for kind in sorted(set(notices) - before):
                events.add(a.owner_id, a.id, NOTICE_SEVERITY[kind], kind, notices[kind], {"key_state": state})
            for kind in sorted(before - set(notices)):
                events.add(a.owner_id, a.id, "info", "key_notice_withdrawn",
                           f"No longer true: {kind.replace('_', ' ')}.", {"notice": kind, "key_state": state})
            if state != a.key_state or before != set(notices):
                Accounts(db, lambda: now).update(a.owner_id, a.id, key_state=state, key_notices=sorted(notices))

    async def run_once(self) -> dict[str, Any]:
        """One round; what it did (for logs, ``cexlink worker --once`` and tests)."""
        exchanges = {ex: await self.watch_exchange(ex) for ex in self._exchanges()}
        self.service.incidents.sweep()
        targets = self._claim()
        limits: dict[str, asyncio.Semaphore] = {}

        async def one(target: tuple[int, str, str, int, str, int]) -> tuple[int, str]:
            async with limits.setdefault(target[1], asyncio.Semaphore(self.config.concurrency)):
                try:
                    return target[0], await self._check(target)
                except CexlinkError as e:  # one connection's trouble never stops the round
                    log.warning("monitor: account %s not checked: %s", target[0], type(e).__name__)
                    return target[0], "error"

        checked = dict(await asyncio.gather(*(one(t) for t in targets)))
        return {"worker": self.worker, "exchanges": exchanges, "checked": checked}

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.run_once()
                self.last_error = None
            except Exception as e:  # database busy, exchange down: next round. Named by type: no payloads logged
                error = type(e).__name__
                if error != self.last_error:
                    log.warning("health monitor round failed: %s", error)
                self.last_error = error
            await asyncio.sleep(max(0.0, self.config.interval_s - (time.monotonic() - started)))

    async def close(self) -> None:
        await self.watch.close()


@contextlib.asynccontextmanager
async def running(monitor: Monitor | None) -> Any:
    """The monitor as a background task for the span of a block (the API server's lifespan)."""
    task = asyncio.create_task(monitor.run()) if monitor is not None else None
    try:
        yield
    finally:
        if task is not None and monitor is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await monitor.close()
