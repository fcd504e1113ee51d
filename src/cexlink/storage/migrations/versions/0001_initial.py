"""Initial schema: users, API tokens, exchange accounts, events, bots, deals, SmartTrades, orders.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Spelled out by hand (types, names, ON DELETE rules) rather than imported from the models, so this revision keeps
meaning what it meant when later ones change the models; tests compare its result with the ORM metadata.
Names are final (``op.f``): the models' naming convention must not be applied to them a second time.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACCOUNT_STATUSES = ("ok", "invalid_api_key", "insufficient_permissions", "ip_not_whitelisted", "agreement_required",
                    "key_expired", "revoked", "account_suspended", "exchange_maintenance", "rate_limited",
                    "clock_skew", "exchange_unavailable", "unknown")
TRADE_STATUSES = ("active", "error", "completed", "failed", "cancelled")


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), nullable=False)


def _one_of(table: str, column: str, values: Sequence[str]) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})", name=op.f(f"ck_{table}_{column}"))


def _fk(table: str, column: str, target: str, ondelete: str | None = None) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"),
                                   ondelete=ondelete)


def upgrade() -> None:
    op.create_table(
        "users",
        _id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "api_tokens",
        _id(),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        _time("created_at"),
        _time("last_used_at", nullable=True),
        _time("revoked_at", nullable=True),
        _fk("api_tokens", "user_id", "users", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])

    op.create_table(
        "events",
        _id(),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),  # no foreign key: history outlives the account
        _time("time"),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        _one_of("events", "severity", ("info", "warning", "critical")),
        _fk("events", "owner_id", "users", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_account_id", "events", ["account_id"])
    op.create_index("ix_events_owner_id_time", "events", ["owner_id", "time"])

    op.create_table(
        "exchange_accounts",
        _id(),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("exchange", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("exchange_uid", sa.String(128), nullable=False),
        sa.Column("is_sub_account", sa.Boolean(), nullable=False),
        sa.Column("credential_id", sa.String(128), nullable=False),
        sa.Column("key_fingerprint", sa.String(128), nullable=False),
        sa.Column("masked_key", sa.String(64), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("ip_whitelist", sa.JSON(), nullable=False),
        sa.Column("connected_via", sa.String(16), nullable=False),
        _time("key_created_at", nullable=True),
        _time("key_expires_at", nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=False),
        sa.Column("status_remedy", sa.Text(), nullable=False),
        sa.Column("status_code", sa.String(64), nullable=True),
        _time("last_checked_at", nullable=True),
        sa.Column("balances", sa.JSON(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        _one_of("exchange_accounts", "connected_via", ("api_key", "fast_connect")),
        _one_of("exchange_accounts", "status", ACCOUNT_STATUSES),
        _fk("exchange_accounts", "owner_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_accounts")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_exchange_accounts_credential_id")),
        sa.UniqueConstraint("exchange", "exchange_uid", name=op.f("uq_exchange_accounts_exchange_exchange_uid")),
        sa.UniqueConstraint("key_fingerprint", name=op.f("uq_exchange_accounts_key_fingerprint")),
    )
    op.create_index("ix_exchange_accounts_owner_id", "exchange_accounts", ["owner_id"])

    op.create_table(
        "bots",
        _id(),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("strategy", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _time("created_at"),
        _one_of("bots", "status", ("enabled", "disabled", "error")),
        _fk("bots", "account_id", "exchange_accounts", "CASCADE"),
        _fk("bots", "owner_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bots")),
    )
    op.create_index("ix_bots_account_id", "bots", ["account_id"])

    op.create_table(
        "smart_trades",
        _id(),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _time("created_at"),
        _one_of("smart_trades", "status", TRADE_STATUSES),
        _fk("smart_trades", "account_id", "exchange_accounts", "CASCADE"),
        _fk("smart_trades", "owner_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_smart_trades")),
    )
    op.create_index("ix_smart_trades_account_id", "smart_trades", ["account_id"])

    op.create_table(
        "deals",
        _id(),
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _time("created_at"),
        _one_of("deals", "status", TRADE_STATUSES),
        _fk("deals", "account_id", "exchange_accounts", "CASCADE"),
        _fk("deals", "bot_id", "bots", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deals")),
    )
    op.create_index("ix_deals_account_id", "deals", ["account_id"])
    op.create_index("ix_deals_bot_id", "deals", ["bot_id"])

    op.create_table(
        "orders",
        _id(),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("deal_id", sa.Integer(), nullable=True),
        sa.Column("smart_trade_id", sa.Integer(), nullable=True),
        sa.Column("exchange_order_id", sa.String(128), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _time("created_at"),
        _one_of("orders", "status", ("open", "closed", "canceled")),
        _fk("orders", "account_id", "exchange_accounts", "CASCADE"),
        _fk("orders", "deal_id", "deals", "SET NULL"),
        _fk("orders", "smart_trade_id", "smart_trades", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("account_id", "exchange_order_id", name=op.f("uq_orders_account_id_exchange_order_id")),
    )
    op.create_index("ix_orders_deal_id", "orders", ["deal_id"])
    op.create_index("ix_orders_smart_trade_id", "orders", ["smart_trade_id"])


def downgrade() -> None:
    # Dropping a table drops its indexes; children first.
    for table in ("orders", "deals", "smart_trades", "bots", "exchange_accounts", "events", "api_tokens", "users"):
        op.drop_table(table)
