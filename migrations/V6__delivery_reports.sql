-- What the providers report after they accepted a delivery (the
-- delivery-events function): SES bounces, complaints, deliveries and
-- rejections, SNS push endpoints disabled, SNS SMS delivery receipts.
--
--   * a delivery log row's status grows past 'sent' ("accepted by the
--     provider") into the reported states; it never goes back (the rank
--     rule lives in torium_domain and in the statement that applies a
--     report);
--   * reported_at says when a report last changed the row;
--   * rows are found by the provider's message id (a partial index: rows
--     never sent have none);
--   * an address that bounced for good or complained is suppressed on the
--     user (Torium's columns; the API never writes them), and a new address
--     clears it.
-- Everything here is additive: the HTTP API's statements keep working.

-- The reminder log keeps its check NOT VALID (adopted rows hold the earlier
-- system's values); the comment log's check stays validated.
ALTER TABLE event_reminders_logs
    DROP CONSTRAINT event_reminders_logs_status_check,
    ADD CONSTRAINT event_reminders_logs_status_check
        CHECK (status IN ('pending', 'sent', 'failed', 'skipped', 'delivered', 'bounced', 'complained', 'rejected'))
        NOT VALID,
    -- NULL until a provider report changed the row.
    ADD COLUMN reported_at timestamptz;

ALTER TABLE events_comments_logs
    DROP CONSTRAINT events_comments_logs_status_check,
    ADD CONSTRAINT events_comments_logs_status_check
        CHECK (status IN ('pending', 'sent', 'failed', 'skipped', 'delivered', 'bounced', 'complained', 'rejected')),
    -- NULL until a provider report changed the row.
    ADD COLUMN reported_at timestamptz;

-- A report names the message id the provider gave at send time.
CREATE INDEX event_reminders_logs_provider_message_id_idx
    ON event_reminders_logs (provider_message_id) WHERE provider_message_id IS NOT NULL;
CREATE INDEX events_comments_logs_provider_message_id_idx
    ON events_comments_logs (provider_message_id) WHERE provider_message_id IS NOT NULL;

ALTER TABLE users
    -- SES said the address bounced for good or its owner complained: no
    -- more email to it. Both NULL: the address is usable.
    ADD COLUMN email_suppressed_at timestamptz,
    ADD COLUMN email_suppression_reason text;

-- A new address (not a change of case) is usable again.
CREATE FUNCTION users_clear_email_suppression() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF lower(NEW.email) IS DISTINCT FROM lower(OLD.email) THEN
        NEW.email_suppressed_at := NULL;
        NEW.email_suppression_reason := NULL;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER users_email_changed
    BEFORE UPDATE OF email ON users
    FOR EACH ROW EXECUTE FUNCTION users_clear_email_suppression();
