"""The consumers of a connection, minimal for now: bots, deals, SmartTrades and platform orders.

Each is reached through its exchange account's owner, so one owner can neither see nor touch another's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from cexlink.errors import InputError
from cexlink.storage.errors import NotFound
from cexlink.storage.integrity import translated
from cexlink.storage.tables import Bot, Deal, ExchangeAccount, Order, SmartTrade
from cexlink.storage.types import utcnow

Clock = Callable[[], datetime]
Row = TypeVar("Row", Bot, Deal, SmartTrade, Order)


def owned_account(session: Session, owner_id: int, account_id: int) -> ExchangeAccount:
    """The owner's exchange account, or NotFound (another owner's account is not found either)."""
    account = session.scalar(select(ExchangeAccount).where(ExchangeAccount.id == account_id,
                                                           ExchangeAccount.owner_id == owner_id))
    if account is None:
        raise NotFound("exchange account", account_id)
    return account


class _Repo:
    model: Any
    what: str

    def __init__(self, session: Session, clock: Clock = utcnow) -> None:
        self.s, self.clock = session, clock

    def _owned(self, owner_id: int) -> Select[Any]:
        return (select(self.model).join(ExchangeAccount, ExchangeAccount.id == self.model.account_id)
                .where(ExchangeAccount.owner_id == owner_id))

    def _account(self, owner_id: int, account_id: int) -> ExchangeAccount:
        return owned_account(self.s, owner_id, account_id)

    def _insert(self, row: Row) -> Row:
        with translated(self.s):
            self.s.add(row)
            self.s.flush()
        return row

    def get(self, owner_id: int, row_id: int) -> Any:
        row = self.s.scalar(self._owned(owner_id).where(self.model.id == row_id))
        if row is None:
            raise NotFound(self.what, row_id)
        return row

    def list(self, owner_id: int, account_id: int | None = None, status: str | None = None) -> list[Any]:
        q = self._owned(owner_id)
        if account_id is not None:
            q = q.where(self.model.account_id == account_id)
        if status is not None:
            q = q.where(self.model.status == status)
        return list(self.s.scalars(q.order_by(self.model.id)))

    def set_status(self, owner_id: int, row_id: int, status: str) -> Any:
        row = self.get(owner_id, row_id)
        row.status = status  # checked by the model's validator (InputError naming "status")
        with translated(self.s):
            self.s.flush()
        return row


class Bots(_Repo):
    model, what = Bot, "bot"

    def add(self, owner_id: int, account_id: int, name: str, strategy: str = "dca", status: str = "enabled") -> Bot:
        self._account(owner_id, account_id)
        return self._insert(Bot(account_id=account_id, owner_id=owner_id, name=name, strategy=strategy,
                                status=status, created_at=self.clock()))


class Deals(_Repo):
    model, what = Deal, "deal"

    def add(self, owner_id: int, bot_id: int, status: str = "active") -> Deal:
        bot: Bot = Bots(self.s, self.clock).get(owner_id, bot_id)
        return self._insert(Deal(bot_id=bot.id, account_id=bot.account_id, status=status, created_at=self.clock()))


class SmartTrades(_Repo):
    model, what = SmartTrade, "smart trade"

    def add(self, owner_id: int, account_id: int, symbol: str, status: str = "active") -> SmartTrade:
        self._account(owner_id, account_id)
        return self._insert(SmartTrade(account_id=account_id, owner_id=owner_id, symbol=symbol, status=status,
                                       created_at=self.clock()))


class Orders(_Repo):
    model, what = Order, "order"

    def add(self, owner_id: int, account_id: int, exchange_order_id: str, symbol: str, status: str = "open",
            deal_id: int | None = None, smart_trade_id: int | None = None) -> Order:
        """A platform order; its deal or SmartTrade, if any, must be on the same connection."""
        self._account(owner_id, account_id)
        for field, repo, ident in (("deal_id", Deals, deal_id), ("smart_trade_id", SmartTrades, smart_trade_id)):
            if ident is not None and repo(self.s, self.clock).get(owner_id, ident).account_id != account_id:
                raise InputError(field, "belongs to another exchange account")
        return self._insert(Order(account_id=account_id, deal_id=deal_id, smart_trade_id=smart_trade_id,
                                  exchange_order_id=exchange_order_id, symbol=symbol, status=status,
                                  created_at=self.clock()))
