"""Host platform: plans, tenant lifecycle, accounts, sessions, API keys, audit, isolation.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

Row-level security is keyed on two transaction settings that the unit of
work sets with ``set_config(..., true)`` (the SET LOCAL form):
``garimpo.tenant_id`` for work inside one tenant and ``garimpo.host`` for the
host's own rows (host admins, host API keys). A connection that sets neither
sees no tenant-owned row at all.

Authentication must find an account by e-mail, a session by refresh token
and a key by prefix before it knows the tenant. Those lookups go through
SECURITY DEFINER functions that return one row for one exact value, so the
application role can authenticate without being able to list accounts.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: Tables owned by a tenant. Each gets ENABLE ROW LEVEL SECURITY and a policy
#: on ``tenant_id``. Host-level rows (host admins, host keys) have a NULL
#: tenant and are visible only in a host transaction.
_TENANT_TABLES_WITH_HOST_ROWS = ("account", "auth_session", "refresh_token", "account_token")


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION app_tenant() RETURNS uuid LANGUAGE sql STABLE AS $$
            SELECT nullif(current_setting('garimpo.tenant_id', true), '')::uuid
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION app_is_host() RETURNS boolean LANGUAGE sql STABLE AS $$
            SELECT coalesce(current_setting('garimpo.host', true), '') = 'on'
        $$
        """
    )

    op.execute(
        """
        CREATE TABLE plan (
            id uuid PRIMARY KEY,
            code text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9][a-z0-9-]{1,39}$'),
            name text NOT NULL,
            monthly_credits integer NOT NULL CHECK (monthly_credits >= 0),
            price_cents integer NOT NULL CHECK (price_cents >= 0),
            currency text NOT NULL DEFAULT 'BRL',
            max_users integer NOT NULL CHECK (max_users > 0),
            messages_per_day integer NOT NULL CHECK (messages_per_day > 0),
            requests_per_minute integer NOT NULL CHECK (requests_per_minute > 0),
            max_selection_size integer NOT NULL DEFAULT 5000 CHECK (max_selection_size > 0),
            archived_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )

    op.execute(
        """
        ALTER TABLE tenant
            ADD COLUMN plan_id uuid REFERENCES plan (id),
            ADD COLUMN status text NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'suspended', 'deleted')),
            ADD COLUMN status_reason text,
            ADD COLUMN document text,
            ADD COLUMN contact_email text,
            ADD COLUMN settings jsonb NOT NULL DEFAULT '{}'::jsonb,
            ADD COLUMN suspended_at timestamptz,
            ADD COLUMN deleted_at timestamptz,
            ADD COLUMN retention_until date,
            ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now()
        """
    )
    op.execute("CREATE INDEX tenant_status_idx ON tenant (status, created_at)")

    op.execute(
        """
        CREATE TABLE account (
            id uuid PRIMARY KEY,
            tenant_id uuid REFERENCES tenant (id),
            email text NOT NULL,
            name text NOT NULL,
            role text NOT NULL CHECK (role IN ('admin', 'sales', 'viewer', 'host_admin')),
            status text NOT NULL CHECK (status IN ('invited', 'active', 'disabled')),
            password_hash text,
            failed_logins integer NOT NULL DEFAULT 0,
            locked_until timestamptz,
            last_login_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CHECK ((role = 'host_admin') = (tenant_id IS NULL)),
            CHECK (email = lower(email))
        )
        """
    )
    # Login is by e-mail alone, so an e-mail names one account on the whole deployment.
    op.execute("CREATE UNIQUE INDEX account_email_key ON account (email)")
    op.execute("CREATE INDEX account_tenant_idx ON account (tenant_id, created_at)")

    # One row per login: the family of refresh tokens that rotation produces.
    op.execute(
        """
        CREATE TABLE auth_session (
            id uuid PRIMARY KEY,
            account_id uuid NOT NULL REFERENCES account (id),
            tenant_id uuid REFERENCES tenant (id),
            created_at timestamptz NOT NULL DEFAULT now(),
            last_refreshed_at timestamptz,
            expires_at timestamptz NOT NULL,
            revoked_at timestamptz,
            revoked_reason text,
            ip inet,
            user_agent text
        )
        """
    )
    op.execute("CREATE INDEX auth_session_account_idx ON auth_session (account_id)")
    op.execute(
        """
        CREATE TABLE refresh_token (
            token_hash text PRIMARY KEY,
            session_id uuid NOT NULL REFERENCES auth_session (id) ON DELETE CASCADE,
            tenant_id uuid REFERENCES tenant (id),
            issued_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            used_at timestamptz
        )
        """
    )
    op.execute("CREATE INDEX refresh_token_session_idx ON refresh_token (session_id)")

    # Single-use tokens sent by e-mail: password reset and invitation.
    op.execute(
        """
        CREATE TABLE account_token (
            token_hash text PRIMARY KEY,
            account_id uuid NOT NULL REFERENCES account (id),
            tenant_id uuid REFERENCES tenant (id),
            purpose text NOT NULL CHECK (purpose IN ('password_reset', 'invitation')),
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            used_at timestamptz
        )
        """
    )
    op.execute("CREATE INDEX account_token_account_idx ON account_token (account_id, purpose)")

    op.execute(
        """
        ALTER TABLE api_key
            ALTER COLUMN tenant_id DROP NOT NULL,
            ADD COLUMN name text NOT NULL DEFAULT 'chave',
            ADD COLUMN scopes text[] NOT NULL DEFAULT '{}',
            ADD COLUMN expires_at timestamptz,
            ADD COLUMN last_used_at timestamptz,
            -- The account or the key that created this key.
            ADD COLUMN created_by uuid,
            ADD COLUMN replaced_by uuid REFERENCES api_key (id)
        """
    )
    # Keys made before scopes existed could do everything a tenant key may do.
    op.execute(
        "UPDATE api_key SET scopes = ARRAY['registry:read', 'preleads:read'] WHERE scopes = '{}'"
    )
    op.execute("CREATE INDEX api_key_tenant_idx ON api_key (tenant_id, created_at)")

    # Append-only: the application role gets INSERT and SELECT only.
    op.execute(
        """
        CREATE TABLE audit_event (
            id bigserial PRIMARY KEY,
            occurred_at timestamptz NOT NULL DEFAULT now(),
            tenant_id uuid,
            actor_type text NOT NULL
                CHECK (actor_type IN ('account', 'api_key', 'system', 'anonymous')),
            actor_id uuid,
            actor_label text,
            acting_as_tenant uuid,
            action text NOT NULL,
            target_type text,
            target_id text,
            ip inet,
            user_agent text,
            request_id text,
            before jsonb,
            after jsonb,
            detail jsonb
        )
        """
    )
    op.execute("CREATE INDEX audit_event_time_idx ON audit_event (occurred_at DESC, id DESC)")
    op.execute(
        "CREATE INDEX audit_event_tenant_idx ON audit_event (tenant_id, occurred_at DESC, id DESC)"
    )
    op.execute("CREATE INDEX audit_event_action_idx ON audit_event (action, occurred_at DESC)")

    _policies()
    _auth_lookups()
    _tenant_profile()


def _policies() -> None:
    # prelead and lead already have a policy on the tenant setting; rewrite it
    # over app_tenant() so every table reads the setting the same way.
    for table in ("prelead", "lead"):
        op.execute(f"DROP POLICY {table}_tenant_isolation ON {table}")
        op.execute(
            f"CREATE POLICY {table}_tenant_isolation ON {table} USING (tenant_id = app_tenant())"
        )

    for table in (*_TENANT_TABLES_WITH_HOST_ROWS, "api_key"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_tenant_isolation ON {table} USING ("
            "tenant_id = app_tenant() OR (tenant_id IS NULL AND app_is_host()))"
        )

    # A tenant reads its own row; the host reads and writes every tenant.
    op.execute("ALTER TABLE tenant ENABLE ROW LEVEL SECURITY")
    op.execute("CREATE POLICY tenant_self ON tenant FOR SELECT USING (id = app_tenant())")
    op.execute("CREATE POLICY tenant_host ON tenant USING (app_is_host())")

    # Any transaction may append (failed logins have no tenant yet); reading is
    # for the host, or for a tenant on its own events.
    op.execute("ALTER TABLE audit_event ENABLE ROW LEVEL SECURITY")
    op.execute("CREATE POLICY audit_append ON audit_event FOR INSERT WITH CHECK (true)")
    op.execute(
        "CREATE POLICY audit_read ON audit_event FOR SELECT "
        "USING (app_is_host() OR tenant_id = app_tenant())"
    )


def _auth_lookups() -> None:
    # SECURITY DEFINER runs as the migration owner, which owns the tables and
    # (without FORCE) is not subject to their policies. search_path is pinned
    # so a caller cannot slip its own objects in.
    op.execute(
        """
        CREATE FUNCTION auth_account_by_email(p_email text) RETURNS SETOF account
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT * FROM account WHERE email = lower(p_email)
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION auth_refresh_token(p_hash text) RETURNS SETOF refresh_token
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT * FROM refresh_token WHERE token_hash = p_hash
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION auth_account_token(p_hash text) RETURNS SETOF account_token
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT * FROM account_token WHERE token_hash = p_hash
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION auth_api_key(p_prefix text) RETURNS SETOF api_key
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT * FROM api_key WHERE prefix = p_prefix
        $$
        """
    )
    # What every authenticated request needs to know, in one probe: is the
    # session or key still good, is the account enabled, is the tenant active.
    op.execute(
        """
        CREATE FUNCTION auth_session_state(p_session uuid)
        RETURNS TABLE (
            session_revoked boolean, account_status text, account_role text,
            tenant_status text, tenant_status_reason text, plan_requests_per_minute integer
        )
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT s.revoked_at IS NOT NULL OR s.expires_at < now(), a.status, a.role,
                   t.status, t.status_reason, p.requests_per_minute
            FROM auth_session s
            JOIN account a ON a.id = s.account_id
            LEFT JOIN tenant t ON t.id = s.tenant_id
            LEFT JOIN plan p ON p.id = t.plan_id
            WHERE s.id = p_session
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION auth_tenant_state(p_tenant uuid)
        RETURNS TABLE (tenant_status text, tenant_status_reason text, plan_requests_per_minute integer)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT t.status, t.status_reason, p.requests_per_minute
            FROM tenant t LEFT JOIN plan p ON p.id = t.plan_id
            WHERE t.id = p_tenant
        $$
        """
    )


# --- tenant profile: the host API and the tenant's own settings -------------------


def _tenant_profile() -> None:
    # A tenant admin changes the tenant's settings from inside the tenant, so
    # a tenant transaction may UPDATE its own row; the trigger below keeps
    # that to the settings, whatever the query says.
    op.execute(
        "CREATE POLICY tenant_self_update ON tenant FOR UPDATE "
        "USING (id = app_tenant()) WITH CHECK (id = app_tenant())"
    )
    op.execute(
        """
        CREATE FUNCTION tenant_guard_self_update() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF app_tenant() IS NOT NULL AND NOT app_is_host()
               AND (to_jsonb(NEW) - 'settings' - 'updated_at')
                   IS DISTINCT FROM (to_jsonb(OLD) - 'settings' - 'updated_at') THEN
                RAISE EXCEPTION 'a tenant may change only its own settings'
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER tenant_guard_self_update BEFORE UPDATE ON tenant "
        "FOR EACH ROW EXECUTE FUNCTION tenant_guard_self_update()"
    )

    # The client company's CNPJ: 14 characters as domain.cnpj stores them, and
    # one live tenant per CNPJ (a deleted tenant's CNPJ may sign up again).
    op.execute(
        "ALTER TABLE tenant ADD CONSTRAINT tenant_document_format "
        "CHECK (document ~ '^[0-9A-Z]{12}[0-9]{2}$')"
    )
    op.execute(
        "CREATE UNIQUE INDEX tenant_document_key ON tenant (document) "
        "WHERE document IS NOT NULL AND status <> 'deleted'"
    )
    op.execute("CREATE INDEX tenant_plan_idx ON tenant (plan_id)")


def _drop_tenant_profile() -> None:
    op.execute("DROP INDEX IF EXISTS tenant_plan_idx")
    op.execute("DROP INDEX IF EXISTS tenant_document_key")
    op.execute("ALTER TABLE tenant DROP CONSTRAINT IF EXISTS tenant_document_format")
    op.execute("DROP TRIGGER IF EXISTS tenant_guard_self_update ON tenant")
    op.execute("DROP FUNCTION IF EXISTS tenant_guard_self_update()")
    op.execute("DROP POLICY IF EXISTS tenant_self_update ON tenant")


def downgrade() -> None:
    _drop_tenant_profile()
    for function in (
        "auth_tenant_state(uuid)",
        "auth_session_state(uuid)",
        "auth_api_key(text)",
        "auth_account_token(text)",
        "auth_refresh_token(text)",
        "auth_account_by_email(text)",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    op.execute("DROP TABLE IF EXISTS audit_event")
    op.execute("DROP POLICY IF EXISTS api_key_tenant_isolation ON api_key")
    op.execute("ALTER TABLE api_key DISABLE ROW LEVEL SECURITY")
    op.execute(
        "ALTER TABLE api_key DROP COLUMN replaced_by, DROP COLUMN created_by, "
        "DROP COLUMN last_used_at, DROP COLUMN expires_at, DROP COLUMN scopes, DROP COLUMN name"
    )
    op.execute("DELETE FROM api_key WHERE tenant_id IS NULL")
    op.execute("ALTER TABLE api_key ALTER COLUMN tenant_id SET NOT NULL")
    op.execute("DROP TABLE IF EXISTS account_token, refresh_token, auth_session, account")
    op.execute("DROP POLICY IF EXISTS tenant_self ON tenant")
    op.execute("DROP POLICY IF EXISTS tenant_host ON tenant")
    op.execute("ALTER TABLE tenant DISABLE ROW LEVEL SECURITY")
    op.execute(
        "ALTER TABLE tenant DROP COLUMN plan_id, DROP COLUMN status, DROP COLUMN status_reason, "
        "DROP COLUMN document, DROP COLUMN contact_email, DROP COLUMN settings, "
        "DROP COLUMN suspended_at, DROP COLUMN deleted_at, DROP COLUMN retention_until, "
        "DROP COLUMN updated_at"
    )
    op.execute("DROP TABLE IF EXISTS plan")
    for table in ("prelead", "lead"):
        op.execute(f"DROP POLICY {table}_tenant_isolation ON {table}")
        op.execute(
            f"CREATE POLICY {table}_tenant_isolation ON {table} "
            "USING (tenant_id = nullif(current_setting('garimpo.tenant_id', true), '')::uuid)"
        )
    op.execute("DROP FUNCTION IF EXISTS app_is_host()")
    op.execute("DROP FUNCTION IF EXISTS app_tenant()")
