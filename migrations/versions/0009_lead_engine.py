"""Lead engine: selections, pipelines, leads with encrypted contacts, timeline, opt-outs.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05

- ``prelead`` gains its source and its qualification status; one row per
  tenant and establishment CNPJ stays the primary key.
- ``selection`` freezes a batch of pre-leads, each item with the flags found
  when it was made (already a lead, opted out, no contact channel).
- ``pipeline`` and ``pipeline_stage``: a default pipeline is created for each
  tenant by a trigger, so every way of creating a tenant gets one.
- ``lead`` gains the CRM columns; ``lead_contact`` holds its phones and
  e-mails encrypted, with a keyed hash beside each value for dedup lookups.
- ``lead_event`` is append-only: stage moves, edits, duplicate reviews.
- ``interaction``, ``lead_note`` and ``lead_task`` form the lead's timeline.
- ``lead_field`` is the per-tenant schema of a lead's custom fields.
- ``opt_out`` lists hashed phones, e-mails and CNPJs, per tenant or global.
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: Stages of the default pipeline: name, kind. ``qualified`` receives the
#: leads that qualification creates; ``won`` and ``lost`` close a lead.
DEFAULT_STAGES = (
    ("Novo", "open"),
    ("Em contato", "open"),
    ("Qualificado", "qualified"),
    ("Proposta", "open"),
    ("Ganho", "won"),
    ("Perdido", "lost"),
)

_TENANT_TABLES = (
    "selection",
    "selection_item",
    "pipeline",
    "pipeline_stage",
    "lead_contact",
    "lead_event",
    "interaction",
    "lead_note",
    "lead_task",
    "lead_field",
)


def upgrade() -> None:
    _preleads_and_selections()
    _pipelines()
    _leads()
    _timeline()
    _opt_out()
    _policies()


def _preleads_and_selections() -> None:
    op.execute(
        "ALTER TABLE prelead "
        "ADD COLUMN source text NOT NULL DEFAULT 'registry' "
        "CHECK (source IN ('registry', 'api-cnaes', 'import')), "
        "ADD COLUMN status text NOT NULL DEFAULT 'selected' CHECK (status IN ("
        "'selected', 'qualifying', 'qualified', 'not_interested', 'invalid', 'opt_out', "
        "'no_answer')), "
        "ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now()"
    )
    op.execute(
        """
        CREATE TABLE selection (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            origin text NOT NULL CHECK (origin IN ('cnpjs', 'search')),
            criteria jsonb,
            item_count integer NOT NULL DEFAULT 0 CHECK (item_count >= 0),
            created_by uuid,
            created_by_label text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX selection_tenant_idx ON selection (tenant_id, created_at DESC, id)")
    op.execute(
        """
        CREATE TABLE selection_item (
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            selection_id uuid NOT NULL REFERENCES selection (id) ON DELETE CASCADE,
            prelead_id uuid NOT NULL REFERENCES prelead (id),
            position integer NOT NULL,
            flags text[] NOT NULL DEFAULT '{}',
            PRIMARY KEY (selection_id, prelead_id),
            UNIQUE (selection_id, position)
        )
        """
    )
    op.execute("CREATE INDEX selection_item_prelead_idx ON selection_item (prelead_id)")


def _pipelines() -> None:
    op.execute(
        """
        CREATE TABLE pipeline (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            name text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
            is_default boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (tenant_id, name)
        )
        """
    )
    op.execute("CREATE UNIQUE INDEX pipeline_default_key ON pipeline (tenant_id) WHERE is_default")
    op.execute(
        """
        CREATE TABLE pipeline_stage (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            pipeline_id uuid NOT NULL REFERENCES pipeline (id) ON DELETE CASCADE,
            name text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
            position integer NOT NULL CHECK (position >= 0),
            kind text NOT NULL CHECK (kind IN ('open', 'qualified', 'won', 'lost')),
            UNIQUE (pipeline_id, name),
            -- Deferred so that reordering stages can swap positions in one transaction.
            UNIQUE (pipeline_id, position) DEFERRABLE INITIALLY DEFERRED
        )
        """
    )

    values = ", ".join(
        f"(pipeline, '{name}', {position}, '{kind}')"
        for position, (name, kind) in enumerate(DEFAULT_STAGES)
    )
    op.execute(
        f"""
        CREATE FUNCTION create_default_pipeline(p_tenant uuid) RETURNS uuid
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
        DECLARE
            pipeline uuid;
        BEGIN
            -- It runs as the owner, past row-level security, so a tenant
            -- transaction may only create its own tenant's pipeline.
            IF app_tenant() IS NOT NULL AND p_tenant <> app_tenant() THEN
                RAISE EXCEPTION 'create_default_pipeline: tenant % is not the current tenant',
                    p_tenant;
            END IF;
            INSERT INTO pipeline (tenant_id, name, is_default)
            VALUES (p_tenant, 'Funil de vendas', true)
            ON CONFLICT DO NOTHING
            RETURNING id INTO pipeline;
            IF pipeline IS NULL THEN
                RETURN NULL;
            END IF;
            INSERT INTO pipeline_stage (tenant_id, pipeline_id, name, position, kind)
            SELECT p_tenant, v.* FROM (VALUES {values}) AS v;
            RETURN pipeline;
        END;
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION tenant_default_pipeline() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM create_default_pipeline(NEW.id);
            RETURN NEW;
        END;
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER tenant_default_pipeline AFTER INSERT ON tenant "
        "FOR EACH ROW EXECUTE FUNCTION tenant_default_pipeline()"
    )
    op.execute("SELECT create_default_pipeline(id) FROM tenant")


def _leads() -> None:
    op.execute(
        """
        ALTER TABLE lead
            ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid(),
            ADD COLUMN prelead_id uuid REFERENCES prelead (id),
            ADD COLUMN origin text NOT NULL DEFAULT 'manual'
                CHECK (origin IN ('qualification', 'manual')),
            ADD COLUMN pipeline_id uuid REFERENCES pipeline (id),
            ADD COLUMN stage_id uuid REFERENCES pipeline_stage (id),
            ADD COLUMN stage_entered_at timestamptz NOT NULL DEFAULT now(),
            ADD COLUMN owner_id uuid REFERENCES account (id),
            ADD COLUMN classification text CHECK (classification IN (
                'qualified', 'not_interested', 'invalid', 'opt_out', 'no_answer')),
            ADD COLUMN classification_rule text,
            ADD COLUMN company_name text,
            ADD COLUMN trade_name text,
            ADD COLUMN cnae text,
            ADD COLUMN uf text,
            ADD COLUMN municipality_ibge text,
            ADD COLUMN notes text NOT NULL DEFAULT '' CHECK (length(notes) <= 20000),
            ADD COLUMN tags text[] NOT NULL DEFAULT '{}',
            ADD COLUMN custom_fields jsonb NOT NULL DEFAULT '{}'::jsonb,
            ADD COLUMN close_reason text,
            ADD COLUMN review_status text CHECK (review_status IN ('possible_duplicate')),
            ADD COLUMN duplicate_of uuid,
            ADD COLUMN merged_into uuid,
            ADD COLUMN search_text text NOT NULL DEFAULT '',
            ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now()
        """
    )
    op.execute("CREATE UNIQUE INDEX lead_id_key ON lead (id)")
    op.execute(
        "ALTER TABLE lead ADD CONSTRAINT lead_duplicate_of_fkey "
        "FOREIGN KEY (duplicate_of) REFERENCES lead (id), "
        "ADD CONSTRAINT lead_merged_into_fkey FOREIGN KEY (merged_into) REFERENCES lead (id)"
    )
    # A qualified pre-lead turns into one lead at most.
    op.execute("CREATE UNIQUE INDEX lead_prelead_key ON lead (prelead_id)")
    op.execute("CREATE INDEX lead_list_idx ON lead (tenant_id, created_at DESC, id)")
    op.execute("CREATE INDEX lead_stage_idx ON lead (tenant_id, stage_id)")
    op.execute("CREATE INDEX lead_tags_idx ON lead USING gin (tags)")
    op.execute(
        """
        CREATE TABLE lead_contact (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            lead_id uuid NOT NULL REFERENCES lead (id) ON DELETE CASCADE,
            kind text NOT NULL CHECK (kind IN ('phone', 'email')),
            value_encrypted bytea NOT NULL,
            value_hash bytea NOT NULL,
            phone_type text CHECK (phone_type IN ('mobile', 'landline', 'other')),
            whatsapp text NOT NULL DEFAULT 'unknown' CHECK (whatsapp IN ('unknown', 'yes', 'no')),
            valid boolean NOT NULL,
            problem text,
            source text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (lead_id, kind, value_hash)
        )
        """
    )
    op.execute("CREATE INDEX lead_contact_hash_idx ON lead_contact (tenant_id, kind, value_hash)")
    op.execute(
        """
        CREATE TABLE lead_event (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            lead_id uuid NOT NULL REFERENCES lead (id),
            kind text NOT NULL,
            from_stage_id uuid,
            to_stage_id uuid,
            reason text,
            data jsonb NOT NULL DEFAULT '{}'::jsonb,
            actor_type text NOT NULL,
            actor_id text,
            actor_label text,
            occurred_at timestamptz NOT NULL DEFAULT clock_timestamp()
        )
        """
    )
    op.execute("CREATE INDEX lead_event_lead_idx ON lead_event (lead_id, occurred_at DESC)")
    op.execute(
        """
        CREATE TABLE lead_field (
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            key text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,39}$'),
            label text NOT NULL CHECK (length(label) BETWEEN 1 AND 80),
            type text NOT NULL CHECK (type IN ('text', 'number', 'date', 'boolean', 'choice')),
            choices text[] NOT NULL DEFAULT '{}',
            required boolean NOT NULL DEFAULT false,
            position integer NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, key)
        )
        """
    )


def _timeline() -> None:
    op.execute(
        """
        CREATE TABLE interaction (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            prelead_id uuid REFERENCES prelead (id),
            lead_id uuid REFERENCES lead (id),
            channel text NOT NULL
                CHECK (channel IN ('whatsapp', 'sms', 'email', 'phone', 'meeting', 'other')),
            direction text NOT NULL CHECK (direction IN ('outbound', 'inbound')),
            content_encrypted bytea,
            provider text,
            provider_message_id text,
            status text NOT NULL CHECK (status IN (
                'queued', 'sent', 'delivered', 'read', 'failed', 'received', 'logged')),
            error_code text,
            occurred_at timestamptz NOT NULL DEFAULT now(),
            sent_at timestamptz,
            delivered_at timestamptz,
            read_at timestamptz,
            failed_at timestamptz,
            created_by uuid,
            created_by_label text,
            created_at timestamptz NOT NULL DEFAULT now(),
            CHECK (prelead_id IS NOT NULL OR lead_id IS NOT NULL)
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX interaction_provider_message_key "
        "ON interaction (provider, provider_message_id) WHERE provider_message_id IS NOT NULL"
    )
    op.execute("CREATE INDEX interaction_lead_idx ON interaction (lead_id, occurred_at DESC)")
    op.execute("CREATE INDEX interaction_prelead_idx ON interaction (prelead_id, occurred_at DESC)")
    op.execute(
        """
        CREATE TABLE lead_note (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            lead_id uuid NOT NULL REFERENCES lead (id),
            body text NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
            author_id uuid,
            author_label text,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX lead_note_lead_idx ON lead_note (lead_id, created_at DESC)")
    op.execute(
        """
        CREATE TABLE lead_task (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            lead_id uuid NOT NULL REFERENCES lead (id),
            title text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
            due_at timestamptz,
            assignee_id uuid REFERENCES account (id),
            done_at timestamptz,
            done_by_label text,
            created_by uuid,
            created_by_label text,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX lead_task_lead_idx ON lead_task (lead_id, created_at DESC)")
    op.execute(
        "CREATE INDEX lead_task_open_idx ON lead_task (tenant_id, due_at) WHERE done_at IS NULL"
    )


def _opt_out() -> None:
    # A row without tenant is global: it applies to every tenant's sends.
    op.execute(
        """
        CREATE TABLE opt_out (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid REFERENCES tenant (id),
            kind text NOT NULL CHECK (kind IN ('phone', 'email', 'cnpj')),
            value_hash bytea NOT NULL,
            source text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX opt_out_key ON opt_out "
        "(coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid), kind, value_hash)"
    )
    op.execute("CREATE INDEX opt_out_hash_idx ON opt_out (kind, value_hash)")


def _policies() -> None:
    # Tenant data only: the host works inside a tenant by naming it, like
    # everywhere else. The default pipeline of a new tenant comes from a
    # SECURITY DEFINER function, so the host transaction that creates the
    # tenant needs no access here.
    for table in _TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_tenant_isolation ON {table} USING (tenant_id = app_tenant())"
        )

    # A tenant reads and adds its own rows and the global ones (an opt-out
    # reply applies to every tenant); the host reads and manages the global
    # list. Without a tenant or host setting, nothing is visible.
    visible = (
        "tenant_id = app_tenant() "
        "OR (tenant_id IS NULL AND (app_tenant() IS NOT NULL OR app_is_host()))"
    )
    op.execute("ALTER TABLE opt_out ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY opt_out_read ON opt_out FOR SELECT USING ({visible})")
    op.execute(f"CREATE POLICY opt_out_insert ON opt_out FOR INSERT WITH CHECK ({visible})")
    op.execute(
        "CREATE POLICY opt_out_host ON opt_out FOR DELETE USING (tenant_id IS NULL AND app_is_host())"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS opt_out, lead_task, lead_note, interaction")
    op.execute("DROP TABLE IF EXISTS lead_field, lead_event, lead_contact")
    op.execute(
        "ALTER TABLE lead DROP CONSTRAINT IF EXISTS lead_duplicate_of_fkey, "
        "DROP CONSTRAINT IF EXISTS lead_merged_into_fkey"
    )
    op.execute("DROP INDEX IF EXISTS lead_prelead_key, lead_list_idx, lead_stage_idx")
    op.execute("DROP INDEX IF EXISTS lead_tags_idx, lead_id_key")
    op.execute(
        "ALTER TABLE lead DROP COLUMN prelead_id, DROP COLUMN origin, DROP COLUMN pipeline_id, "
        "DROP COLUMN stage_id, DROP COLUMN stage_entered_at, DROP COLUMN owner_id, "
        "DROP COLUMN classification, DROP COLUMN classification_rule, DROP COLUMN company_name, "
        "DROP COLUMN trade_name, DROP COLUMN cnae, DROP COLUMN uf, DROP COLUMN municipality_ibge, "
        "DROP COLUMN notes, DROP COLUMN tags, DROP COLUMN custom_fields, DROP COLUMN close_reason, "
        "DROP COLUMN review_status, DROP COLUMN duplicate_of, DROP COLUMN merged_into, "
        "DROP COLUMN search_text, "
        "DROP COLUMN updated_at, DROP COLUMN id"
    )
    op.execute("DROP TRIGGER IF EXISTS tenant_default_pipeline ON tenant")
    op.execute("DROP FUNCTION IF EXISTS tenant_default_pipeline()")
    op.execute("DROP FUNCTION IF EXISTS create_default_pipeline(uuid)")
    op.execute("DROP TABLE IF EXISTS pipeline_stage, pipeline")
    op.execute("DROP TABLE IF EXISTS selection_item, selection")
    op.execute(
        "ALTER TABLE prelead DROP COLUMN IF EXISTS source, DROP COLUMN IF EXISTS status, "
        "DROP COLUMN IF EXISTS updated_at"
    )
