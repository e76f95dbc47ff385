//! Comment digests (`comment_digests`, `comment_digest_comments`, V9): the
//! comments posted on one event within a short window, pushed to each other
//! member as one push by the digest's flush.
//!
//! A comment joins its event's open digest, or opens one (at most one open
//! digest per event: a partial unique index); the flush claims the digest
//! (`flushed_at`) so later comments open the next one. Joining is one
//! transaction, claiming one statement: a crash leaves either the comment in
//! its digest or nothing, never half. The pushes and their log rows are the
//! delivery log's (`events_comments_logs`, one row per comment and receiver).

use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio_postgres::{Client, Transaction};
use torium_domain::{CommentId, EventId, UserId};

/// The digest a comment belongs to, as joining it found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestSlot {
    /// `comment_digests.id`.
    pub digest_id: i64,
    /// When the digest's flush is due.
    pub closes_at: DateTime<Utc>,
    /// What joining did.
    pub joined: Joined,
}

/// What joining a digest did for one comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// The comment opened a new digest: its flush is to be sent.
    Opened,
    /// The comment joined an open digest.
    Added,
    /// The comment was already in the digest (a redelivery); `flushed` when
    /// the digest's flush has claimed it since.
    AlreadyIn {
        /// The digest's flush has claimed it.
        flushed: bool,
    },
}

/// One comment of a digest, as its push shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestComment {
    /// `events_comments.id`.
    pub comment_id: CommentId,
    /// Who wrote it.
    pub author_id: UserId,
    /// The author's address, the name the push shows; `None` when the
    /// author's row is gone.
    pub author_email: Option<String>,
    /// The comment's text.
    pub comment: String,
    /// When it was posted.
    pub posted_at: DateTime<Utc>,
}

/// What flushing a digest needs: its event, its comments (oldest first) and
/// every member of the event with a push endpoint (authors included: each
/// is a receiver of the others' comments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestToPush {
    /// The event commented on.
    pub event_id: EventId,
    /// Its name, in the push's title.
    pub event_name: String,
    /// The digest's comments, oldest first.
    pub comments: Vec<DigestComment>,
    /// (member, endpoint ARN), by member id.
    pub receivers: Vec<(UserId, String)>,
}

impl Store {
    /// Puts a comment in its event's open digest, opening one (closing
    /// `window` after `now`) when there is none. `None` when the comment no
    /// longer exists. A redelivered comment is found where it already is.
    pub async fn join_comment_digest(
        &self,
        comment_id: CommentId,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<Option<DigestSlot>, StoreError> {
        self.in_transaction(async |tx| {
            if let Some(slot) = digest_of(tx, comment_id).await? {
                return Ok(Some(slot));
            }
            join_open_digest(tx, comment_id, now, window).await
        })
        .await
    }

    /// Claims a digest for its flush (closed to new comments from now on;
    /// claiming again changes nothing) and reads what pushing it needs.
    /// `None` when the digest is gone (its event was deleted).
    pub async fn claim_comment_digest(
        &self,
        digest_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<DigestToPush>, StoreError> {
        let client = self.pool.get().await?;
        let Some((event_id, event_name)) = claim_digest(&client, digest_id, now).await? else {
            return Ok(None);
        };
        let comments = digest_comments(&client, digest_id).await?;
        let receivers = push_receivers(&client, event_id).await?;
        Ok(Some(DigestToPush { event_id, event_name, comments, receivers }))
    }
}

/// The digest a comment is already in (a redelivery), as joining found it.
async fn digest_of(tx: &Transaction<'_>, comment_id: CommentId) -> Result<Option<DigestSlot>, StoreError> {
    let existing = tx
        .query_opt(
            "SELECT d.id, d.closes_at, d.flushed_at IS NOT NULL AS flushed FROM comment_digest_comments c \
             JOIN comment_digests d ON d.id = c.digest_id WHERE c.comment_id = $1",
            &[&comment_id.0],
        )
        .await?;
    Ok(existing.map(|r| DigestSlot {
        digest_id: r.get("id"),
        closes_at: r.get("closes_at"),
        joined: Joined::AlreadyIn { flushed: r.get("flushed") },
    }))
}

/// Puts the comment into its event's open digest, opening one when there
/// is none; `None` when the comment is gone.
async fn join_open_digest(
    tx: &Transaction<'_>,
    comment_id: CommentId,
    now: DateTime<Utc>,
    window: Duration,
) -> Result<Option<DigestSlot>, StoreError> {
    let window_seconds = window.as_secs_f64();
    // The conflicting open digest is locked by DO UPDATE, so a flush
    // claims it only after this comment is in it (or before: then this
    // opens the next one).
    let Some(digest) = tx
        .query_opt(
            "INSERT INTO comment_digests (event_id, opened_at, closes_at) \
             SELECT c.event_id, $2::timestamptz, $2::timestamptz + make_interval(secs => $3) FROM events_comments c WHERE c.id = $1 \
             ON CONFLICT (event_id) WHERE flushed_at IS NULL DO UPDATE SET event_id = excluded.event_id \
             RETURNING id, closes_at, xmax = 0 AS opened",
            &[&comment_id.0, &now, &window_seconds],
        )
        .await?
    else {
        return Ok(None);
    };
    let digest_id: i64 = digest.get("id");
    tx.execute(
        "INSERT INTO comment_digest_comments (comment_id, digest_id, joined_at) VALUES ($1, $2, $3)",
        &[&comment_id.0, &digest_id, &now],
    )
    .await?;
    let joined = if digest.get("opened") { Joined::Opened } else { Joined::Added };
    Ok(Some(DigestSlot { digest_id, closes_at: digest.get("closes_at"), joined }))
}

/// Closes the digest to new comments (once: a later claim keeps the first
/// time) and names its event; `None` when the digest or its event is gone.
async fn claim_digest(
    client: &Client,
    digest_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<(EventId, String)>, StoreError> {
    let event = client
        .query_opt(
            "WITH claimed AS ( \
                 UPDATE comment_digests SET flushed_at = coalesce(flushed_at, $2) WHERE id = $1 \
                 RETURNING event_id) \
             SELECT e.id, e.name FROM claimed JOIN events e ON e.id = claimed.event_id",
            &[&digest_id, &now],
        )
        .await?;
    Ok(event.map(|r| (EventId(r.get("id")), r.get("name"))))
}

/// The digest's comments, oldest first, with their authors' addresses.
async fn digest_comments(client: &Client, digest_id: i64) -> Result<Vec<DigestComment>, StoreError> {
    let rows = client
        .query(
            "SELECT c.id, c.user_id, u.email, c.comment, c.\"timestamp\" AS posted_at \
             FROM comment_digest_comments dc \
             JOIN events_comments c ON c.id = dc.comment_id \
             LEFT JOIN users u ON u.id = c.user_id \
             WHERE dc.digest_id = $1 ORDER BY c.\"timestamp\", c.id",
            &[&digest_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| DigestComment {
            comment_id: CommentId(r.get("id")),
            author_id: UserId(r.get("user_id")),
            author_email: r.get("email"),
            comment: r.get("comment"),
            posted_at: r.get("posted_at"),
        })
        .collect())
}

/// Every member of the event with a push endpoint, by id.
async fn push_receivers(client: &Client, event_id: EventId) -> Result<Vec<(UserId, String)>, StoreError> {
    let rows = client
        .query(
            "SELECT u.id, u.device_arn FROM users u \
             WHERE u.id IN (SELECT eu.user_id FROM events_users eu WHERE eu.event_id = $1) \
               AND u.device_arn IS NOT NULL AND u.device_arn <> '' \
             ORDER BY u.id",
            &[&event_id.0],
        )
        .await?;
    Ok(rows.iter().map(|r| (UserId(r.get("id")), r.get("device_arn"))).collect())
}
