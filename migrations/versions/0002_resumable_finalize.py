"""Store finalize results on the run, and mark runs replaced by a fresh one.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

A resumed run (a publish retried with --force, or a crash during the
switch) reuses the stored finalize result instead of rebuilding indexes
that already exist. A fresh run marks the unfinished runs of the same
source ``abandoned`` and drops their staging schemas.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Adding a nullable column without a default only touches the catalog.
    op.execute("ALTER TABLE ingestion.run ADD COLUMN finalize_result jsonb")
    op.execute("ALTER TABLE ingestion.run DROP CONSTRAINT run_status_check")
    op.execute(
        "ALTER TABLE ingestion.run ADD CONSTRAINT run_status_check "
        "CHECK (status IN ('running', 'failed', 'completed', 'abandoned')) NOT VALID"
    )
    op.execute("ALTER TABLE ingestion.run VALIDATE CONSTRAINT run_status_check")


def downgrade() -> None:
    op.execute("UPDATE ingestion.run SET status = 'failed' WHERE status = 'abandoned'")
    op.execute("ALTER TABLE ingestion.run DROP CONSTRAINT run_status_check")
    op.execute(
        "ALTER TABLE ingestion.run ADD CONSTRAINT run_status_check "
        "CHECK (status IN ('running', 'failed', 'completed'))"
    )
    op.execute("ALTER TABLE ingestion.run DROP COLUMN finalize_result")
