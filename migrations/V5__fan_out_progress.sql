-- A fan-out reads an event's members in pages (keyset on user id) and
-- records how far it got after each page, so a retry or a continuation
-- resumes after the last finished page instead of starting over.
ALTER TABLE event_reminders
    -- The last member (users.id) whose page was enqueued; NULL before the first.
    ADD COLUMN fanned_out_through bigint,
    -- When the last page was enqueued; NULL while the fan-out is unfinished.
    ADD COLUMN fanned_out_at timestamptz;
