"""External companies: what api-cnaes returned when the local registry had no answer.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05

``external_company`` keeps one row per CNPJ fetched from an external source,
with the columns the pre-lead search filters on and the raw payload. It is
public registry data shared by every tenant, so it has no ``tenant_id`` and no
row-level security.

``external_search`` records each structured query sent to the source, keyed
by a hash of the query, with when it ran and how many results the source
reported. The search reads it to answer a repeated query from
``external_company`` instead of paying for the same call again.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE external_company (
            cnpj text PRIMARY KEY CHECK (cnpj ~ '^[0-9A-Z]{12}[0-9]{2}$'),
            source text NOT NULL,
            fetched_at timestamptz NOT NULL DEFAULT now(),
            legal_name text,
            trade_name text,
            cnae_primary text,
            cnaes_secondary text[] NOT NULL DEFAULT '{}',
            uf text,
            ibge_code text CHECK (ibge_code ~ '^[0-9]{7}$'),
            registration_status text,
            company_size text,
            share_capital numeric(18, 2),
            simples_opted boolean,
            mei_opted boolean,
            opening_date date,
            is_head_office boolean,
            -- E.164 numbers, such as +5511987654321.
            phones text[] NOT NULL DEFAULT '{}',
            email text,
            -- Street, number, CEP and municipality name, under the keys of the search results.
            address jsonb NOT NULL DEFAULT '{}',
            payload jsonb NOT NULL
        )
        """
    )

    # The fallback search filters like the registry search: UF, then CNAE and
    # municipality, with the CNPJ order used for stable pages, and secondary
    # CNAEs through GIN.
    op.execute(
        "CREATE INDEX external_company_search_idx "
        "ON external_company (uf, cnae_primary, ibge_code, cnpj)"
    )
    op.execute(
        "CREATE INDEX external_company_cnaes_secondary_idx "
        "ON external_company USING gin (cnaes_secondary)"
    )

    op.execute(
        """
        CREATE TABLE external_search (
            query_key text PRIMARY KEY,
            source text NOT NULL,
            query jsonb NOT NULL,
            fetched_at timestamptz NOT NULL,
            -- As reported by the source; more than stored_items when the fetch stopped early.
            total_items integer NOT NULL CHECK (total_items >= 0),
            stored_items integer NOT NULL CHECK (stored_items >= 0)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS external_search")
    op.execute("DROP TABLE IF EXISTS external_company")
