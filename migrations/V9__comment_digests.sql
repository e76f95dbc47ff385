-- Comment digests: the comments posted on one event within a short window
-- (COMMENT_DIGEST_WINDOW_SECONDS) are pushed to each other member as one
-- push. Torium's own tables; the HTTP API never reads them.

-- One digest per burst of comments on an event. It is open (new comments
-- join it) until its flush claims it (flushed_at); then the next comment
-- opens a new one. At most one open digest per event.
CREATE TABLE comment_digests (
    id         bigserial PRIMARY KEY,
    event_id   bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    -- When its first comment was handled.
    opened_at  timestamptz NOT NULL,
    -- opened_at + the window: when its flush is due.
    closes_at  timestamptz NOT NULL,
    -- When the flush claimed it; NULL while it is open.
    flushed_at timestamptz,
    CONSTRAINT comment_digests_window_check CHECK (closes_at >= opened_at)
);
CREATE UNIQUE INDEX comment_digests_open_event_key ON comment_digests (event_id) WHERE flushed_at IS NULL;

-- The comments of a digest. A comment belongs to one digest (its primary
-- key), so a redelivered comment joins nothing twice.
CREATE TABLE comment_digest_comments (
    comment_id bigint PRIMARY KEY REFERENCES events_comments (id) ON DELETE CASCADE,
    digest_id  bigint NOT NULL REFERENCES comment_digests (id) ON DELETE CASCADE,
    joined_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX comment_digest_comments_digest_idx ON comment_digest_comments (digest_id);
