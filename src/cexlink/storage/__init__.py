"""The app database: tables, migrations, engine/session factory and owner-scoped repositories.

Entry points: ``db.make_engine`` / ``db.make_session_factory`` / ``db.session_scope`` / ``db.migrate``,
``repositories.Repos`` (or ``Users``, ``Accounts``, ``Events``, ``Bots``, ``Deals``, ``SmartTrades``, ``Orders``),
``errors.NotFound`` / ``errors.Conflict``. No secret is ever stored here.
"""

from .db import make_engine, make_session_factory, migrate, session_scope
from .repositories import Repos

__all__ = ["Repos", "make_engine", "make_session_factory", "migrate", "session_scope"]
