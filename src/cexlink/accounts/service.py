"""Exchange accounts: connect, update key in place, refresh, delete. The REST API and the CLI both call this.

Secrets pass through here once, on their way to the Sign Center; everything kept afterwards (the app database,
events, answers) holds a credential id, a keyed fingerprint and a masked key only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from ..config import Settings
from ..domain.statuses import Status, is_transient, render, render_platform_down
from ..errors import AccountRefused, InputError, SignerUnavailable
from ..exchanges import capabilities
from ..exchanges.capabilities import Capability
from ..exchanges.probes import ExchangePool, KeyFacts, ProbeFailed, probe
from ..storage.errors import Conflict
from ..storage.repositories import Accounts, Events
from . import deletion
from .assess import Assessment, assess, created_at, expires_at
from .incidents import Incidents
from .monitor import Schedule

DELETE_REMINDER = ("The connection is deleted and its key destroyed here. Delete the API key on {exchange} too "
                   "(API Management), so that nobody can use it.")
__all__ = ["DELETE_REMINDER", "AccountRefused", "AccountService", "account_json"]  # AccountRefused: errors.py


def account_json(a: Any) -> dict[str, Any]:
    def iso(d: datetime | None) -> str | None:
        return None if d is None else d.astimezone(UTC).isoformat()

    return {
        "id": a.id, "exchange": a.exchange, "name": a.name, "exchange_uid": a.exchange_uid,
        "is_sub_account": a.is_sub_account, "credential_id": a.credential_id, "key_fingerprint": a.key_fingerprint,
        "masked_key": a.masked_key, "permissions": a.permissions, **_ip_list(a),
        "connected_via": a.connected_via, "key_created_at": iso(a.key_created_at),
        "key_expires_at": iso(a.key_expires_at), "status": a.status, "status_message": a.status_message,
        "status_remedy": a.status_remedy, "status_code": a.status_code, "last_checked_at": iso(a.last_checked_at),
        "balances": a.balances, "warnings": a.warnings, "created_at": iso(a.created_at),
        # The health monitor's view: when it checks next, and whether the balances are from the last check.
        "next_check_at": iso(a.next_check_at), "balances_read_at": iso(a.balances_read_at),
        "balances_stale": a.balances_read_at is None or (a.last_checked_at is not None
                                                         and a.balances_read_at < a.last_checked_at),
        "key_state": a.key_state, "key_notices": list(a.key_notices or []),
        "key_age_days": None if a.key_created_at is None else
        int((datetime.now(UTC) - a.key_created_at).total_seconds() // 86_400),
    }


def _ip_list(a: Any) -> dict[str, Any]:
    """An exchange that does not report a key's IP list (Binance: only whether one is set) shows none, said in
    words, never an empty list that reads as "no IPs"."""
    cap = capabilities.get(a.exchange)
    if cap is not None and cap.ip_whitelist and cap.ip_list_call is None:
        return {"ip_whitelist": None, "ip_whitelist_note": f"not reported by {cap.name}; the platform checks each "
                                                           "of its own IPs against the key instead"}
    return {"ip_whitelist": a.ip_whitelist, "ip_whitelist_note": None}


class AccountService:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session], signer: Any, pool: ExchangePool,
                 clock: Callable[[], float] = time.time, incidents: Incidents | None = None,
                 schedule: Schedule | None = None) -> None:
        self.settings = settings
        self.sessions = sessions
        self.signer = signer  # AsyncSignerClient
        self.pool = pool
        self.clock = clock
        # In the app database: every process (API servers, workers, the CLI) sees the same incidents.
        self.incidents = incidents or Incidents(sessions, clock)
        self.schedule = schedule or Schedule()

    # ---- helpers ----

    @contextmanager
    def _db(self) -> Iterator[Session]:
        with self.sessions() as session, session.begin():
            yield session

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _egress(self) -> list[str | None]:
        return list(self.settings.egress_ips) if self.settings.egress_bind else [None]

    def _texts(self, status: Status, cap: Capability, missing: list[str], detail: str = "", cause: str = "",
               forbidden: list[str] | None = None, moment: str = "existing") -> tuple[str, str]:
        words = ", ".join(missing)
        message, remedy = render(status, cap.name, self.settings.egress_ips, missing=words, detail=detail,
                                 cause=cause, forbidden=", ".join(forbidden or []), moment=moment,
                                 passphrase=cap.passphrase)
        if status is Status.IP_NOT_WHITELISTED and missing and cause != "no_ip_restriction":
            message += f" Not on the key's list: {words}."
        return message, remedy

    def _refusal(self, status: Status, cap: Capability, missing: list[str], detail: str, code: str | None,
                 cause: str, forbidden: list[str] | None = None, moment: str = "connect") -> AccountRefused:
        message, remedy = self._texts(status, cap, missing, detail, cause, forbidden, moment)
        return AccountRefused(status.value, message, remedy,
                              details={"status": status.value, "cause": cause, "missing": missing,
                                       "forbidden": forbidden or [], "exchange_code": code})

    def _conflict(self, reason: str, message: str, remedy: str, field: str | None = None) -> AccountRefused:
        return AccountRefused(reason, message, remedy, field)

    def _key_used(self, cap: Capability) -> AccountRefused:
        return self._conflict("key_already_used", "This API key is already used by another connection.",
                              f"Create a separate API key on {cap.name} for each connection.", "api_key")

    @staticmethod
    def _capability(exchange: Any) -> Capability:
        cap = capabilities.get(exchange) if isinstance(exchange, str) else None
        if cap is None:
            raise InputError("exchange", "unknown exchange; GET /api/v1/exchanges lists the ones you can connect")
        if not cap.in_ccxt:
            raise InputError("exchange", f"{cap.name} cannot be connected (no longer supported by ccxt)")
        return cap

    @staticmethod
    def _name(name: Any) -> str:
        if not isinstance(name, str) or not name.strip():
            raise InputError("name", "is required")
        if len(name.strip()) > 100:
            raise InputError("name", "must be at most 100 characters")
        return name.strip()

    async def _check_key(self, cap: Capability, credential_id: str,
                         moment: str = "connect") -> tuple[KeyFacts, Assessment]:
        """Probe and assess a new key; a refusal says exactly what is wrong and what to do, worded for the moment
        (``connect``: nothing was saved; ``update``: the connection keeps its previous key)."""
        try:
            facts = await probe(self.pool, cap.id, credential_id, self._egress())
        except ProbeFailed as failed:
            c = failed.classified
            missing = list(self.settings.egress_ips) if c.status is Status.IP_NOT_WHITELISTED else []
            raise self._refusal(c.status, cap, missing, c.exchange_message or "", c.code, c.cause,
                                moment=moment) from None
        result = assess(cap, facts, self.settings, int(self.clock() * 1000))
        if result.status is not Status.OK:
            raise self._refusal(result.status, cap, result.missing, result.detail, result.code, result.cause,
                                result.forbidden, moment)
        if facts.is_sub_account and not self.settings.allow_sub_accounts:
            raise self._conflict("sub_account_not_allowed", f"This {cap.name} key belongs to a sub-account.",
                                 "Create the key on the main account, or ask the operator to allow sub-accounts.")
        return facts, result

    async def _store(self, owner_id: int, cap: Capability, api_key: Any, secret: Any,
                     passphrase: Any) -> dict[str, Any]:
        for field_name, value in (("api_key", api_key), ("secret", secret), ("passphrase", passphrase)):
            if value is not None and not isinstance(value, str):
                raise InputError(field_name, "must be text")
        return await self.signer.store(f"user:{owner_id}", cap.id, api_key, secret, passphrase)

    def _key_fields(self, facts: KeyFacts, result: Assessment, cap: Capability) -> dict[str, Any]:
        message, remedy = self._texts(Status.OK, cap, [])
        now = self._now()
        return {"permissions": facts.permissions, "ip_whitelist": facts.ip_whitelist or [],
                "key_created_at": created_at(facts), "key_expires_at": expires_at(facts), "status": Status.OK.value,
                "status_message": message, "status_remedy": remedy, "status_code": None,
                "last_checked_at": now, "balances": facts.balances, "balances_read_at": now,
                "warnings": result.warnings, "check_failures": 0,
                "next_check_at": now + timedelta(seconds=self.schedule.delay_s(Status.OK, 0))}

    # ---- connect ----

    async def connect(self, owner_id: int, exchange: Any, name: Any, api_key: Any, secret: Any,
                      passphrase: Any = None, via: str = "api_key") -> dict[str, Any]:
        cap = self._capability(exchange)
        name = self._name(name)
        stored = await self._store(owner_id, cap, api_key, secret, passphrase)
        cred = stored["credential_id"]
        try:
            # The key is proven (the probe passed) before anything is said about its use elsewhere: an API key
            # alone, with a wrong secret, must reveal nothing about other users' connections.
            facts, result = await self._check_key(cap, cred)
            uid = facts.uid or stored["key_fingerprint"]  # exchanges without a uid: the key is the identity
            with self._db() as db:
                accounts = Accounts(db)
                if accounts.by_fingerprint(stored["key_fingerprint"]) is not None:
                    raise self._key_used(cap)
                existing = accounts.by_exchange_uid(cap.id, uid)
                if existing is not None:
                    raise _already_connected(cap, existing, owner_id)
                try:
                    account = accounts.add(owner_id=owner_id, exchange=cap.id, name=name, exchange_uid=uid,
                                           is_sub_account=bool(facts.is_sub_account), credential_id=cred,
                                           key_fingerprint=stored["key_fingerprint"], masked_key=stored["masked_key"],
                                           connected_via=via, **self._key_fields(facts, result, cap))
                except Conflict as c:
                    raise self._conflict("key_already_used" if c.field == "key_fingerprint"
                                         else "account_already_connected", "This account is already connected."
                                         if c.field != "key_fingerprint" else "This API key is already used by "
                                         "another connection.", "Use the existing connection.", c.field) from None
                Events(db).add(owner_id, account.id, "info", "connected",
                               f"{cap.name} account {uid} connected as '{name}'", {"status": "ok"})
                return account_json(account)
        except BaseException:
            await self.signer.revoke(cred)  # nothing is left behind
            raise

    # ---- update key in place ----

    async def update_key(self, owner_id: int, account_id: int, api_key: Any, secret: Any,
                         passphrase: Any = None) -> dict[str, Any]:
        with self._db() as db:
            account = Accounts(db).get(owner_id, account_id)
            cap = self._capability(account.exchange)
            old_cred, uid, old_status = account.credential_id, account.exchange_uid, account.status
        stored = await self._store(owner_id, cap, api_key, secret, passphrase)
        cred = stored["credential_id"]
        try:
            facts, result = await self._check_key(cap, cred, "update")  # proven first, as in connect
            new_uid = facts.uid or stored["key_fingerprint"]
            if facts.uid is not None and new_uid != uid:
                raise self._conflict("key_belongs_to_another_account",
                                     "This key belongs to another exchange account. It was not saved: the "
                                     "connection still uses its previous key.",
                                     f"Create the new key while logged in to the {cap.name} account this connection "
                                     f"is for (uid {uid}).", "api_key")
            with self._db() as db:
                accounts = Accounts(db)
                other = accounts.by_fingerprint(stored["key_fingerprint"])
                if other is not None and other.id != account_id:
                    raise self._key_used(cap)
                try:
                    swapped = accounts.swap_credential(owner_id, account_id, old_cred, credential_id=cred,
                                                       key_fingerprint=stored["key_fingerprint"],
                                                       masked_key=stored["masked_key"],
                                                       **self._key_fields(facts, result, cap))
                except Conflict as c:
                    if c.field != "key_fingerprint":
                        raise
                    raise self._key_used(cap) from None
                if swapped is None:  # another Update API Key (or a Delete) changed the connection meanwhile
                    raise self._conflict("key_update_conflict",
                                         "The connection's key was changed by another request while this one was "
                                         "being checked; this key was not saved.",
                                         "Reload the connection and check its key; update it again if needed.",
                                         "api_key")
                Events(db).add(owner_id, account_id, "info", "key_updated",
                               f"API key replaced with {stored['masked_key']}", {"previous_status": old_status})
                resumed = _resume_consumers(db, owner_id, account_id)
                if resumed:
                    Events(db).add(owner_id, account_id, "info", "consumers_resumed",
                                   f"Resumed after the key update: {resumed} deals and SmartTrades in error",
                                   {"resumed": resumed})
                if old_status != Status.OK.value:
                    Events(db).add(owner_id, account_id, "info", "status_changed",
                                   f"Status changed from {old_status} to ok", {"from": old_status, "to": "ok"})
                out = account_json(swapped)
        except BaseException:
            await self.signer.revoke(cred)  # the loser's (or a refused) credential never stays live
            raise
        await self.signer.revoke(old_cred)  # only now: the new key is in place
        return out

    # ---- refresh ----

    async def refresh(self, owner_id: int | None, account_id: int) -> dict[str, Any]:
        with self._db() as db:
            account = Accounts(db).get(owner_id, account_id) if owner_id is not None else \
                _any_account(db, account_id)
            known = (account.exchange, account.credential_id, account.owner_id, account.status,
                     account.check_failures)
        return await self._refresh(account_id, *known)

    async def _refresh(self, account_id: int, exchange: str, cred: str, owner: int, previous: str,
                       failures: int = 0) -> dict[str, Any]:
        cap = self._capability(exchange)
        now = self._now()
        fields: dict[str, Any] = {"last_checked_at": now}
        try:
            facts = await probe(self.pool, cap.id, cred, self._egress())
            result = assess(cap, facts, self.settings, int(self.clock() * 1000))
            status, missing, detail, code = result.status, result.missing, result.detail, result.code
            cause, forbidden = result.cause, result.forbidden
            fields.update(permissions=facts.permissions, ip_whitelist=facts.ip_whitelist or [],
                          key_created_at=created_at(facts), key_expires_at=expires_at(facts), balances=facts.balances,
                          balances_read_at=now, warnings=result.warnings)
        except ProbeFailed as failed:
            c = failed.classified
            if c.cause == "sign_center_unavailable":
                # The platform's outage, not the exchange's nor the key's: answered to the caller, never written
                # into the account, which keeps its last real status (the monitor retries it with backoff).
                self._postpone(owner, account_id, failures + 1)
                raise SignerUnavailable(render_platform_down()) from None
            status, missing, detail, code = c.status, [], c.exchange_message or "", c.code
            cause, forbidden = c.cause, []
        # A key-specific answer stays the key's: it is never relabelled an incident, however many keys get it at
        # once. Only transient statuses count towards an exchange incident (incidents.py).
        failures = failures + 1 if is_transient(status) else 0
        message, remedy = self._texts(status, cap, missing, detail, cause, forbidden)
        fields.update(status=status.value, status_message=message, status_remedy=remedy, status_code=code,
                      check_failures=failures, claimed_until=None,
                      next_check_at=now + timedelta(seconds=self.schedule.delay_s(status, failures)))
        with self._db() as db:
            account = Accounts(db).update(owner, account_id, **fields)
            self.incidents.account_checked(db, cap.id, account_id, status)
            if status.value != previous:
                severity = "info" if status is Status.OK else ("warning" if is_transient(status) else "critical")
                Events(db).add(owner, account_id, severity, "status_changed",
                               f"Status changed from {previous} to {status.value}: {message}",
                               {"from": previous, "to": status.value, "exchange_code": code})
            return account_json(account)

    def _postpone(self, owner: int, account_id: int, failures: int) -> None:
        """Only the schedule moves (the next try, with backoff): status, message and check time stay."""
        when = self._now() + timedelta(seconds=self.schedule.delay_s(Status.EXCHANGE_UNAVAILABLE, failures))
        with self._db() as db:
            Accounts(db).update(owner, account_id, next_check_at=when, check_failures=failures, claimed_until=None)

    async def refresh_many(self, owner_id: int | None, concurrency: int = 16) -> dict[str, Any]:
        """Refresh all of one user's accounts (or every account, owner_id None), concurrently per exchange."""
        with self._db() as db:
            accounts = Accounts(db)
            rows = accounts.list(owner_id) if owner_id is not None else accounts.list_all()
            targets = [(a.id, a.exchange, a.credential_id, a.owner_id, a.status, a.check_failures) for a in rows]
        limits: dict[str, asyncio.Semaphore] = {}
        counts: dict[str, int] = {}

        async def one(account_id: int, exchange: str, cred: str, owner: int, status: str, failures: int) -> None:
            sem = limits.setdefault(exchange, asyncio.Semaphore(concurrency))
            async with sem:
                out = await self._refresh(account_id, exchange, cred, owner, status, failures)
            counts[out["status"]] = counts.get(out["status"], 0) + 1

        await asyncio.gather(*(one(*t) for t in targets))
        return {"refreshed": len(targets), "statuses": counts}

    # ---- delete ----

    async def delete(self, owner_id: int, account_id: int, confirm: bool = False,
                     cancel_orders: bool = False) -> dict[str, Any]:
        """Delete after confirmation, naming what goes with it; refused while anything still uses the connection.
        The platform's orders still resting on the exchange (funds locked) are found first, and cancelled with
        the delete when asked (``cancel_orders``)."""
        with self._db() as db:
            account = Accounts(db).get(owner_id, account_id)
            cap = self._capability(account.exchange)
            cred, name = account.credential_id, account.name
            inv = deletion.inventory(db, owner_id, account_id, name)
        ex = await self.pool.instance(cap.id, cred, self._egress()[0]) if inv.orders else None
        if ex is not None:
            await deletion.find_resting(ex, inv)
        refused = deletion.in_use(inv, {}, cancel_orders) or (None if confirm else deletion.confirmation_needed(inv))
        if refused is not None:
            raise refused
        cancelled: list[str] = []
        with self._db() as db:
            if ex is not None and cancel_orders:
                cancelled = await deletion.cancel_resting(ex, db, owner_id, inv)
            Accounts(db).delete(owner_id, account_id)
            Events(db).add(owner_id, None, "info", "deleted", f"{cap.name} connection '{name}' deleted",
                           {"account_id": account_id, "cancelled_orders": cancelled})
        await self.signer.revoke(cred)
        out: dict[str, Any] = {"deleted": True, "reminder": DELETE_REMINDER.format(exchange=cap.name),
                               "cancelled_orders": cancelled}
        if inv.check_failed:
            out["open_orders_unchecked"] = (f"{cap.name} could not be asked for open orders ({inv.check_failed}): "
                                            f"check on {cap.name} that none of the platform's orders still rest "
                                            "there, and cancel them.")
        return out

    # ---- reading ----

    def list(self, owner_id: int) -> list[dict[str, Any]]:
        with self._db() as db:
            return [account_json(a) for a in Accounts(db).list(owner_id)]

    def show(self, owner_id: int, account_id: int) -> dict[str, Any]:
        with self._db() as db:
            return account_json(Accounts(db).get(owner_id, account_id))


def _already_connected(cap: Capability, existing: Any, owner_id: int) -> AccountRefused:
    """Names the connection to update when it is the caller's own; says only "another user" otherwise."""
    if existing.owner_id == owner_id:
        return AccountRefused(
            "account_already_connected",
            f"This account is already connected: it is your connection '{existing.name}' (id {existing.id}).",
            f"An exchange account can be connected only once. To use this key for it, open '{existing.name}' "
            f"(id {existing.id}) and use Update API Key there.", details={"account_id": existing.id})
    return AccountRefused(
        "account_already_connected",
        "This account is already connected by another user of the platform.",
        f"An exchange account can be connected only once. If it is yours, ask whoever connected it to delete that "
        f"connection, or contact support; connect another {cap.name} account otherwise.")


def _any_account(db: Session, account_id: int) -> Any:
    """An account of any owner: for administrators' refresh-all only."""
    from ..storage.errors import NotFound
    from ..storage.tables import ExchangeAccount

    account = db.get(ExchangeAccount, account_id)
    if account is None:
        raise NotFound("exchange account", account_id)
    return account


def _resume_consumers(db: Session, owner_id: int, account_id: int) -> int:
    """Deals and SmartTrades stopped in ``error`` by the old key carry on with the new one."""
    from ..storage.consumers import Deals, SmartTrades

    count = 0
    for repo in (Deals(db), SmartTrades(db)):
        for row in repo.list(owner_id, account_id, status="error"):
            repo.set_status(owner_id, row.id, "active")
            count += 1
    return count
