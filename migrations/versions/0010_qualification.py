"""Qualification: jobs, per-pre-lead flows, sends, sender pools, provider events.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

- ``qualification_job`` is one run over a selection; ``qualification_flow``
  is one pre-lead's walk through WhatsApp, SMS and e-mail within it.
- ``message_send`` is written and committed before a provider is called, keyed
  by the send's idempotency key. A worker that finds a row still ``sending``
  after a crash does not know whether the provider got the message, so it
  never sends that key again.
- ``sender_number`` is the tenant's pool of numbers and addresses, each with
  its own rate limit.
- ``provider_event`` keeps every webhook event id once: redeliveries and
  replays stop there.
- ``unmatched_reply`` keeps replies no flow claims, for a person to look at.

Provider webhooks arrive without a tenant. Two SECURITY DEFINER functions
answer, for one exact hash or message id, which tenant it belongs to; the
work then runs in that tenant's transaction like any other.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_TENANT_TABLES = ("qualification_job", "qualification_flow", "message_send", "sender_number")


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE qualification_job (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            selection_id uuid NOT NULL REFERENCES selection (id),
            state text NOT NULL CHECK (state IN ('running', 'paused', 'cancelled', 'finished')),
            orchestrator text NOT NULL CHECK (orchestrator IN ('builtin', 'n8n')),
            total integer NOT NULL CHECK (total >= 0),
            created_by uuid,
            created_by_label text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz
        )
        """
    )
    op.execute(
        "CREATE INDEX qualification_job_tenant_idx ON qualification_job (tenant_id, created_at)"
    )
    op.execute(
        "CREATE INDEX qualification_job_running_idx ON qualification_job (state) "
        "WHERE state = 'running'"
    )
    op.execute(
        """
        CREATE TABLE qualification_flow (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            job_id uuid NOT NULL REFERENCES qualification_job (id),
            prelead_id uuid NOT NULL REFERENCES prelead (id),
            state text NOT NULL
                CHECK (state IN ('sending', 'awaiting_reply', 'in_review', 'done')),
            channel text CHECK (channel IN ('whatsapp', 'sms', 'email')),
            remaining text[] NOT NULL DEFAULT '{}',
            attempt integer NOT NULL DEFAULT 0,
            next_action_at timestamptz,
            outcome text CHECK (outcome IN (
                'qualified', 'not_interested', 'invalid', 'opt_out', 'no_answer', 'cancelled')),
            reason text,
            rule text,
            -- The contacts the flow writes to, encrypted, with their lookup
            -- hashes for matching replies.
            phone_encrypted bytea,
            phone_hash bytea,
            email_encrypted bytea,
            email_hash bytea,
            lease_until timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (job_id, prelead_id)
        )
        """
    )
    # One live flow per pre-lead: starting again while one runs changes nothing.
    op.execute(
        "CREATE UNIQUE INDEX qualification_flow_live_key ON qualification_flow "
        "(tenant_id, prelead_id) WHERE state <> 'done'"
    )
    op.execute(
        "CREATE INDEX qualification_flow_due_idx ON qualification_flow (next_action_at) "
        "WHERE state IN ('sending', 'awaiting_reply')"
    )
    op.execute("CREATE INDEX qualification_flow_job_idx ON qualification_flow (job_id, state)")
    op.execute("CREATE INDEX qualification_flow_phone_idx ON qualification_flow (phone_hash)")
    op.execute("CREATE INDEX qualification_flow_email_idx ON qualification_flow (email_hash)")
    op.execute(
        """
        CREATE TABLE message_send (
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            idempotency_key text NOT NULL,
            flow_id uuid REFERENCES qualification_flow (id),
            channel text NOT NULL CHECK (channel IN ('whatsapp', 'sms', 'email')),
            sender text,
            provider text,
            state text NOT NULL CHECK (state IN ('sending', 'sent', 'failed', 'unconfirmed')),
            provider_message_id text,
            interaction_id uuid REFERENCES interaction (id),
            error_code text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, idempotency_key)
        )
        """
    )
    op.execute("CREATE INDEX message_send_day_idx ON message_send (tenant_id, created_at)")
    op.execute(
        "CREATE INDEX message_send_sender_idx ON message_send (tenant_id, sender, created_at)"
    )
    op.execute(
        "CREATE INDEX message_send_provider_idx ON message_send (provider, provider_message_id) "
        "WHERE provider_message_id IS NOT NULL"
    )
    op.execute("CREATE INDEX message_send_key_idx ON message_send (idempotency_key)")
    op.execute(
        """
        CREATE TABLE sender_number (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            channel text NOT NULL CHECK (channel IN ('whatsapp', 'sms', 'email')),
            address text NOT NULL,
            -- The provider's own id of the sender when it is not the address
            -- (Meta's phone number id).
            provider_ref text,
            limit_per_period integer NOT NULL CHECK (limit_per_period > 0),
            period_seconds integer NOT NULL CHECK (period_seconds > 0),
            active boolean NOT NULL DEFAULT true,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    # A number answers for one tenant: inbound messages to it are that tenant's.
    op.execute("CREATE UNIQUE INDEX sender_number_key ON sender_number (channel, address)")
    op.execute(
        """
        CREATE TABLE provider_event (
            provider text NOT NULL,
            event_id text NOT NULL,
            tenant_id uuid REFERENCES tenant (id),
            kind text NOT NULL,
            provider_message_id text,
            detail jsonb NOT NULL DEFAULT '{}'::jsonb,
            received_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (provider, event_id)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE unmatched_reply (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid REFERENCES tenant (id),
            provider text NOT NULL,
            channel text NOT NULL,
            provider_message_id text NOT NULL,
            sender_hash bytea NOT NULL,
            sender_encrypted bytea NOT NULL,
            body_encrypted bytea NOT NULL,
            recipient text,
            received_at timestamptz NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    _policies()
    _routing_functions()


def _policies() -> None:
    for table in _TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_tenant_isolation ON {table} USING (tenant_id = app_tenant())"
        )

    # Events and unmatched replies are written before a tenant is known (or
    # with none at all): the webhook transaction may insert them; reading
    # is for the tenant they belong to, and for the host.
    for table in ("provider_event", "unmatched_reply"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {table}_insert ON {table} FOR INSERT WITH CHECK (true)")
        op.execute(
            f"CREATE POLICY {table}_read ON {table} FOR SELECT "
            "USING (tenant_id = app_tenant() OR app_is_host())"
        )


def _routing_functions() -> None:
    # Which tenants have a live flow (or one finished within the last 30
    # days, for late replies) for a contact hash. It answers for exact hashes
    # only, so it cannot be used to list another tenant's contacts.
    op.execute(
        """
        CREATE FUNCTION qualification_contact_tenants(p_hashes bytea[])
        RETURNS TABLE (tenant_id uuid, flow_id uuid)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT f.tenant_id, f.id
              FROM qualification_flow f
             WHERE (f.phone_hash = ANY (p_hashes) OR f.email_hash = ANY (p_hashes))
               AND (f.state <> 'done' OR f.updated_at > now() - interval '30 days')
             ORDER BY (f.state <> 'done') DESC, f.updated_at DESC
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION qualification_message_tenant(
            p_provider text, p_message_id text, p_key text)
        RETURNS uuid
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT s.tenant_id
              FROM message_send s
             WHERE (p_message_id IS NOT NULL AND s.provider = p_provider
                    AND s.provider_message_id = p_message_id)
                OR (p_key IS NOT NULL AND s.idempotency_key = p_key)
             LIMIT 1
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION sender_number_tenant(p_channel text, p_address text) RETURNS uuid
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT tenant_id FROM sender_number
             WHERE channel = p_channel AND (address = p_address OR provider_ref = p_address)
             LIMIT 1
        $$
        """
    )
    # The built-in orchestrator's dispatcher runs without a tenant and needs
    # to know which jobs have work due; it learns ids, never contacts.
    op.execute(
        """
        CREATE FUNCTION qualification_due_jobs(p_now timestamptz, p_limit integer)
        RETURNS TABLE (tenant_id uuid, job_id uuid)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT j.tenant_id, j.id
              FROM qualification_job j
             WHERE j.state = 'running' AND j.orchestrator = 'builtin'
               AND EXISTS (
                   SELECT 1 FROM qualification_flow f
                    WHERE f.job_id = j.id
                      AND f.state IN ('sending', 'awaiting_reply')
                      AND f.next_action_at <= p_now
                      AND (f.lease_until IS NULL OR f.lease_until < p_now))
             ORDER BY j.created_at
             LIMIT p_limit
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS qualification_due_jobs(timestamptz, integer)")
    op.execute("DROP FUNCTION IF EXISTS sender_number_tenant(text, text)")
    op.execute("DROP FUNCTION IF EXISTS qualification_message_tenant(text, text, text)")
    op.execute("DROP FUNCTION IF EXISTS qualification_contact_tenants(bytea[])")
    op.execute("DROP TABLE IF EXISTS unmatched_reply, provider_event, sender_number")
    op.execute("DROP TABLE IF EXISTS message_send, qualification_flow, qualification_job")
