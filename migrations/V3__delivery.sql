-- What the senders need beyond the initial model.

-- SNS said the number opted out of SMS: the app shows it, and reminders to
-- this user are logged failed until the number changes or is opted in.
ALTER TABLE users
    ADD COLUMN sms_opted_out    boolean NOT NULL DEFAULT false,
    ADD COLUMN sms_opted_out_at timestamptz;

-- Failed deliveries per channel and kind, for the alerts function.
CREATE INDEX event_reminders_logs_failed_idx ON event_reminders_logs (updated_at) WHERE status = 'failed';
