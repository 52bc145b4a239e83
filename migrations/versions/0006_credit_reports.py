"""Credit reports and notification delivery: per-recipient progress, report and log indexes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

``notification_outbox.emailed`` keeps a key per e-mail recipient already
sent, so a row dispatched again after a failure writes only to those left.
The indexes serve the usage report (captures attributed to the hold they
settled) and the delivery log of one webhook endpoint.
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE notification_outbox ADD COLUMN emailed text[] NOT NULL DEFAULT '{}'")
    op.execute(
        "CREATE INDEX credit_hold_settled_entry_idx ON credit_hold (settled_entry_id) "
        "WHERE settled_entry_id IS NOT NULL"
    )
    op.execute(
        "CREATE INDEX webhook_delivery_endpoint_idx "
        "ON webhook_delivery (endpoint_id, created_at DESC)"
    )
    op.execute(
        "CREATE INDEX webhook_endpoint_active_idx ON webhook_endpoint (tenant_id, created_at) "
        "WHERE disabled_at IS NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS webhook_endpoint_active_idx")
    op.execute("DROP INDEX IF EXISTS webhook_delivery_endpoint_idx")
    op.execute("DROP INDEX IF EXISTS credit_hold_settled_entry_idx")
    op.execute("ALTER TABLE notification_outbox DROP COLUMN IF EXISTS emailed")
