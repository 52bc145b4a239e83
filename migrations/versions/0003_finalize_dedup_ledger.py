"""Record each table's dedup of a run, committed with the rows it removed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

Dedup deletes rows and counts them per source file. Keeping those counts
in the same transaction as the DELETE lets a finalize resumed after a crash
report the rows an earlier attempt removed, so per-file counts still add up.
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE ingestion.finalize_dedup (
            run_id uuid NOT NULL REFERENCES ingestion.run (id) ON DELETE CASCADE,
            table_name text NOT NULL,
            duplicates jsonb NOT NULL,
            conflicts jsonb NOT NULL,
            PRIMARY KEY (run_id, table_name)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE ingestion.finalize_dedup")
