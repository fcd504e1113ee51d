"""API token expiry; audit anchors (the Sign Center's checkpoint heads, kept outside its data directory).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

Spelled out by hand, like 0001: this revision keeps meaning what it means when the models change later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:  # SQLite alters by table copy
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "audit_anchors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("log", sa.String(200), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(128), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("sig", sa.String(512), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_anchors")),
        sa.UniqueConstraint("log", "seq", name=op.f("uq_audit_anchors_log_seq")),
    )


def downgrade() -> None:
    op.drop_table("audit_anchors")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
