"""Registry schema, ingestion bookkeeping and the first tenant tables.

Revision ID: 0001
Revises:
Create Date: 2026-12-04

The ``registry`` schema holds one monthly CNPJ snapshot. Ingestion never
writes into it: it clones these tables into a staging schema, loads there,
rebuilds the indexes defined here and swaps the schemas in one transaction.
So this migration is the single definition of the registry's columns,
partitions and indexes.
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

#: The 27 federative units plus EX (establishments abroad).
UFS = (
    "AC AL AM AP BA CE DF ES GO MA MG MS MT PA PB PE PI PR RJ RN RO RR RS SC SE SP TO EX"
).split()

LOOKUPS = (
    "cnae",
    "legal_nature",
    "partner_qualification",
    "country",
    "status_reason",
)


def upgrade() -> None:
    op.execute("CREATE SCHEMA registry")
    op.execute("CREATE SCHEMA ingestion")

    for table in LOOKUPS:
        op.execute(
            f"CREATE TABLE registry.{table} (code text PRIMARY KEY, description text NOT NULL)"
        )

    op.execute(
        """
        CREATE TABLE registry.municipality (
            tom_code text PRIMARY KEY,
            name text NOT NULL,
            uf text,
            ibge_code text CHECK (ibge_code ~ '^[0-9]{7}$')
        )
        """
    )

    # Source columns keep Receita's codes as text ('02', '0001'): they are codes,
    # not quantities, and leading zeros matter. source_file_id/source_line point
    # back at the dump row each fact came from.
    op.execute(
        """
        CREATE TABLE registry.company (
            cnpj_root text NOT NULL CHECK (cnpj_root ~ '^[0-9A-Z]{8}$'),
            legal_name text,
            legal_name_had_cpf boolean NOT NULL DEFAULT false,
            legal_nature_code text,
            responsible_qualification_code text,
            share_capital numeric(18, 2),
            company_size text,
            federative_entity text,
            quality_flags text[] NOT NULL DEFAULT '{}',
            source_file_id smallint NOT NULL,
            source_line integer NOT NULL,
            CONSTRAINT company_pkey PRIMARY KEY (cnpj_root)
        )
        """
    )

    op.execute(
        """
        CREATE TABLE registry.establishment (
            cnpj text NOT NULL CHECK (cnpj ~ '^[0-9A-Z]{12}[0-9]{2}$'),
            cnpj_root text NOT NULL,
            is_head_office boolean NOT NULL,
            trade_name text,
            registration_status text,
            status_date date,
            status_reason_code text,
            foreign_city text,
            country_code text,
            opening_date date,
            cnae_primary text,
            cnaes_secondary text[] NOT NULL DEFAULT '{}',
            street_type text,
            street text,
            street_number text,
            complement text,
            district text,
            cep text,
            uf text NOT NULL,
            tom_code text,
            ibge_code text,
            phone1 text,
            phone1_kind text,
            phone2 text,
            phone2_kind text,
            fax text,
            fax_kind text,
            email text,
            email_valid boolean,
            special_status text,
            special_status_date date,
            quality_flags text[] NOT NULL DEFAULT '{}',
            source_file_id smallint NOT NULL,
            source_line integer NOT NULL,
            CONSTRAINT establishment_pkey PRIMARY KEY (cnpj, uf)
        ) PARTITION BY LIST (uf)
        """
    )
    for uf in UFS:
        op.execute(
            f"CREATE TABLE registry.establishment_{uf.lower()} "
            f"PARTITION OF registry.establishment FOR VALUES IN ('{uf}')"
        )

    # Pre-lead search: CNAE + municipality inside the UF partition, with the
    # secondary CNAEs through GIN, and the CNPJ order used for stable pages.
    op.execute(
        "CREATE INDEX establishment_cnae_municipality_idx "
        "ON registry.establishment (cnae_primary, ibge_code, cnpj)"
    )
    op.execute(
        "CREATE INDEX establishment_cnaes_secondary_idx "
        "ON registry.establishment USING gin (cnaes_secondary)"
    )
    op.execute(
        """
        CREATE TABLE registry.partner (
            cnpj_root text NOT NULL,
            partner_type text,
            name text,
            document text,
            qualification_code text,
            entry_date date,
            country_code text,
            representative_document text,
            representative_name text,
            representative_qualification_code text,
            age_range text,
            quality_flags text[] NOT NULL DEFAULT '{}',
            source_file_id smallint NOT NULL,
            source_line integer NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX partner_root_idx ON registry.partner (cnpj_root)")

    op.execute(
        """
        CREATE TABLE registry.simples (
            cnpj_root text NOT NULL,
            simples_opted boolean,
            simples_since date,
            simples_until date,
            mei_opted boolean,
            mei_since date,
            mei_until date,
            quality_flags text[] NOT NULL DEFAULT '{}',
            source_file_id smallint NOT NULL,
            source_line integer NOT NULL,
            CONSTRAINT simples_pkey PRIMARY KEY (cnpj_root)
        )
        """
    )

    # Contacts that many establishments share (an accountant's e-mail or phone),
    # computed after each load.
    op.execute(
        """
        CREATE TABLE registry.shared_contact (
            kind text NOT NULL CHECK (kind IN ('email', 'phone')),
            value text NOT NULL,
            establishment_count integer NOT NULL,
            CONSTRAINT shared_contact_pkey PRIMARY KEY (kind, value)
        )
        """
    )

    # One row: which run produced the snapshot that is live.
    op.execute(
        """
        CREATE TABLE registry.snapshot (
            run_id uuid NOT NULL,
            source text NOT NULL,
            reference text,
            loaded_at timestamptz NOT NULL,
            counts jsonb NOT NULL
        )
        """
    )

    op.execute(
        """
        CREATE TABLE ingestion.run (
            id uuid PRIMARY KEY,
            source text NOT NULL,
            source_fingerprint text NOT NULL,
            status text NOT NULL CHECK (status IN ('running', 'failed', 'completed')),
            staging_schema text NOT NULL,
            chunk_bytes integer NOT NULL,
            started_at timestamptz NOT NULL,
            finished_at timestamptz,
            error text,
            summary jsonb
        )
        """
    )
    op.execute(
        "CREATE INDEX run_fingerprint_idx ON ingestion.run (source_fingerprint, started_at DESC)"
    )
    op.execute(
        """
        CREATE TABLE ingestion.source_file (
            run_id uuid NOT NULL REFERENCES ingestion.run (id) ON DELETE CASCADE,
            id smallint NOT NULL,
            name text NOT NULL,
            kind text NOT NULL,
            completed boolean NOT NULL DEFAULT false,
            nul_bytes bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (run_id, id),
            UNIQUE (run_id, name)
        )
        """
    )
    # Written in the same transaction as the chunk's rows: a committed chunk row
    # is proof that its rows are in the staging tables.
    op.execute(
        """
        CREATE TABLE ingestion.chunk (
            run_id uuid NOT NULL,
            file_id smallint NOT NULL,
            chunk_index integer NOT NULL,
            rows_read integer NOT NULL,
            rows_loaded integer NOT NULL,
            rows_quarantined integer NOT NULL,
            PRIMARY KEY (run_id, file_id, chunk_index),
            FOREIGN KEY (run_id, file_id) REFERENCES ingestion.source_file (run_id, id)
                ON DELETE CASCADE
        )
        """
    )
    op.execute(
        """
        CREATE TABLE ingestion.quarantine (
            id bigserial PRIMARY KEY,
            run_id uuid NOT NULL REFERENCES ingestion.run (id) ON DELETE CASCADE,
            file_id smallint NOT NULL,
            line bigint,
            raw text NOT NULL,
            reason text NOT NULL,
            detail text
        )
        """
    )
    op.execute("CREATE INDEX quarantine_run_idx ON ingestion.quarantine (run_id, file_id)")

    # Tenancy starts here with what search needs: a tenant, its API keys, and
    # the pre-leads and leads that a search can leave out.
    op.execute(
        """
        CREATE TABLE tenant (
            id uuid PRIMARY KEY,
            name text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE api_key (
            id uuid PRIMARY KEY,
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            prefix text NOT NULL UNIQUE,
            key_hash text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz
        )
        """
    )
    for table in ("prelead", "lead"):
        op.execute(
            f"""
            CREATE TABLE {table} (
                tenant_id uuid NOT NULL REFERENCES tenant (id),
                cnpj text NOT NULL CHECK (cnpj ~ '^[0-9A-Z]{{12}}[0-9]{{2}}$'),
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (tenant_id, cnpj)
            )
            """
        )
        # FORCE applies the policy to the table owner too, so no connection
        # sees another tenant's rows, whatever role it uses.
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_tenant_isolation ON {table} "
            "USING (tenant_id = nullif(current_setting('garimpo.tenant_id', true), '')::uuid)"
        )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS lead, prelead, api_key, tenant")
    op.execute("DROP SCHEMA IF EXISTS ingestion CASCADE")
    op.execute("DROP SCHEMA IF EXISTS registry CASCADE")
