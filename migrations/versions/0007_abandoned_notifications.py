"""Abandoned notifications: a row given up after its last attempt leaves the queue.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05

``notification_outbox.abandoned_at`` marks the row, which stays with its last
error for the operator to read instead of being retried forever.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE notification_outbox ADD COLUMN abandoned_at timestamptz")


def downgrade() -> None:
    op.execute("ALTER TABLE notification_outbox DROP COLUMN IF EXISTS abandoned_at")
