"""Credit ledger, holds, pending captures, notification outbox and Stripe billing.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

Every change to a tenant's credits is one row of ``credit_entry``, written by
the posting functions below while they hold the tenant's ``credit_account``
row lock. The account row carries the current balance and the credits held
for qualifications in progress; CHECK constraints keep both from going below
zero and the held credits from exceeding the balance. Entries are never
updated or deleted: a trigger refuses it for every role, the owner included,
and the application role is granted SELECT and INSERT only.

The posting runs inside PostgreSQL, in one statement per operation, so the
account row lock is held for one round trip and the commit. That is what lets
hundreds of holds and captures per second on one tenant queue up on the lock
instead of on the network.

Amounts: ``amount`` is the change to the balance and ``held_change`` the
change to the held credits; a hold moves only ``held_change``, a capture
moves both. ``balance_after = balance_before + amount`` and
``held_after = held_before + held_change`` are CHECK constraints.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: Tenant-owned tables added here: each gets row-level security on tenant_id.
_TENANT_TABLES = (
    "credit_account",
    "credit_entry",
    "credit_hold",
    "credit_lot",
    "credit_pending",
    "notification_outbox",
    "billing_subscription",
    "webhook_endpoint",
    "webhook_delivery",
)


def upgrade() -> None:
    _plan_and_tenant_billing_columns()
    _ledger_tables()
    _outbox_and_billing_tables()
    _policies()
    _posting_functions()


def _plan_and_tenant_billing_columns() -> None:
    op.execute(
        """
        ALTER TABLE plan
            ADD COLUMN credit_validity_days integer CHECK (credit_validity_days > 0),
            ADD COLUMN stripe_product_id text,
            ADD COLUMN stripe_price_id text UNIQUE
        """
    )
    op.execute("ALTER TABLE tenant ADD COLUMN stripe_customer_id text UNIQUE")

    # Holds and captures name a pre-lead; a stable id lets them do it without
    # carrying the CNPJ into the ledger.
    op.execute("ALTER TABLE prelead ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid()")
    op.execute("CREATE UNIQUE INDEX prelead_id_key ON prelead (id)")


def _ledger_tables() -> None:
    op.execute(
        """
        CREATE TABLE credit_account (
            tenant_id uuid PRIMARY KEY REFERENCES tenant (id),
            balance integer NOT NULL DEFAULT 0 CHECK (balance >= 0),
            held integer NOT NULL DEFAULT 0 CHECK (held >= 0),
            -- Number of the last entry: entries of a tenant are numbered 1, 2, 3...
            -- without gaps, which makes a lost or doubled entry visible.
            last_seq bigint NOT NULL DEFAULT 0,
            updated_at timestamptz NOT NULL DEFAULT now(),
            CHECK (held <= balance)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE credit_entry (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            seq bigint NOT NULL,
            kind text NOT NULL CHECK (kind IN
                ('grant', 'hold', 'capture', 'release', 'reversal', 'adjustment', 'expiry')),
            amount integer NOT NULL,
            held_change integer NOT NULL,
            balance_before integer NOT NULL,
            balance_after integer NOT NULL CHECK (balance_after >= 0),
            held_before integer NOT NULL,
            held_after integer NOT NULL CHECK (held_after >= 0),
            reason text,
            reference_type text,
            reference_id text,
            reverses_entry_id uuid UNIQUE REFERENCES credit_entry (id),
            idempotency_key text NOT NULL,
            actor_type text NOT NULL,
            actor_id text,
            actor_label text,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            UNIQUE (tenant_id, seq),
            UNIQUE (tenant_id, idempotency_key),
            CHECK (balance_after = balance_before + amount),
            CHECK (held_after = held_before + held_change),
            CHECK (held_after <= balance_after),
            CHECK (CASE kind
                WHEN 'grant' THEN amount > 0 AND held_change = 0
                WHEN 'hold' THEN amount = 0 AND held_change > 0
                WHEN 'capture' THEN amount < 0 AND held_change IN (amount, 0)
                WHEN 'release' THEN amount = 0 AND held_change < 0
                WHEN 'reversal' THEN amount <> 0 AND held_change = 0
                    AND reverses_entry_id IS NOT NULL
                WHEN 'adjustment' THEN amount <> 0 AND held_change = 0
                    AND coalesce(btrim(reason), '') <> ''
                WHEN 'expiry' THEN amount < 0 AND held_change = 0
            END),
            CHECK ((kind = 'reversal') = (reverses_entry_id IS NOT NULL))
        )
        """
    )
    op.execute(
        "CREATE INDEX credit_entry_tenant_time_idx ON credit_entry (tenant_id, created_at DESC, seq DESC)"
    )
    op.execute(
        "CREATE INDEX credit_entry_capture_day_idx ON credit_entry (tenant_id, created_at) "
        "WHERE kind = 'capture'"
    )

    # Entries are history. Nobody changes them, not even the owner by mistake.
    op.execute(
        """
        CREATE FUNCTION credit_entry_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'credit entries are append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER credit_entry_no_update BEFORE UPDATE OR DELETE ON credit_entry "
        "FOR EACH ROW EXECUTE FUNCTION credit_entry_immutable()"
    )
    op.execute(
        "CREATE TRIGGER credit_entry_no_truncate BEFORE TRUNCATE ON credit_entry "
        "FOR EACH STATEMENT EXECUTE FUNCTION credit_entry_immutable()"
    )

    op.execute(
        """
        CREATE TABLE credit_hold (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            prelead_id uuid NOT NULL REFERENCES prelead (id),
            job_id uuid,
            amount integer NOT NULL CHECK (amount > 0),
            state text NOT NULL DEFAULT 'open'
                CHECK (state IN ('open', 'captured', 'released')),
            hold_entry_id uuid NOT NULL REFERENCES credit_entry (id),
            settled_entry_id uuid REFERENCES credit_entry (id),
            settle_reason text,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            expires_at timestamptz NOT NULL,
            settled_at timestamptz,
            CHECK ((state = 'open') = (settled_entry_id IS NULL))
        )
        """
    )
    # One open hold per pre-lead: starting a qualification twice holds once.
    op.execute(
        "CREATE UNIQUE INDEX credit_hold_open_key ON credit_hold (tenant_id, prelead_id) "
        "WHERE state = 'open'"
    )
    op.execute(
        "CREATE INDEX credit_hold_expiry_idx ON credit_hold (expires_at) WHERE state = 'open'"
    )
    op.execute(
        "CREATE INDEX credit_hold_job_idx ON credit_hold (tenant_id, job_id) WHERE state = 'open'"
    )

    # Credits that expire: a grant with an expiry date opens a lot; every
    # decrease of the balance takes the credits that expire first.
    op.execute(
        """
        CREATE TABLE credit_lot (
            grant_entry_id uuid PRIMARY KEY REFERENCES credit_entry (id),
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            expires_at timestamptz NOT NULL,
            remaining integer NOT NULL CHECK (remaining >= 0)
        )
        """
    )
    op.execute(
        "CREATE INDEX credit_lot_open_idx ON credit_lot (tenant_id, expires_at) WHERE remaining > 0"
    )
    op.execute("CREATE INDEX credit_lot_expiry_idx ON credit_lot (expires_at) WHERE remaining > 0")

    # A qualified pre-lead whose capture found neither a hold nor an available
    # credit: the lead stays, and the capture happens when credits arrive.
    op.execute(
        """
        CREATE TABLE credit_pending (
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            prelead_id uuid NOT NULL REFERENCES prelead (id),
            lead_reference text,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            settled_entry_id uuid REFERENCES credit_entry (id),
            settled_at timestamptz,
            PRIMARY KEY (tenant_id, prelead_id)
        )
        """
    )
    op.execute(
        "CREATE INDEX credit_pending_open_idx ON credit_pending (tenant_id, created_at) "
        "WHERE settled_entry_id IS NULL"
    )


def _outbox_and_billing_tables() -> None:
    # Alerts are written in the transaction that causes them and sent after
    # the commit; a crash in between leaves the row to be sent by the next sweep.
    op.execute(
        """
        CREATE TABLE notification_outbox (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            kind text NOT NULL,
            payload jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            sent_at timestamptz,
            last_error text
        )
        """
    )
    op.execute(
        "CREATE INDEX notification_outbox_due_idx ON notification_outbox (next_attempt_at) "
        "WHERE sent_at IS NULL"
    )

    op.execute(
        """
        CREATE TABLE billing_subscription (
            id text PRIMARY KEY,
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            customer_id text NOT NULL,
            price_id text,
            plan_id uuid REFERENCES plan (id),
            status text NOT NULL,
            current_period_start timestamptz,
            current_period_end timestamptz,
            cancel_at_period_end boolean NOT NULL DEFAULT false,
            past_due_since timestamptz,
            grace_until timestamptz,
            canceled_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX billing_subscription_tenant_idx ON billing_subscription (tenant_id)")
    op.execute(
        "CREATE INDEX billing_subscription_grace_idx ON billing_subscription (grace_until) "
        "WHERE grace_until IS NOT NULL"
    )

    # A tenant's own receivers of events (credits.low now; leads later), and
    # every delivery attempt with its answer.
    op.execute(
        """
        CREATE TABLE webhook_endpoint (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            url text NOT NULL,
            events text[] NOT NULL CHECK (cardinality(events) > 0),
            secret text NOT NULL,
            description text,
            created_at timestamptz NOT NULL DEFAULT now(),
            disabled_at timestamptz
        )
        """
    )
    op.execute("CREATE INDEX webhook_endpoint_tenant_idx ON webhook_endpoint (tenant_id)")
    op.execute(
        """
        CREATE TABLE webhook_delivery (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL REFERENCES tenant (id),
            endpoint_id uuid NOT NULL REFERENCES webhook_endpoint (id),
            event_id uuid NOT NULL,
            event_type text NOT NULL,
            payload jsonb NOT NULL,
            status text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'delivered', 'failed')),
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            last_status_code integer,
            last_error text,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            delivered_at timestamptz,
            UNIQUE (endpoint_id, event_id)
        )
        """
    )
    op.execute(
        "CREATE INDEX webhook_delivery_due_idx ON webhook_delivery (next_attempt_at) "
        "WHERE status = 'pending'"
    )
    op.execute(
        "CREATE INDEX webhook_delivery_tenant_idx ON webhook_delivery (tenant_id, created_at DESC)"
    )

    # Stripe events are the provider's, not a tenant's: one row per event id
    # makes a second delivery a no-op.
    op.execute(
        """
        CREATE TABLE stripe_event (
            id text PRIMARY KEY,
            type text NOT NULL,
            created timestamptz NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(),
            outcome text NOT NULL
        )
        """
    )


def _policies() -> None:
    for table in _TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_tenant_isolation ON {table} "
            "USING (tenant_id = app_tenant() OR app_is_host())"
        )


def _posting_functions() -> None:
    # Lock the tenant's account row, creating it on first use. A call made
    # outside a tenant transaction (one statement, committed on its own) sets
    # the tenant for that statement; a call inside another tenant's
    # transaction is refused.
    op.execute(
        """
        CREATE FUNCTION credit_lock_account(p_tenant uuid) RETURNS credit_account
        LANGUAGE plpgsql AS $$
        DECLARE
            account credit_account;
        BEGIN
            IF app_tenant() IS NULL THEN
                PERFORM set_config('garimpo.tenant_id', p_tenant::text, true);
            ELSIF app_tenant() <> p_tenant THEN
                RAISE EXCEPTION 'tenant_mismatch';
            END IF;

            SELECT * INTO account FROM credit_account WHERE tenant_id = p_tenant FOR UPDATE;
            IF NOT FOUND THEN
                INSERT INTO credit_account (tenant_id) VALUES (p_tenant) ON CONFLICT DO NOTHING;
                SELECT * INTO account FROM credit_account WHERE tenant_id = p_tenant FOR UPDATE;
            END IF;
            RETURN account;
        END
        $$
        """
    )

    op.execute(
        """
        CREATE FUNCTION credit_threshold(p_tenant uuid) RETURNS integer
        LANGUAGE sql STABLE AS $$
            -- 10 is TenantSettings' default, for tenants whose settings predate the key.
            SELECT coalesce((settings ->> 'low_balance_threshold')::integer, 10)
              FROM tenant WHERE id = p_tenant
        $$
        """
    )

    # Append one entry and move the account with it. The caller holds the lock.
    op.execute(
        """
        CREATE FUNCTION credit_append(
            p_account credit_account, p_kind text, p_amount integer, p_held_change integer,
            p_idempotency_key text, p_reason text, p_reference_type text, p_reference_id text,
            p_reverses uuid, p_actor_type text, p_actor_id text, p_actor_label text
        ) RETURNS credit_entry LANGUAGE plpgsql AS $$
        DECLARE
            entry credit_entry;
            threshold integer;
        BEGIN
            IF p_account.balance + p_amount < 0
                    OR p_account.held + p_held_change > p_account.balance + p_amount THEN
                RAISE EXCEPTION 'insufficient_credits'
                    USING DETAIL = json_build_object(
                        'balance', p_account.balance, 'held', p_account.held,
                        'available', p_account.balance - p_account.held)::text;
            END IF;

            INSERT INTO credit_entry (
                tenant_id, seq, kind, amount, held_change,
                balance_before, balance_after, held_before, held_after,
                reason, reference_type, reference_id, reverses_entry_id, idempotency_key,
                actor_type, actor_id, actor_label
            ) VALUES (
                p_account.tenant_id, p_account.last_seq + 1, p_kind, p_amount, p_held_change,
                p_account.balance, p_account.balance + p_amount,
                p_account.held, p_account.held + p_held_change,
                p_reason, p_reference_type, p_reference_id, p_reverses, p_idempotency_key,
                p_actor_type, p_actor_id, p_actor_label
            ) RETURNING * INTO entry;

            UPDATE credit_account
               SET balance = entry.balance_after, held = entry.held_after,
                   last_seq = entry.seq, updated_at = entry.created_at
             WHERE tenant_id = p_account.tenant_id;

            -- The low-balance alert: queued by the entry whose decrease takes the
            -- available credits from above the tenant's threshold to it or below,
            -- in the same transaction, so it is neither lost nor repeated.
            IF p_amount - p_held_change < 0 THEN
                threshold := credit_threshold(p_account.tenant_id);
                IF p_account.balance - p_account.held > threshold
                        AND entry.balance_after - entry.held_after <= threshold THEN
                    INSERT INTO notification_outbox (tenant_id, kind, payload)
                    VALUES (p_account.tenant_id, 'credits.low', json_build_object(
                        'available', entry.balance_after - entry.held_after,
                        'threshold', threshold, 'entry_id', entry.id));
                END IF;
            END IF;

            -- Every decrease takes the credits that expire first.
            IF p_amount < 0 AND p_kind <> 'expiry' THEN
                PERFORM credit_consume_lots(p_account.tenant_id, -p_amount);
            END IF;
            RETURN entry;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION credit_consume_lots(p_tenant uuid, p_credits integer) RETURNS void
        LANGUAGE plpgsql AS $$
        DECLARE
            lot credit_lot;
            left_to_take integer := p_credits;
            taken integer;
        BEGIN
            FOR lot IN
                SELECT * FROM credit_lot
                 WHERE tenant_id = p_tenant AND remaining > 0
                 ORDER BY expires_at, grant_entry_id
                 FOR UPDATE
            LOOP
                EXIT WHEN left_to_take = 0;
                taken := least(lot.remaining, left_to_take);
                UPDATE credit_lot SET remaining = remaining - taken
                 WHERE grant_entry_id = lot.grant_entry_id;
                left_to_take := left_to_take - taken;
            END LOOP;
        END
        $$
        """
    )

    # The result every posting function returns: the entries it wrote (or
    # found, on a repeated call) and the account around them.
    op.execute(
        """
        CREATE TYPE credit_posting AS (
            entry_id uuid,
            prelead_id uuid,
            hold_id uuid,
            status text,
            available_before integer,
            available_after integer,
            low_balance_threshold integer
        )
        """
    )
    # Captures waiting for credits take them as soon as some are available.
    op.execute(
        """
        CREATE FUNCTION credit_settle_pending(
            p_tenant uuid, p_actor_type text, p_actor_id text, p_actor_label text
        ) RETURNS SETOF credit_posting LANGUAGE plpgsql AS $$
        DECLARE
            account credit_account;
            pending credit_pending;
            entry credit_entry;
        BEGIN
            FOR pending IN
                SELECT * FROM credit_pending
                 WHERE tenant_id = p_tenant AND settled_entry_id IS NULL
                 ORDER BY created_at, prelead_id
                 FOR UPDATE
            LOOP
                SELECT * INTO account FROM credit_account WHERE tenant_id = p_tenant;
                EXIT WHEN account.balance - account.held < 1;
                entry := credit_append(
                    account, 'capture', -1, 0, 'capture:' || pending.prelead_id,
                    'qualified lead charged when credits arrived', 'prelead',
                    pending.prelead_id::text, NULL, p_actor_type, p_actor_id, p_actor_label);
                UPDATE credit_pending SET settled_entry_id = entry.id, settled_at = entry.created_at
                 WHERE tenant_id = p_tenant AND prelead_id = pending.prelead_id;
                RETURN NEXT ROW(entry.id, pending.prelead_id, NULL::uuid, 'pending_captured',
                    account.balance - account.held, entry.balance_after - entry.held_after,
                    NULL::integer)::credit_posting;
            END LOOP;
        END
        $$
        """
    )

    # Grants, adjustments, reversals and expiries: one entry, keyed for replay.
    op.execute(
        """
        CREATE FUNCTION credit_post(
            p_tenant uuid, p_kind text, p_amount integer, p_idempotency_key text,
            p_reason text, p_reference_type text, p_reference_id text, p_reverses uuid,
            p_expires_at timestamptz,
            p_actor_type text, p_actor_id text, p_actor_label text
        ) RETURNS SETOF credit_posting LANGUAGE plpgsql AS $$
        DECLARE
            account credit_account;
            existing credit_entry;
            original credit_entry;
            entry credit_entry;
            amount integer := p_amount;
        BEGIN
            account := credit_lock_account(p_tenant);

            SELECT * INTO existing FROM credit_entry
             WHERE tenant_id = p_tenant AND idempotency_key = p_idempotency_key;
            IF FOUND THEN
                RETURN NEXT ROW(existing.id, NULL::uuid, NULL::uuid, 'replayed',
                    account.balance - account.held, account.balance - account.held,
                    credit_threshold(p_tenant))::credit_posting;
                RETURN;
            END IF;

            IF p_kind = 'reversal' THEN
                SELECT * INTO original FROM credit_entry
                 WHERE id = p_reverses AND tenant_id = p_tenant;
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'entry_not_found';
                END IF;
                IF original.kind NOT IN ('grant', 'capture', 'adjustment', 'expiry') THEN
                    RAISE EXCEPTION 'entry_not_reversible' USING DETAIL = original.kind;
                END IF;
                IF EXISTS (SELECT 1 FROM credit_entry
                            WHERE tenant_id = p_tenant AND reverses_entry_id = original.id) THEN
                    RAISE EXCEPTION 'entry_already_reversed';
                END IF;
                amount := -original.amount;
            END IF;

            entry := credit_append(
                account, p_kind, amount, 0, p_idempotency_key, p_reason,
                p_reference_type, p_reference_id, p_reverses,
                p_actor_type, p_actor_id, p_actor_label);

            IF p_kind = 'grant' AND p_expires_at IS NOT NULL THEN
                INSERT INTO credit_lot (grant_entry_id, tenant_id, expires_at, remaining)
                VALUES (entry.id, p_tenant, p_expires_at, amount);
            END IF;

            RETURN NEXT ROW(entry.id, NULL::uuid, NULL::uuid, 'posted',
                account.balance - account.held, entry.balance_after - entry.held_after,
                credit_threshold(p_tenant))::credit_posting;

            IF amount > 0 THEN
                RETURN QUERY SELECT * FROM credit_settle_pending(
                    p_tenant, p_actor_type, p_actor_id, p_actor_label);
            END IF;
        END
        $$
        """
    )

    # Holds for the pre-leads of a qualification: all of them, or (partial)
    # as many as the available credits cover, in the order given.
    op.execute(
        """
        CREATE FUNCTION credit_hold_many(
            p_tenant uuid, p_preleads uuid[], p_job uuid, p_expires_at timestamptz,
            p_partial boolean, p_actor_type text, p_actor_id text, p_actor_label text
        ) RETURNS SETOF credit_posting LANGUAGE plpgsql AS $$
        DECLARE
            account credit_account;
            available_before integer;
            needed integer;
            prelead uuid;
            hold_id uuid;
            entry credit_entry;
            open_holds uuid[];
        BEGIN
            account := credit_lock_account(p_tenant);
            available_before := account.balance - account.held;

            -- The prelead policy shows this tenant's rows only: an id of another
            -- tenant counts as missing.
            IF (SELECT count(*) FROM prelead WHERE id = ANY (p_preleads))
                    <> (SELECT count(DISTINCT p) FROM unnest(p_preleads) AS p) THEN
                RAISE EXCEPTION 'prelead_not_found';
            END IF;

            SELECT coalesce(array_agg(h.prelead_id), '{}') INTO open_holds
              FROM credit_hold h
             WHERE h.tenant_id = p_tenant AND h.state = 'open' AND h.prelead_id = ANY (p_preleads);

            SELECT count(DISTINCT p) INTO needed
              FROM unnest(p_preleads) AS p WHERE NOT p = ANY (open_holds);

            IF needed > available_before AND NOT p_partial THEN
                RAISE EXCEPTION 'insufficient_credits'
                    USING DETAIL = json_build_object(
                        'balance', account.balance, 'held', account.held,
                        'available', available_before, 'requested', needed)::text;
            END IF;

            FOREACH prelead IN ARRAY p_preleads LOOP
                IF prelead = ANY (open_holds) THEN
                    RETURN NEXT ROW(NULL::uuid, prelead, NULL::uuid, 'already_held',
                        NULL::integer, NULL::integer, NULL::integer)::credit_posting;
                    CONTINUE;
                END IF;
                IF account.balance - account.held < 1 THEN
                    RETURN NEXT ROW(NULL::uuid, prelead, NULL::uuid, 'not_covered',
                        NULL::integer, NULL::integer, NULL::integer)::credit_posting;
                    CONTINUE;
                END IF;

                hold_id := gen_random_uuid();
                entry := credit_append(
                    account, 'hold', 0, 1, 'hold:' || hold_id, 'qualification started',
                    'prelead', prelead::text, NULL, p_actor_type, p_actor_id, p_actor_label);
                INSERT INTO credit_hold (id, tenant_id, prelead_id, job_id, amount,
                                         hold_entry_id, created_at, expires_at)
                VALUES (hold_id, p_tenant, prelead, p_job, 1, entry.id, entry.created_at,
                        p_expires_at);
                open_holds := open_holds || prelead;
                SELECT * INTO account FROM credit_account WHERE tenant_id = p_tenant;
                RETURN NEXT ROW(entry.id, prelead, hold_id, 'held',
                    NULL::integer, NULL::integer, NULL::integer)::credit_posting;
            END LOOP;

            RETURN NEXT ROW(NULL::uuid, NULL::uuid, NULL::uuid, 'summary',
                available_before, account.balance - account.held,
                credit_threshold(p_tenant))::credit_posting;
        END
        $$
        """
    )

    # The charge of a qualified pre-lead: its hold when there is one, else an
    # available credit, else a pending capture. The pre-lead is the key, so a
    # repeated classification charges once.
    op.execute(
        """
        CREATE FUNCTION credit_capture(
            p_tenant uuid, p_prelead uuid, p_lead_reference text,
            p_actor_type text, p_actor_id text, p_actor_label text
        ) RETURNS SETOF credit_posting LANGUAGE plpgsql AS $$
        DECLARE
            account credit_account;
            existing credit_entry;
            hold credit_hold;
            entry credit_entry;
            status text;
        BEGIN
            account := credit_lock_account(p_tenant);

            SELECT * INTO existing FROM credit_entry
             WHERE tenant_id = p_tenant AND idempotency_key = 'capture:' || p_prelead;
            IF FOUND THEN
                RETURN NEXT ROW(existing.id, p_prelead, NULL::uuid, 'already_captured',
                    account.balance - account.held, account.balance - account.held,
                    NULL::integer)::credit_posting;
                RETURN;
            END IF;
            IF EXISTS (SELECT 1 FROM credit_pending
                        WHERE tenant_id = p_tenant AND prelead_id = p_prelead) THEN
                RETURN NEXT ROW(NULL::uuid, p_prelead, NULL::uuid, 'pending_credit',
                    account.balance - account.held, account.balance - account.held,
                    NULL::integer)::credit_posting;
                RETURN;
            END IF;

            IF NOT EXISTS (SELECT 1 FROM prelead WHERE id = p_prelead) THEN
                RAISE EXCEPTION 'prelead_not_found';
            END IF;

            SELECT * INTO hold FROM credit_hold
             WHERE tenant_id = p_tenant AND prelead_id = p_prelead AND state = 'open'
             FOR UPDATE;
            IF FOUND THEN
                entry := credit_append(
                    account, 'capture', -hold.amount, -hold.amount, 'capture:' || p_prelead,
                    'qualified lead', 'prelead', p_prelead::text, NULL,
                    p_actor_type, p_actor_id, p_actor_label);
                UPDATE credit_hold
                   SET state = 'captured', settled_entry_id = entry.id,
                       settle_reason = 'qualified', settled_at = entry.created_at
                 WHERE id = hold.id;
                status := 'captured';
            ELSIF account.balance - account.held >= 1 THEN
                entry := credit_append(
                    account, 'capture', -1, 0, 'capture:' || p_prelead,
                    'qualified lead without a hold', 'prelead', p_prelead::text, NULL,
                    p_actor_type, p_actor_id, p_actor_label);
                status := 'captured_without_hold';
            ELSE
                INSERT INTO credit_pending (tenant_id, prelead_id, lead_reference)
                VALUES (p_tenant, p_prelead, p_lead_reference);
                RETURN NEXT ROW(NULL::uuid, p_prelead, NULL::uuid, 'pending_credit',
                    account.balance - account.held, account.balance - account.held,
                    NULL::integer)::credit_posting;
                RETURN;
            END IF;

            RETURN NEXT ROW(entry.id, p_prelead, hold.id, status,
                account.balance - account.held, entry.balance_after - entry.held_after,
                credit_threshold(p_tenant))::credit_posting;
        END
        $$
        """
    )

    # Release of one open hold, found by id or by pre-lead.
    op.execute(
        """
        CREATE FUNCTION credit_release(
            p_tenant uuid, p_prelead uuid, p_hold uuid, p_reason text,
            p_actor_type text, p_actor_id text, p_actor_label text
        ) RETURNS SETOF credit_posting LANGUAGE plpgsql AS $$
        DECLARE
            account credit_account;
            hold credit_hold;
            entry credit_entry;
        BEGIN
            account := credit_lock_account(p_tenant);

            SELECT * INTO hold FROM credit_hold
             WHERE tenant_id = p_tenant AND state = 'open'
               AND (prelead_id = p_prelead OR id = p_hold)
             FOR UPDATE;
            IF NOT FOUND THEN
                RETURN NEXT ROW(NULL::uuid, p_prelead, p_hold, 'no_open_hold',
                    account.balance - account.held, account.balance - account.held,
                    NULL::integer)::credit_posting;
                RETURN;
            END IF;

            entry := credit_append(
                account, 'release', 0, -hold.amount, 'release:' || hold.id, p_reason,
                'prelead', hold.prelead_id::text, NULL,
                p_actor_type, p_actor_id, p_actor_label);
            UPDATE credit_hold
               SET state = 'released', settled_entry_id = entry.id,
                   settle_reason = p_reason, settled_at = entry.created_at
             WHERE id = hold.id;

            RETURN NEXT ROW(entry.id, hold.prelead_id, hold.id, 'released',
                account.balance - account.held, entry.balance_after - entry.held_after,
                credit_threshold(p_tenant))::credit_posting;
            RETURN QUERY SELECT * FROM credit_settle_pending(
                p_tenant, p_actor_type, p_actor_id, p_actor_label);
        END
        $$
        """
    )

    # Expiry of the credits left in lots past their date. Credits still held
    # stay until their hold ends; the next sweep takes what is then free.
    op.execute(
        """
        CREATE FUNCTION credit_expire_lots(
            p_tenant uuid, p_now timestamptz,
            p_actor_type text, p_actor_id text, p_actor_label text
        ) RETURNS SETOF credit_posting LANGUAGE plpgsql AS $$
        DECLARE
            account credit_account;
            lot credit_lot;
            expiring integer;
            entry credit_entry;
        BEGIN
            account := credit_lock_account(p_tenant);
            FOR lot IN
                SELECT * FROM credit_lot
                 WHERE tenant_id = p_tenant AND remaining > 0 AND expires_at <= p_now
                 ORDER BY expires_at, grant_entry_id
                 FOR UPDATE
            LOOP
                SELECT * INTO account FROM credit_account WHERE tenant_id = p_tenant;
                expiring := least(lot.remaining, account.balance - account.held);
                EXIT WHEN expiring <= 0;
                entry := credit_append(
                    account, 'expiry', -expiring, 0,
                    'expiry:' || lot.grant_entry_id || ':' || lot.remaining,
                    'credits past their expiry date', 'entry', lot.grant_entry_id::text, NULL,
                    p_actor_type, p_actor_id, p_actor_label);
                UPDATE credit_lot SET remaining = remaining - expiring
                 WHERE grant_entry_id = lot.grant_entry_id;
                RETURN NEXT ROW(entry.id, NULL::uuid, NULL::uuid, 'expired',
                    account.balance - account.held, entry.balance_after - entry.held_after,
                    credit_threshold(p_tenant))::credit_posting;
            END LOOP;
        END
        $$
        """
    )


def downgrade() -> None:
    for function in (
        "credit_expire_lots(uuid, timestamptz, text, text, text)",
        "credit_release(uuid, uuid, uuid, text, text, text, text)",
        "credit_capture(uuid, uuid, text, text, text, text)",
        "credit_hold_many(uuid, uuid[], uuid, timestamptz, boolean, text, text, text)",
        "credit_post(uuid, text, integer, text, text, text, text, uuid, timestamptz, text, text, text)",
        "credit_settle_pending(uuid, text, text, text)",
        "credit_threshold(uuid)",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    op.execute("DROP TYPE IF EXISTS credit_posting")
    op.execute("DROP FUNCTION IF EXISTS credit_consume_lots(uuid, integer)")
    op.execute(
        "DROP FUNCTION IF EXISTS credit_append(credit_account, text, integer, integer, text, "
        "text, text, text, uuid, text, text, text)"
    )
    op.execute("DROP FUNCTION IF EXISTS credit_lock_account(uuid)")
    op.execute(
        "DROP TABLE IF EXISTS webhook_delivery, webhook_endpoint, stripe_event, "
        "billing_subscription, notification_outbox, "
        "credit_pending, credit_lot, credit_hold"
    )
    op.execute("DROP TABLE IF EXISTS credit_entry")
    op.execute("DROP FUNCTION IF EXISTS credit_entry_immutable()")
    op.execute("DROP TABLE IF EXISTS credit_account")
    op.execute("DROP INDEX IF EXISTS prelead_id_key")
    op.execute("ALTER TABLE prelead DROP COLUMN IF EXISTS id")
    op.execute("ALTER TABLE tenant DROP COLUMN IF EXISTS stripe_customer_id")
    op.execute(
        "ALTER TABLE plan DROP COLUMN IF EXISTS stripe_price_id, "
        "DROP COLUMN IF EXISTS stripe_product_id, DROP COLUMN IF EXISTS credit_validity_days"
    )
