"""Exchange incidents in the database (shared by every process); the health monitor's schedule on accounts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

``incidents``: one row per exchange-wide trouble (the exchange's status endpoint, transient failures on several
accounts, a failing canary), open while ``ended_at`` is NULL; ``incident_accounts``: the connections it touched.
``exchange_accounts`` gains the monitor's schedule (``next_check_at``, ``check_failures`` for backoff, a
``claimed_until`` lease for several workers), when its balances were read, and its key lifecycle (``key_state``,
the reminders raised). Spelled out by hand, like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exchange", sa.String(32), nullable=False),
        sa.Column("cause", sa.String(32), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("last_seen_at", TZ, nullable=False),
        sa.Column("ended_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.CheckConstraint("cause IN ('status_endpoint', 'transient_failures', 'canary')",
                           name=op.f("ck_incidents_cause")),
    )
    op.create_index("ix_incidents_exchange_ended_at", "incidents", ["exchange", "ended_at"])
    op.create_table(
        "incident_accounts",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),  # no foreign key: the history outlives the account
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("first_seen_at", TZ, nullable=False),
        sa.Column("last_seen_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE",
                                name=op.f("fk_incident_accounts_incident_id_incidents")),
        sa.PrimaryKeyConstraint("incident_id", "account_id", name=op.f("pk_incident_accounts")),
    )
    with op.batch_alter_table("exchange_accounts") as batch:  # SQLite alters by table copy
        batch.add_column(sa.Column("next_check_at", TZ, nullable=True))
        batch.add_column(sa.Column("check_failures", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("claimed_until", TZ, nullable=True))
        batch.add_column(sa.Column("balances_read_at", TZ, nullable=True))
        batch.add_column(sa.Column("key_state", sa.String(16), nullable=False, server_default="ok"))
        batch.add_column(sa.Column("key_notices", sa.JSON(), nullable=True))  # NULL: none raised yet
        batch.create_index("ix_exchange_accounts_next_check_at", ["next_check_at"])


def downgrade() -> None:
    with op.batch_alter_table("exchange_accounts") as batch:
        batch.drop_index("ix_exchange_accounts_next_check_at")
        for column in ("key_notices", "key_state", "balances_read_at", "claimed_until", "check_failures",
                       "next_check_at"):
            batch.drop_column(column)
    op.drop_table("incident_accounts")
    op.drop_index("ix_incidents_exchange_ended_at", table_name="incidents")
    op.drop_table("incidents")
