-- Torium's model on top of the earlier schema (V1). Everything here keeps
-- the HTTP API working unchanged (../shared/torium-contracts.md section 5):
-- every earlier table and column keeps its name and reads back as the same
-- Python type; what changes is additive or relaxes a constraint.
--
--   * ids widen to bigint (psycopg2 reads an int either way);
--   * every timestamp becomes timestamptz; the earlier naive values were
--     UTC and stay the same instants, and the database's TimeZone is UTC so
--     the API's naive UTC values keep landing as UTC;
--   * columns a Cognito sign-up cannot fill are nullable, users.device_arn
--     exists, sign-up keys are unique;
--   * the delivery logs get Torium's delivery columns and idempotency keys.
--     Rows the earlier system wrote (found when a database is adopted) are
--     marked `adopted` and are left out of those keys, so duplicates the
--     earlier Lambdas left behind never stop the migration.
-- No unique key is added to a table the API writes: duplicate memberships
-- stay possible, and Torium reminds each person once anyway.

-- The earlier code used 'sent' for invitations; a database whose enum lacks
-- it gets it in the same place as a fresh install.
ALTER TYPE status_type ADD VALUE IF NOT EXISTS 'sent' BEFORE 'confirmed';

CREATE TYPE delivery_channel AS ENUM ('sms', 'email', 'push');

-- The API writes naive UTC datetimes into timestamptz columns: they must be
-- read as UTC. Needs the database's owner; without it the migration says so
-- and the operator sets it (docs/deploy.md).
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET timezone TO %L', current_database(), 'UTC');
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'could not set the database TimeZone to UTC (%); run ALTER DATABASE % SET timezone TO ''UTC'' as its owner',
        SQLERRM, current_database();
END
$$;

ALTER TABLE organizations
    ALTER COLUMN id TYPE bigint;
ALTER SEQUENCE organizations_id_seq AS bigint;

-- An earlier database may already have device_arn (the API used it); a
-- fresh one does not. Either way it ends up as text, in the same place.
ALTER TABLE users ADD COLUMN IF NOT EXISTS device_arn text;
ALTER TABLE users
    ALTER COLUMN device_arn TYPE text,
    ALTER COLUMN id TYPE bigint,
    ALTER COLUMN username DROP NOT NULL,
    ALTER COLUMN email TYPE varchar(254),
    ALTER COLUMN mobile_number DROP NOT NULL,
    ALTER COLUMN "timestamp" TYPE timestamptz USING "timestamp" AT TIME ZONE 'UTC',
    ALTER COLUMN "timestamp" SET DEFAULT now(),
    ALTER COLUMN is_confirmed SET DEFAULT false,
    ALTER COLUMN organization_id TYPE bigint,
    ADD COLUMN confirmed_at timestamptz,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    -- SNS said the number opted out of SMS (cleared when the number changes).
    ADD COLUMN sms_opted_out boolean NOT NULL DEFAULT false,
    ADD COLUMN sms_opted_out_at timestamptz,
    -- A retried Cognito trigger never makes a second user.
    ADD CONSTRAINT users_cognito_user_id_key UNIQUE (cognito_user_id);
ALTER SEQUENCE users_id_seq AS bigint;
-- One account per address, whatever its case.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

ALTER TABLE "groups"
    ALTER COLUMN id TYPE bigint,
    ALTER COLUMN admin_id TYPE bigint,
    ALTER COLUMN "timestamp" TYPE timestamptz USING "timestamp" AT TIME ZONE 'UTC',
    ALTER COLUMN "timestamp" SET DEFAULT now();
ALTER SEQUENCE groups_id_seq AS bigint;
CREATE INDEX groups_admin_id_idx ON "groups" (admin_id);

ALTER TABLE users_groups
    ALTER COLUMN id TYPE bigint,
    ALTER COLUMN group_id TYPE bigint,
    ALTER COLUMN user_id TYPE bigint,
    ALTER COLUMN "timestamp" TYPE timestamptz USING "timestamp" AT TIME ZONE 'UTC',
    ALTER COLUMN "timestamp" SET DEFAULT now();
ALTER SEQUENCE users_groups_id_seq AS bigint;
CREATE INDEX users_groups_group_id_idx ON users_groups (group_id, user_id);
CREATE INDEX users_groups_user_id_idx ON users_groups (user_id);

ALTER TABLE group_invitation_logs
    ALTER COLUMN id TYPE bigint,
    ALTER COLUMN group_id TYPE bigint,
    ALTER COLUMN user_to TYPE bigint,
    ALTER COLUMN "timestamp" TYPE timestamptz USING "timestamp" AT TIME ZONE 'UTC',
    ALTER COLUMN "timestamp" SET DEFAULT now(),
    ALTER COLUMN updated_timestamp TYPE timestamptz USING updated_timestamp AT TIME ZONE 'UTC',
    -- When send-group-invitation pushed it.
    ADD COLUMN sent_at timestamptz;
ALTER SEQUENCE group_invitation_logs_id_seq AS bigint;
CREATE INDEX group_invitation_logs_user_to_idx ON group_invitation_logs (user_to);
CREATE INDEX group_invitation_logs_group_id_idx ON group_invitation_logs (group_id);

-- budget stays float4: the API reads it as a Python float (a numeric would
-- come back as Decimal and change its JSON); Torium rounds money in Rust.
ALTER TABLE events
    ALTER COLUMN id TYPE bigint,
    ALTER COLUMN group_id TYPE bigint,
    ALTER COLUMN event_timestamp TYPE timestamptz USING event_timestamp AT TIME ZONE 'UTC',
    ALTER COLUMN "timestamp" TYPE timestamptz USING "timestamp" AT TIME ZONE 'UTC',
    ALTER COLUMN "timestamp" SET DEFAULT now(),
    ALTER COLUMN updated_timestamp TYPE timestamptz USING updated_timestamp AT TIME ZONE 'UTC';
ALTER SEQUENCE events_id_seq AS bigint;
CREATE INDEX events_group_id_idx ON events (group_id);

-- No unique key on (event, user): the API may write a membership twice.
ALTER TABLE events_users
    ALTER COLUMN id TYPE bigint,
    ALTER COLUMN event_id TYPE bigint,
    ALTER COLUMN user_id TYPE bigint,
    ALTER COLUMN "timestamp" TYPE timestamptz USING "timestamp" AT TIME ZONE 'UTC',
    ALTER COLUMN "timestamp" SET DEFAULT now();
ALTER SEQUENCE events_users_id_seq AS bigint;
CREATE INDEX events_users_event_id_idx ON events_users (event_id, user_id);
CREATE INDEX events_users_user_id_idx ON events_users (user_id);

-- Written by the Lambdas only: deleting an event deletes its firings.
ALTER TABLE event_reminders
    ALTER COLUMN id TYPE bigint,
    ALTER COLUMN event_id TYPE bigint,
    ALTER COLUMN trigger_timestamp TYPE timestamptz USING trigger_timestamp AT TIME ZONE 'UTC',
    ALTER COLUMN "timestamp" TYPE timestamptz USING "timestamp" AT TIME ZONE 'UTC',
    ALTER COLUMN "timestamp" SET DEFAULT now(),
    DROP CONSTRAINT event_reminders_event_fk,
    ADD CONSTRAINT event_reminders_event_fk FOREIGN KEY (event_id) REFERENCES events (id) ON DELETE CASCADE;
ALTER SEQUENCE event_reminders_id_seq AS bigint;

-- One row per member reminded of one firing. status keeps its earlier type
-- (varchar) and earlier values; rows Torium writes hold one of its states.
ALTER TABLE event_reminders_logs
    ALTER COLUMN id TYPE bigint,
    ALTER COLUMN event_reminders_id TYPE bigint,
    ALTER COLUMN user_id TYPE bigint,
    -- NULL until the provider accepted it.
    ALTER COLUMN sent_timestamp TYPE timestamptz USING sent_timestamp AT TIME ZONE 'UTC',
    ALTER COLUMN sent_timestamp DROP NOT NULL,
    ALTER COLUMN "timestamp" TYPE timestamptz USING "timestamp" AT TIME ZONE 'UTC',
    ALTER COLUMN "timestamp" SET DEFAULT now(),
    ALTER COLUMN status SET DEFAULT 'pending',
    ADD CONSTRAINT event_reminders_logs_status_check
        CHECK (status IN ('pending', 'sent', 'failed', 'skipped')) NOT VALID,
    -- NULL when the member had no usable channel (status 'skipped').
    ADD COLUMN channel delivery_channel,
    ADD COLUMN provider_message_id text,
    ADD COLUMN last_error text,
    ADD COLUMN attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN adopted boolean NOT NULL DEFAULT true,
    DROP CONSTRAINT event_reminders_logs_reminder_fk,
    ADD CONSTRAINT event_reminders_logs_reminder_fk
        FOREIGN KEY (event_reminders_id) REFERENCES event_reminders (id) ON DELETE CASCADE;
ALTER TABLE event_reminders_logs ALTER COLUMN adopted SET DEFAULT false;
ALTER SEQUENCE event_reminders_logs_id_seq AS bigint;
CREATE UNIQUE INDEX event_reminders_logs_reminder_user_key
    ON event_reminders_logs (event_reminders_id, user_id) WHERE NOT adopted;
CREATE INDEX event_reminders_logs_user_id_idx ON event_reminders_logs (user_id);
-- Failed deliveries per channel and kind, for the alerts function.
CREATE INDEX event_reminders_logs_failed_idx ON event_reminders_logs (updated_at) WHERE status = 'failed';

ALTER TABLE events_comments
    ALTER COLUMN id TYPE bigint,
    ALTER COLUMN event_id TYPE bigint,
    ALTER COLUMN user_id TYPE bigint,
    ALTER COLUMN "timestamp" TYPE timestamptz USING "timestamp" AT TIME ZONE 'UTC',
    ALTER COLUMN "timestamp" SET DEFAULT now();
ALTER SEQUENCE events_comments_id_seq AS bigint;
CREATE INDEX events_comments_event_id_idx ON events_comments (event_id);

-- One row per member pushed about one comment. Rows the earlier system
-- wrote were sent (its sent_timestamp was required).
ALTER TABLE events_comments_logs
    ALTER COLUMN id TYPE bigint,
    ALTER COLUMN events_comments_id TYPE bigint,
    ALTER COLUMN user_id TYPE bigint,
    ALTER COLUMN sent_timestamp TYPE timestamptz USING sent_timestamp AT TIME ZONE 'UTC',
    ALTER COLUMN sent_timestamp DROP NOT NULL,
    ALTER COLUMN "timestamp" TYPE timestamptz USING "timestamp" AT TIME ZONE 'UTC',
    ALTER COLUMN "timestamp" SET DEFAULT now(),
    ADD COLUMN channel delivery_channel NOT NULL DEFAULT 'push',
    ADD COLUMN status varchar(50) NOT NULL DEFAULT 'sent'
        CONSTRAINT events_comments_logs_status_check CHECK (status IN ('pending', 'sent', 'failed', 'skipped')),
    ADD COLUMN provider_message_id text,
    ADD COLUMN last_error text,
    ADD COLUMN attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN adopted boolean NOT NULL DEFAULT true,
    DROP CONSTRAINT events_comments_logs_comment_fk,
    ADD CONSTRAINT events_comments_logs_comment_fk
        FOREIGN KEY (events_comments_id) REFERENCES events_comments (id) ON DELETE CASCADE;
ALTER TABLE events_comments_logs
    ALTER COLUMN status SET DEFAULT 'pending',
    ALTER COLUMN adopted SET DEFAULT false;
ALTER SEQUENCE events_comments_logs_id_seq AS bigint;
CREATE UNIQUE INDEX events_comments_logs_comment_user_key
    ON events_comments_logs (events_comments_id, user_id) WHERE NOT adopted;
CREATE INDEX events_comments_logs_user_id_idx ON events_comments_logs (user_id);

ALTER TABLE users_verification
    ALTER COLUMN id TYPE bigint,
    ALTER COLUMN user_id TYPE bigint,
    ALTER COLUMN "timestamp" TYPE timestamptz USING "timestamp" AT TIME ZONE 'UTC',
    ALTER COLUMN "timestamp" SET DEFAULT now();
ALTER SEQUENCE users_verification_id_seq AS bigint;
CREATE INDEX users_verification_user_id_idx ON users_verification (user_id);
