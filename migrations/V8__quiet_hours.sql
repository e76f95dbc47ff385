-- Quiet hours that defer, never drop (issue 17).
--
--   * users.quiet_hours_start / quiet_hours_end: the member's quiet window
--     as local wall-clock times, written by the HTTP API; both NULL = no
--     quiet hours, one without the other is refused. They are read in
--     users.time_zone (V7; NULL = the event's zone). start > end crosses
--     midnight (22:00-07:00); start = end is no window at all.
--   * a reminder an SMS or push sender would deliver inside the window is
--     held: its log row becomes 'deferred' with deferred_until (the window's
--     end), the exact body it would have sent (deferred_body), and is put
--     back to 'pending' by schedule-events' minute run with released_at set
--     when the body has been re-sent to its channel queue.
-- Everything here is additive: new columns are nullable, and the HTTP API
-- never writes the delivery logs.

ALTER TABLE users
    ADD COLUMN quiet_hours_start time,
    ADD COLUMN quiet_hours_end time,
    ADD CONSTRAINT users_quiet_hours_both_or_neither
        CHECK ((quiet_hours_start IS NULL) = (quiet_hours_end IS NULL));

-- Every value V6 allows, plus 'deferred'. NOT VALID as before: adopted rows
-- keep the earlier system's values.
ALTER TABLE event_reminders_logs
    DROP CONSTRAINT event_reminders_logs_status_check,
    ADD CONSTRAINT event_reminders_logs_status_check
        CHECK (status IN ('pending', 'sent', 'failed', 'skipped', 'delivered', 'bounced', 'complained', 'rejected',
                          'deferred'))
        NOT VALID,
    -- When a deferred row is released (the end of the member's quiet hours).
    ADD COLUMN deferred_until timestamptz,
    -- The delivery body held, sent as it is on release (the same text).
    ADD COLUMN deferred_body text,
    -- When the minute run re-sent the held body; such a row is never held
    -- again and the lateness bound no longer applies to it.
    ADD COLUMN released_at timestamptz,
    ADD CONSTRAINT event_reminders_logs_deferred_check
        CHECK (status <> 'deferred' OR (deferred_until IS NOT NULL AND deferred_body IS NOT NULL))
        NOT VALID;

-- The minute run's release scan: due deferrals only.
CREATE INDEX event_reminders_logs_deferred_idx
    ON event_reminders_logs (deferred_until) WHERE status = 'deferred';
